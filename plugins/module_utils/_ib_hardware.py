# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Mellanox/NVIDIA (PCI vendor 0x15b3) adapters from sysfs, with names and bundle support notes.

Device ids were checked against the Linux kernel's driver tables (``mlx5_core_pci_table`` in
drivers/net/ethernet/mellanox/mlx5/core/main.c and ``mlx4_pci_table`` in
drivers/net/ethernet/mellanox/mlx4/main.c, read through the code index). The kernel's mlx4 table names
0x1007/0x1008 only "MT27520/MT27521 Family"; calling them ConnectX-3 Pro (and VF) follows pci.ids, from
memory.

``dropped_after``: ConnectX-3, ConnectX-3 Pro and Connect-IB are last supported by MLNX_OFED 4.9 LTS and
are absent from MLNX_OFED 5.1 and later (NVIDIA's MLNX_OFED 4.9 LTS documentation lists them; the 5.x
introductions list ConnectX-4 and newer only; domain doc section 6, sources J1/J2).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

MELLANOX_VENDOR = "15b3"
LAST_LTS_FOR_LEGACY = "4.9"

# device id -> (name, is_virtual_function, dropped_after)
DEVICES = {
    "1003": ("ConnectX-3", False, LAST_LTS_FOR_LEGACY),
    "1004": ("ConnectX-3 VF", True, LAST_LTS_FOR_LEGACY),
    "1007": ("ConnectX-3 Pro", False, LAST_LTS_FOR_LEGACY),
    "1008": ("ConnectX-3 Pro VF", True, LAST_LTS_FOR_LEGACY),
    "1011": ("Connect-IB", False, LAST_LTS_FOR_LEGACY),
    "1012": ("Connect-IB VF", True, LAST_LTS_FOR_LEGACY),
    "1013": ("ConnectX-4", False, None),
    "1014": ("ConnectX-4 VF", True, None),
    "1015": ("ConnectX-4 Lx", False, None),
    "1016": ("ConnectX-4 Lx VF", True, None),
    "1017": ("ConnectX-5", False, None),
    "1018": ("ConnectX-5 VF", True, None),
    "1019": ("ConnectX-5 Ex", False, None),
    "101a": ("ConnectX-5 Ex VF", True, None),
    "101b": ("ConnectX-6", False, None),
    "101c": ("ConnectX-6 VF", True, None),
    "101d": ("ConnectX-6 Dx", False, None),
    "101e": ("ConnectX Family mlx5Gen VF", True, None),
    "101f": ("ConnectX-6 Lx", False, None),
    "1021": ("ConnectX-7", False, None),
    "1023": ("ConnectX-8", False, None),
    "1025": ("ConnectX-9", False, None),
    "a2d2": ("BlueField", False, None),
    "a2d3": ("BlueField VF", True, None),
    "a2d6": ("BlueField-2", False, None),
    "a2dc": ("BlueField-3", False, None),
    "a2df": ("BlueField-4", False, None),
}


def _read(path: str) -> Tuple[Optional[str], Optional[str]]:
    """(text, error) of a small sysfs file; a missing file is (None, None)."""
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip(), None
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, "%s: %s" % (path, exc.strerror or exc)


def _hex_id(text: Optional[str]) -> Optional[str]:
    if not text:
        return None
    value = text.strip().lower()
    if value.startswith("0x"):
        value = value[2:]
    return value.zfill(4) if value else None


def firmware_by_slot(sysfs_root: str = "/sys") -> Tuple[Dict[str, Dict[str, str]], List[Dict[str, str]]]:
    """``{pci slot: {ib_device, firmware}}`` from ``/sys/class/infiniband/*/{device,fw_ver}``."""
    result = {}  # type: Dict[str, Dict[str, str]]
    errors = []  # type: List[Dict[str, str]]
    base = os.path.join(sysfs_root, "class", "infiniband")
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return result, errors
    for name in names:
        dev_link = os.path.join(base, name, "device")
        slot = os.path.basename(os.path.realpath(dev_link)) if os.path.exists(dev_link) else None
        fw, err = _read(os.path.join(base, name, "fw_ver"))
        if err:
            errors.append({"code": "FILE_UNREADABLE", "msg": err})
        if slot:
            result[slot] = {"ib_device": name, "firmware": fw}
    return result, errors


def scan(sysfs_root: str = "/sys") -> Tuple[List[Dict[str, Any]], List[Dict[str, str]]]:
    """All PCI functions of vendor 0x15b3 under ``<sysfs_root>/bus/pci/devices``, sorted by slot."""
    devices = []  # type: List[Dict[str, Any]]
    errors = []  # type: List[Dict[str, str]]
    base = os.path.join(sysfs_root, "bus", "pci", "devices")
    try:
        slots = sorted(os.listdir(base))
    except OSError:
        return devices, errors  # no PCI bus visible (container without /sys/bus/pci): not an error
    firmware, fw_errors = firmware_by_slot(sysfs_root)
    errors.extend(fw_errors)
    for slot in slots:
        path = os.path.join(base, slot)
        vendor_text, err = _read(os.path.join(path, "vendor"))
        if err:
            errors.append({"code": "FILE_UNREADABLE", "msg": err})
            continue
        if _hex_id(vendor_text) != MELLANOX_VENDOR:
            continue
        device_text, err = _read(os.path.join(path, "device"))
        if err:
            errors.append({"code": "FILE_UNREADABLE", "msg": err})
        device = _hex_id(device_text)
        class_text, _err = _read(os.path.join(path, "class"))
        driver_link = os.path.join(path, "driver")
        driver = os.path.basename(os.readlink(driver_link)) if os.path.islink(driver_link) else None
        name, is_vf, dropped = DEVICES.get(device or "", (None, None, None))
        fw = firmware.get(slot, {})
        devices.append({
            "slot": slot,
            "vendor": MELLANOX_VENDOR,
            "device": device,
            "class": _hex_id(class_text),
            "name": name,
            "virtual_function": is_vf,
            "driver": driver,
            "ib_device": fw.get("ib_device"),
            "firmware": fw.get("firmware"),
            "dropped_after": dropped,
        })
    return devices, errors


def legacy_devices(devices: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Devices that MLNX_OFED 5.1+ (and DOCA-OFED) no longer drive."""
    return [d for d in devices if d.get("dropped_after")]
