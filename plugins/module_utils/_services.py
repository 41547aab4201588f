# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""RDMA-related services: systemd unit state (``systemctl show``) and SysV init scripts.

``openibd`` (OFED and MLNX_OFED), ``opensmd`` (OFED/MLNX opensm init script), ``opensm`` (distro opensm),
and the rdma-core units that auto-load the distro RDMA stack (domain doc section 5).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

# fact key -> (systemd unit, SysV script name or None)
SERVICES = (
    ("openibd", "openibd.service", "openibd"),
    ("opensmd", "opensmd.service", "opensmd"),
    ("opensm", "opensm.service", "opensm"),
    ("rdma-load-modules@rdma", "rdma-load-modules@rdma.service", None),
    ("rdma-load-modules@infiniband", "rdma-load-modules@infiniband.service", None),
    ("rdma-hw.target", "rdma-hw.target", None),
    ("rdma-ndd", "rdma-ndd.service", None),
    ("rdma", "rdma.service", "rdma"),
    ("ibacm", "ibacm.service", "ibacm"),
    ("srp_daemon", "srp_daemon.service", "srpd"),
)
SHOW_PROPERTIES = ("Id", "LoadState", "ActiveState", "UnitFileState")


def systemctl_argv(units: Sequence[str]) -> List[str]:
    return ["systemctl", "show", "--no-pager", "-p", ",".join(SHOW_PROPERTIES)] + list(units)


def parse_systemctl_show(text: str) -> List[Dict[str, str]]:
    """``systemctl show -p A,B u1 u2`` prints one ``key=value`` block per unit, blocks split by blank lines."""
    blocks = []  # type: List[Dict[str, str]]
    current = {}  # type: Dict[str, str]
    for line in (text or "").splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            current[key.strip()] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def systemd_booted(root: str = "/") -> bool:
    """``sd_booted()``: systemd is the running init when ``/run/systemd/system`` exists."""
    return os.path.isdir(os.path.join(root, "run", "systemd", "system"))


def build_services(show_blocks: Optional[List[Dict[str, str]]], root: str = "/") -> Dict[str, Dict[str, Any]]:
    """Per service: systemd unit state (when ``show_blocks`` is given) and the SysV script."""
    by_id = {}  # type: Dict[str, Dict[str, str]]
    for block in show_blocks or []:
        if block.get("Id"):
            by_id[block["Id"]] = block
    result = {}  # type: Dict[str, Dict[str, Any]]
    for key, unit, script in SERVICES:
        block = by_id.get(unit, {})
        load_state = block.get("LoadState") or None
        unit_present = load_state not in (None, "not-found")
        initd = os.path.join(root, "etc", "init.d", script) if script else None
        initd_present = bool(initd and os.path.isfile(initd))
        kinds = [k for k, v in (("systemd", unit_present), ("sysv", initd_present)) if v]
        active_state = block.get("ActiveState") or None
        result[key] = {
            "unit": unit,
            "present": unit_present or initd_present,
            "kind": "+".join(kinds) if kinds else None,
            "load_state": load_state,
            "active_state": active_state,
            "unit_file_state": block.get("UnitFileState") or None,
            "active": (active_state in ("active", "activating", "reloading")) if active_state else None,
            "initd": initd if initd_present else None,
        }
    return result
