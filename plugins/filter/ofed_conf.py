# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Filters behind ``roles/ofed_install/templates/ofed.conf.j2`` (thin wrappers over ``_ofed_conf``).

* ``ofed_conf_package_set(base_text, flavor, release, add=[], remove=[], base_source=None, extra_known_keys=[],
  manual=false)``: the ordered package set (``{packages: [[key, value], ...], source, warnings, forced}``); an unknown key, a bad
  value or a change that would break the SCST build fails the task with the reason.
* ``ofed_conf_lines(package_set)``: the ``key=value`` lines, in order.
* ``ofed_conf_parse(text)``: a conf file's ``key=value`` pairs, in file order (e.g. to read the bundle's keys).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.iser.ofed.plugins.module_utils import _ofed_conf


def ofed_conf_package_set(base_text: Optional[str], flavor: str, release: str, add: Sequence[Any] = (),
                          remove: Sequence[Any] = (), base_source: Optional[str] = None,
                          extra_known_keys: Sequence[str] = (), manual: bool = False) -> Dict[str, Any]:
    try:
        return _ofed_conf.package_set(flavor, str(release), base_text=base_text, base_source=base_source,
                                      add=list(add or ()), remove=list(remove or ()),
                                      extra_known_keys=list(extra_known_keys or ()),
                                      manual=boolean(manual, strict=False))
    except _ofed_conf.OfedConfError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def ofed_conf_lines(package_set: Dict[str, Any]) -> List[str]:
    try:
        return ["%s=%s" % (key, value) for key, value in package_set["packages"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("ofed_conf_lines expects the result of ofed_conf_package_set: %s" % exc) from exc


def ofed_conf_parse(text: Optional[str], where: str = "ofed.conf") -> List[List[str]]:
    try:
        return [[k, v] for k, v in _ofed_conf.parse_conf(text, where).items()]
    except _ofed_conf.OfedConfError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    """iser.ofed ofed.conf filters."""

    def filters(self):
        return {
            "ofed_conf_package_set": ofed_conf_package_set,
            "ofed_conf_lines": ofed_conf_lines,
            "ofed_conf_parse": ofed_conf_parse,
        }
