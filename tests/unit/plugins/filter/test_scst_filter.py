# SPDX-License-Identifier: GPL-3.0-or-later
"""The iscsi_scst role's DKMS filters (thin wrappers over _scst_pkg) on dkms 3.0.10's real status output."""
from __future__ import annotations

from ansible_collections.iser.ofed.plugins.filter.scst import FilterModule

F = FilterModule().filters()
# dkms status -m scst -v 3.8.0 -k 6.1.0-57-amd64 (captured, Debian 12 container, after dpkg -i scst-dkms)
STATUS = "scst/3.8.0, 6.1.0-57-amd64, x86_64: installed\n"


def test_dkms_version_and_state():
    assert F["scst_dkms_version"]("3.8.0-1", "dpkg") == "3.8.0"
    assert F["scst_dkms_version"]("3.8.0-1.el9", "rpm") == "3.8.0-1.el9"
    assert F["scst_dkms_state"](STATUS, "scst", "3.8.0", "6.1.0-57-amd64") == "installed"
    assert F["scst_dkms_state"](STATUS, "scst", "3.8.0", "6.1.0-99-amd64") == "absent"
    assert F["scst_dkms_state"]("", "scst", "3.8.0", "6.1.0-57-amd64") == "absent"
    assert F["scst_dkms_state"](None, "scst", "3.8.0", "6.1.0-57-amd64") == "absent"
