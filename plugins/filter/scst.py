# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Filters behind the ``iser.ofed.iscsi_scst`` role's DKMS install method.

Thin wrappers over ``plugins/module_utils/_scst_pkg.py`` (pure), where the logic and its tests live:

* ``scst_dkms_version(package_version, manager)``: the DKMS module version SCST's DKMS package registers
  (Debian ``scst-dkms``: the package version less its revision; ``scst-dkms.spec``: version-release).
* ``scst_dkms_state(dkms_status_stdout, module, version, kernel)``: ``installed``, ``built``, ``added`` or
  ``absent`` for that kernel, from ``dkms status`` output.
"""
from __future__ import annotations

from ansible_collections.iser.ofed.plugins.module_utils import _scst_pkg


def scst_dkms_version(package_version: str, manager: str = "dpkg") -> str:
    return _scst_pkg.dkms_version(str(manager), str(package_version))


def scst_dkms_state(stdout: str, module: str, version: str, kernel: str) -> str:
    return _scst_pkg.dkms_state(_scst_pkg.parse_dkms_status(str(stdout or "")), str(module), str(version), str(kernel))


class FilterModule:
    """iser.ofed SCST filters."""

    def filters(self):
        return {
            "scst_dkms_version": scst_dkms_version,
            "scst_dkms_state": scst_dkms_state,
        }
