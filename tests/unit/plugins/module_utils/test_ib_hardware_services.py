# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests for _ib_hardware and _services on constructed sysfs / root trees (no real hardware is captured)."""
from __future__ import annotations

import os

from ansible_collections.iser.ofed.plugins.module_utils import _ib_hardware as hw
from ansible_collections.iser.ofed.plugins.module_utils import _services as svc


def _pci(root, slot, vendor, device, cls="0x020000", driver=None):
    path = root / "sys" / "bus" / "pci" / "devices" / slot
    path.mkdir(parents=True)
    (path / "vendor").write_text(vendor + "\n")
    (path / "device").write_text(device + "\n")
    (path / "class").write_text(cls + "\n")
    if driver:
        drv = root / "sys" / "bus" / "pci" / "drivers" / driver
        drv.mkdir(parents=True, exist_ok=True)
        os.symlink(str(drv), str(path / "driver"))
    return path


def _ib(root, name, slot, fw):
    path = root / "sys" / "class" / "infiniband" / name
    path.mkdir(parents=True)
    os.symlink(str(root / "sys" / "bus" / "pci" / "devices" / slot), str(path / "device"))
    (path / "fw_ver").write_text(fw + "\n")


def test_scan_constructed_tree(tmp_path):
    # constructed: a ConnectX-5 with mlx5_core + firmware, a ConnectX-3 (dropped after 4.9 LTS),
    # an unknown Mellanox id, and an Intel NIC that must be ignored
    _pci(tmp_path, "0000:03:00.0", "0x15b3", "0x1017", driver="mlx5_core")
    _pci(tmp_path, "0000:04:00.0", "0x15b3", "0x1003", driver="mlx4_core")
    _pci(tmp_path, "0000:05:00.0", "0x15b3", "0xcafe")
    _pci(tmp_path, "0000:00:19.0", "0x8086", "0x1502", driver="e1000e")
    _ib(tmp_path, "mlx5_0", "0000:03:00.0", "16.28.1002")
    devices, errors = hw.scan(str(tmp_path / "sys"))
    assert errors == []
    assert [(d["slot"], d["device"], d["name"], d["driver"], d["firmware"], d["dropped_after"]) for d in devices] == [
        ("0000:03:00.0", "1017", "ConnectX-5", "mlx5_core", "16.28.1002", None),
        ("0000:04:00.0", "1003", "ConnectX-3", "mlx4_core", None, "4.9"),
        ("0000:05:00.0", "cafe", None, None, None, None),
    ]
    assert devices[0]["ib_device"] == "mlx5_0" and devices[0]["class"] == "020000"
    assert [d["slot"] for d in hw.legacy_devices(devices)] == ["0000:04:00.0"]


def test_scan_without_pci_bus_is_quiet(tmp_path):
    assert hw.scan(str(tmp_path / "nothing")) == ([], [])


def test_scan_unreadable_vendor_is_reported(tmp_path):
    path = _pci(tmp_path, "0000:03:00.0", "0x15b3", "0x1017")
    (path / "vendor").unlink()
    (path / "vendor").mkdir()  # reading a directory fails like an unreadable file
    devices, errors = hw.scan(str(tmp_path / "sys"))
    assert devices == []
    assert errors[0]["code"] == "FILE_UNREADABLE" and "vendor" in errors[0]["msg"]


def test_device_table_ids_are_lowercase_hex():
    for dev_id, (name, is_vf, _dropped) in hw.DEVICES.items():
        assert len(dev_id) == 4 and int(dev_id, 16) >= 0 and dev_id == dev_id.lower()
        assert name.endswith("VF") == is_vf
    assert {hw.DEVICES[i][0] for i in ("1011", "1003", "1007")} == {"Connect-IB", "ConnectX-3", "ConnectX-3 Pro"}


# constructed: the key=value blocks systemctl show prints for several units
SHOW = """Id=openibd.service
LoadState=loaded
ActiveState=active
UnitFileState=enabled

Id=opensmd.service
LoadState=not-found
ActiveState=inactive
UnitFileState=

Id=rdma-load-modules@rdma.service
LoadState=loaded
ActiveState=inactive
UnitFileState=static

Id=rdma-hw.target
LoadState=loaded
ActiveState=active
UnitFileState=static
"""


def test_services_systemd_and_sysv(tmp_path):
    initd = tmp_path / "etc" / "init.d"
    initd.mkdir(parents=True)
    (initd / "openibd").write_text("#!/bin/sh\n")
    (initd / "opensmd").write_text("#!/bin/sh\n")
    blocks = svc.parse_systemctl_show(SHOW)
    assert len(blocks) == 4 and blocks[1]["UnitFileState"] == ""
    result = svc.build_services(blocks, root=str(tmp_path))
    assert result["openibd"]["kind"] == "systemd+sysv" and result["openibd"]["active"] is True
    assert result["opensmd"] == {"unit": "opensmd.service", "present": True, "kind": "sysv",
                                 "load_state": "not-found", "active_state": "inactive",
                                 "unit_file_state": None, "active": False,
                                 "initd": str(initd / "opensmd")}
    assert result["rdma-load-modules@rdma"]["kind"] == "systemd"
    assert result["rdma-load-modules@rdma"]["unit_file_state"] == "static"
    assert result["rdma-hw.target"]["active"] is True
    assert result["ibacm"]["present"] is False and result["ibacm"]["active"] is None
    assert set(result) == {key for key, _u, _s in svc.SERVICES}


def test_services_without_systemd(tmp_path):
    assert not svc.systemd_booted(str(tmp_path))
    (tmp_path / "run" / "systemd" / "system").mkdir(parents=True)
    assert svc.systemd_booted(str(tmp_path))
    result = svc.build_services(None, root=str(tmp_path))
    assert all(not v["present"] and v["load_state"] is None for v in result.values())
    argv = svc.systemctl_argv(["openibd.service"])
    assert argv == ["systemctl", "show", "--no-pager", "-p", "Id,LoadState,ActiveState,UnitFileState",
                    "openibd.service"]
