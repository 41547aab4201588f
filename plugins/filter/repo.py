# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Filters behind repository mode (``iser_ofed_source: repository``) of ``iser.ofed.validate`` and
``iser.ofed.ofed_install``: thin wrappers over ``plugins/module_utils/_repo.py`` (pure, unit-tested there).

* ``repo_apt_sources(url, signed_by, suite, components)``, ``repo_apt_preferences(pin, priority)``,
  ``repo_dnf_repo(repo_id, url, gpgkey, priority)``: the file contents the roles write with
  ``ansible.builtin.copy`` (check mode and diff come with it).
* ``repo_apt_options(tmpdir, host_sources)``: apt ``-o`` options for a throw-away apt state.
* ``repo_apt_simulate(result)``, ``repo_dnf_simulate(result)``: a registered ``apt-get -s install`` /
  ``dnf --assumeno install`` result → ``{ok, install, remove, errors, problems}``.
* ``repo_apt_update_errors(stderr)``, ``repo_dkms_status(stdout)``, ``repo_dkms_verdict(rows, kernel)``,
  ``repo_scripts_release(version)``, ``repo_package_plan(packages, family)``, ``repo_kernel_hook()``.
* ``repo_apt_madison(stdout)``, ``repo_restore_plan(replaced, dpkg_rows, offers)``: what rollback can put back
  of the packages a repository install replaced.
"""
from __future__ import annotations

from typing import Any, Dict, List

from ansible.errors import AnsibleFilterError

from ansible_collections.iser.ofed.plugins.module_utils import _repo


def _wrap(func):
    def inner(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _repo.RepoError as exc:
            raise AnsibleFilterError(str(exc))
    inner.__name__ = func.__name__
    return inner


def _simulate(parser, result: Any) -> Dict[str, Any]:
    result = result if isinstance(result, dict) else {}
    return parser(str(result.get("stdout") or ""), str(result.get("stderr") or ""), int(result.get("rc", 1)))


def repo_apt_simulate(result: Any) -> Dict[str, Any]:
    return _simulate(_repo.parse_apt_simulate, result)


def repo_dnf_simulate(result: Any) -> Dict[str, Any]:
    return _simulate(_repo.parse_dnf_assumeno, result)


def repo_dkms_verdict(rows: List[Dict[str, Any]], kernel: str, module: str = _repo.DKMS_MODULE) -> Dict[str, Any]:
    return _repo.dkms_verdict(list(rows or []), module, str(kernel))


class FilterModule:
    """iser.ofed repository-mode filters."""

    def filters(self):
        return {
            "repo_apt_sources": _wrap(_repo.apt_sources),
            "repo_apt_preferences": _wrap(_repo.apt_preferences),
            "repo_dnf_repo": _wrap(_repo.dnf_repo),
            "repo_apt_options": _repo.apt_isolated_options,
            "repo_apt_simulate": repo_apt_simulate,
            "repo_dnf_simulate": repo_dnf_simulate,
            "repo_apt_update_errors": _repo.apt_update_errors,
            "repo_dkms_status": _repo.parse_dkms_status,
            "repo_dkms_verdict": repo_dkms_verdict,
            "repo_scripts_release": _repo.ofed_release_of_scripts,
            "repo_package_plan": _wrap(_repo.package_plan),
            "repo_dpkg_rows": _repo.parse_dpkg_rows,
            "repo_packages_to_install": _repo.packages_to_install,
            "repo_kernel_hook": lambda _ignored=None: _repo.kernel_hook(),
            "repo_apt_madison": _repo.parse_apt_madison,
            "repo_restore_plan": _repo.restore_plan,
        }
