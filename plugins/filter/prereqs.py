# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Filters behind the ``iser.ofed.build_prereqs`` and ``iser.ofed.validate`` roles.

Thin wrappers over ``plugins/module_utils/_prereqs.py`` (pure), where the logic and its tests live:

* ``distro_family(distribution)``: ``debian``, ``redhat``, ``suse`` or ``""``.
* ``headers_candidates(kernel, family)``: header/devel package names for the target kernel, in order.
* ``build_packages(family, flavor, dkms)``: toolchain plus what the installer needs.
* ``apt_policy(stdout)``: ``apt-cache policy`` output as ``{name: {installed, candidate}}``.
* ``rpm_lookup(names, installed_results, available_results)``: the same from per-name command results.
* ``pick_headers(candidates, lookup)``: the first installed or installable candidate, and the names tried.
* ``df_rows(stdout)``, ``space_shortfalls(df_rows, dirs, need_mb)``: free space of the unpack and tmp dirs.
"""
from __future__ import annotations

from typing import Any, Dict, List

from ansible.errors import AnsibleFilterError

from ansible_collections.iser.ofed.plugins.module_utils import _prereqs


def _rc_by_item(results: Any, need_output: bool = False) -> Dict[str, int]:
    """``register`` of a loop (``results`` list with ``item`` and ``rc``) → ``{item: rc}``.

    ``need_output``: a query that exits 0 with empty stdout (``dnf repoquery`` finding nothing) counts as 1.
    """
    out: Dict[str, int] = {}
    for row in results or []:
        if isinstance(row, dict) and "item" in row and not row.get("skipped"):
            rc = int(row.get("rc", 1))
            if need_output and rc == 0 and not str(row.get("stdout") or "").strip():
                rc = 1
            out[str(row["item"])] = rc
    return out


def rpm_lookup(names: List[str], installed_results: Any, available_results: Any) -> Dict[str, Dict[str, Any]]:
    return _prereqs.parse_rpm_query(list(names or []), _rc_by_item(installed_results),
                                    _rc_by_item(available_results, need_output=True))


def headers_candidates(kernel: str, family: str) -> List[str]:
    return _prereqs.headers_candidates(family, kernel)


def space_shortfalls(df_rows: List[Dict[str, Any]], dirs: List[str], need_mb: int) -> List[Dict[str, Any]]:
    try:
        return _prereqs.space_shortfalls(list(dirs), list(df_rows), int(need_mb))
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule:
    """iser.ofed prerequisite filters."""

    def filters(self):
        return {
            "distro_family": _prereqs.family,
            "headers_candidates": headers_candidates,
            "build_packages": _prereqs.build_packages,
            "apt_policy": _prereqs.parse_apt_policy,
            "rpm_lookup": rpm_lookup,
            "pick_headers": _prereqs.pick_headers,
            "df_rows": _prereqs.parse_df,
            "space_shortfalls": space_shortfalls,
        }
