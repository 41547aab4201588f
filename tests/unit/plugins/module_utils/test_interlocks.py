# SPDX-License-Identifier: GPL-3.0-or-later
"""Interlocks (``_interlocks``): every check on constructed sysfs/proc trees (tmp_path) and REAL ``ip -j``
and ``/proc/net`` captures from the build machine (tests/unit/fixtures/captured/build-host-net)."""
from __future__ import annotations

import os

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _interlocks as il

from conftest import read_fixture

NET = "captured/build-host-net"
IB_PLAN = ["ib_isert", "ib_iser", "ib_srp", "rpcrdma", "rdma_ucm", "ib_ipoib", "mlx5_ib", "rdma_cm",
           "ib_uverbs", "ib_core", "mlx5_core", "mlx4_core", "mlxfw"]


def make_nic(root, ifname, driver=None, module=None, bus="pci", ifb_type="1", lowers=(), module_link=True):
    """Constructed sysfs: /sys/class/net/<if> with device/driver -> /sys/bus/<bus>/drivers/<driver>[/module]."""
    net = root / "sys" / "class" / "net" / ifname
    net.mkdir(parents=True)
    (net / "type").write_text(ifb_type + "\n")
    if driver:
        drv = root / "sys" / "bus" / bus / "drivers" / driver
        drv.mkdir(parents=True, exist_ok=True)
        if module:
            (root / "sys" / "module" / module).mkdir(parents=True, exist_ok=True)
            if module_link and not (drv / "module").exists():
                os.symlink("../../../../module/%s" % module, str(drv / "module"))
        dev = root / "sys" / "devices" / "pci0000:00" / ("0000:00:%02x.0" % (len(ifname) + ord(ifname[-1]) % 32))
        dev.mkdir(parents=True, exist_ok=True)
        if not (dev / "driver").exists():
            os.symlink(os.path.relpath(str(drv), str(dev)), str(dev / "driver"))
        os.symlink(os.path.relpath(str(dev), str(net)), str(net / "device"))
    for lower in lowers:
        os.symlink("../%s" % lower, str(net / ("lower_" + lower)))
    return net


# --- routes and addresses (real captures) -------------------------------------------------------------------

def test_default_route_from_real_ip_json():
    assert il.default_route_devs_from_ip_json(read_fixture(NET, "ip_-j_route_show_default.json")) == ["eth0"]
    assert il.default_route_devs_from_ip_json(read_fixture(NET, "ip_-j_-6_route_show_default.json")) == ["eth0"]
    assert il.default_route_devs_from_ip_json("") is None
    assert il.default_route_devs_from_ip_json("Error: garbage") is None
    # constructed: ECMP default route
    ecmp = '[{"dst":"default","flags":[],"nexthops":[{"gateway":"10.0.0.1","dev":"bond0"},{"dev":"ib0"}]}]'
    assert il.default_route_devs_from_ip_json(ecmp) == ["bond0", "ib0"]


def test_default_route_from_real_proc_net():
    devs = il.default_route_devs_from_proc(
        read_fixture(NET, "proc_net_route.txt"), read_fixture(NET, "proc_net_ipv6_route.txt"))
    assert devs == ["eth0"]
    assert il.default_route_devs_from_proc(None, None) == []
    assert il.default_route_devs_from_proc("garbage\nline", "x") == []


def test_interfaces_for_address_real_ip_addr():
    text = read_fixture(NET, "ip_-j_addr.json")
    assert il.interfaces_for_address(text, "192.0.2.2") == ["eth0"]
    assert il.interfaces_for_address(text, "fd00::2") == ["eth0"]
    assert il.interfaces_for_address(text, "198.51.100.7") == []
    assert il.interfaces_for_address("not json", "192.0.2.2") is None


def test_ssh_connection_and_sockets():
    assert il.ssh_local_address({"SSH_CONNECTION": "10.0.2.2 50412 10.0.2.15 22"}) == "10.0.2.15"
    assert il.ssh_local_address({}) is None
    assert il.ssh_local_address({"SSH_CONNECTION": "garbage"}) is None
    # the real capture has only a LISTEN socket: no established SSH connection
    assert il.ssh_socket_addresses([read_fixture(NET, "proc_net_tcp.txt")]) == []
    # constructed: ESTABLISHED (01) on local port 22 (0016), v4 and v4-mapped v6
    tcp = ("  sl  local_address rem_address   st\n"
           "   0: 0F02000A:0016 0202000A:C4EC 01 00000000:00000000 00:00000000 00000000 0 0 1 1\n"
           "   1: 0F02000A:1F90 0202000A:C4ED 01 00000000:00000000 00:00000000 00000000 0 0 1 1\n")
    tcp6 = ("  sl  local_address rem_address   st\n"
            "   0: 0000000000000000FFFF00000201A8C0:0016 0000000000000000FFFF00000101A8C0:D431 01 0 0 0 0\n")
    assert il.ssh_socket_addresses([tcp, tcp6, None]) == ["10.0.2.15", "192.168.1.2"]


# --- NIC interlock on constructed sysfs --------------------------------------------------------------------

def test_nic_default_route_on_mlx5_refuses(tmp_path):
    make_nic(tmp_path, "ens1f0np0", "mlx5_core", "mlx5_core")
    found = il.check_nics(str(tmp_path), IB_PLAN, ["ens1f0np0"], {})
    assert [f["code"] for f in found] == ["NIC_DEFAULT_ROUTE"]
    assert "mlx5_core" in found[0]["msg"] and "ens1f0np0" in found[0]["msg"]


def test_nic_virtio_default_route_is_fine(tmp_path):
    make_nic(tmp_path, "eth0", "virtio_net", "virtio_net", bus="virtio")
    assert il.check_nics(str(tmp_path), IB_PLAN, ["eth0"], {"10.0.2.15": ["eth0"]}) == []


def test_nic_builtin_driver(tmp_path):
    make_nic(tmp_path, "eth0", "virtio_net", None, bus="virtio")
    mods, evidence = il.interface_modules(str(tmp_path), "eth0")
    assert mods == [] and "built into the kernel" in evidence[0]


def test_nic_module_found_through_bus_driver_dir(tmp_path):
    # device/driver/module missing: fall back to /sys/bus/*/drivers/<drv>/module
    make_nic(tmp_path, "ens2", "mlx4_core", "mlx4_core")
    assert il.interface_modules(str(tmp_path), "ens2")[0] == ["mlx4_core"]


def test_nic_bond_over_mlx_and_mgmt_connection(tmp_path):
    make_nic(tmp_path, "ens1f0np0", "mlx5_core", "mlx5_core")
    make_nic(tmp_path, "ens1f1np1", "mlx5_core", "mlx5_core")
    make_nic(tmp_path, "bond0", lowers=("ens1f0np0", "ens1f1np1"))
    found = il.check_nics(str(tmp_path), IB_PLAN, [], {"10.1.0.5": ["bond0"]})
    assert [f["code"] for f in found] == ["NIC_MGMT_CONNECTION"]
    assert "10.1.0.5" in found[0]["msg"] and "bond0" in found[0]["msg"]
    # not in the plan: no finding
    assert il.check_nics(str(tmp_path), ["ib_isert", "rdma_cm"], ["bond0"], {"10.1.0.5": ["bond0"]}) == []


def test_nic_ipoib_interface(tmp_path):
    make_nic(tmp_path, "ib0", "mlx5_core", "mlx5_core", ifb_type="32")
    mods, _evidence = il.interface_modules(str(tmp_path), "ib0")
    assert mods == ["ib_ipoib", "mlx5_core"]
    found = il.check_nics(str(tmp_path), ["ib_ipoib"], ["ib0"], {})
    assert found and "ib_ipoib" in found[0]["msg"]


# --- iSER / SRP ---------------------------------------------------------------------------------------------

def make_session(root, n, host, proc_name, target="iqn.2024-01.example:disk1"):
    host_dev = root / "sys" / "devices" / "platform" / ("host%d" % host)
    sess = host_dev / ("session%d" % n)
    sess.mkdir(parents=True)
    cls = root / "sys" / "class" / "iscsi_session"
    cls.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(str(sess), str(cls)), str(cls / ("session%d" % n)))
    (sess / "targetname").write_text(target + "\n")
    shost = root / "sys" / "class" / "scsi_host" / ("host%d" % host)
    shost.mkdir(parents=True, exist_ok=True)
    (shost / "proc_name").write_text(proc_name + "\n")


def test_iser_session_refuses_tcp_does_not(tmp_path):
    make_session(tmp_path, 1, 3, "iscsi_tcp", "iqn.2024-01.example:tcp")
    assert il.check_iser_srp(str(tmp_path), IB_PLAN) == []
    make_session(tmp_path, 2, 4, "iscsi_iser")
    found = il.check_iser_srp(str(tmp_path), IB_PLAN)
    assert [f["code"] for f in found] == ["ISER_SESSION"]
    assert "session2" in found[0]["msg"] and "iqn.2024-01.example:disk1" in found[0]["msg"]
    assert "iscsiadm" in found[0]["msg"]
    assert il.check_iser_srp(str(tmp_path), ["rdma_rxe"]) == []  # ib_iser not in the plan


def test_srp_session(tmp_path):
    assert il.check_iser_srp(str(tmp_path), IB_PLAN) == []
    (tmp_path / "sys/class/srp_remote_ports/port-5:1").mkdir(parents=True)
    shost = tmp_path / "sys/class/scsi_host/host5"
    shost.mkdir(parents=True)
    (shost / "proc_name").write_text("ib_srp\n")
    found = il.check_iser_srp(str(tmp_path), IB_PLAN)
    assert [f["code"] for f in found] == ["SRP_SESSION"]
    assert "port-5:1" in found[0]["msg"] and "host5" in found[0]["msg"]


# --- NFS over RDMA ------------------------------------------------------------------------------------------

MOUNTINFO = (  # constructed mountinfo lines (format as the kernel prints it)
    "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
    "40 22 0:45 / /mnt/tcp rw,relatime shared:20 - nfs4 srv:/export rw,vers=4.2,proto=tcp,addr=10.0.0.1\n"
    "41 22 0:46 / /mnt/fast rw,relatime shared:21 - nfs4 srv:/scratch rw,vers=4.2,proto=rdma,port=20049\n"
)


def test_nfs_rdma_mount_and_listener():
    found = il.check_nfs_rdma(MOUNTINFO, "rdma 20049\ntcp 2049\n", IB_PLAN)
    assert [f["code"] for f in found] == ["NFS_RDMA_MOUNT", "NFSD_RDMA_LISTENER"]
    assert "/mnt/fast" in found[0]["msg"] and "/mnt/tcp" not in found[0]["msg"]
    assert "-rdma 20049" in found[1]["msg"]
    assert il.check_nfs_rdma(MOUNTINFO.replace("proto=rdma", "proto=tcp"), "tcp 2049\n", IB_PLAN) == []
    assert il.check_nfs_rdma(MOUNTINFO, None, ["mlx4_ib"]) == []


# --- Lustre, GPFS, BeeGFS -----------------------------------------------------------------------------------

def test_lustre():
    assert [f["code"] for f in il.check_cluster_fs("/nonexistent", ["ko2iblnd"], ["ko2iblnd", "rdma_cm"])] == [
        "LUSTRE_O2IBLND"]
    assert il.check_cluster_fs("/nonexistent", [], ["rdma_cm"]) == []


@pytest.mark.parametrize("cfg, fires", [
    ("clusterName gpfs1\nverbsRdma enable\nverbsPorts mlx5_0/1\n", True),
    ("verbsRdma disable\n", False),
    (None, True),  # GPFS loaded, config unreadable: cannot rule RDMA out
])
def test_gpfs(tmp_path, cfg, fires):
    if cfg is not None:
        path = tmp_path / il.MMFS_CFG
        path.parent.mkdir(parents=True)
        path.write_text(cfg)
    found = il.check_cluster_fs(str(tmp_path), ["mmfs26", "mmfslinux", "tracedev"], IB_PLAN)
    assert [f["code"] for f in found] == (["GPFS_RDMA"] if fires else [])
    assert il.check_cluster_fs(str(tmp_path), ["tracedev"], IB_PLAN) == []


@pytest.mark.parametrize("conf, plan, fires", [
    ("connUseRDMA = false\n", IB_PLAN, False),
    ("connUseRDMA = true\n", IB_PLAN, True),
    (None, IB_PLAN, True),  # BeeGFS default is RDMA on
    ("connUseRDMA = false\n", IB_PLAN + ["beegfs"], True),  # it holds an RDMA module
])
def test_beegfs(tmp_path, conf, plan, fires):
    if conf is not None:
        path = tmp_path / il.BEEGFS_CLIENT_CONF
        path.parent.mkdir(parents=True)
        path.write_text(conf)
    found = il.check_cluster_fs(str(tmp_path), ["beegfs"], plan)
    assert [f["code"] for f in found] == (["BEEGFS_RDMA"] if fires else [])


# --- /dev/infiniband handles --------------------------------------------------------------------------------

def make_proc(root, pid, comm, targets):
    fd = root / "proc" / str(pid) / "fd"
    fd.mkdir(parents=True)
    (root / "proc" / str(pid) / "comm").write_text(comm + "\n")
    for i, target in enumerate(targets):
        os.symlink(target, str(fd / str(i)))


def test_dev_infiniband_handles(tmp_path):
    make_proc(tmp_path, 812, "opensm", ["/dev/null", "/dev/infiniband/umad0", "/dev/infiniband/issm0"])
    make_proc(tmp_path, 900, "bash", ["/dev/pts/0", "socket:[123]"])
    make_proc(tmp_path, 1000, "ansible", ["/dev/infiniband/uverbs0"])
    handles = il.open_infiniband_handles(str(tmp_path), own_pid=1000)
    assert handles == [{"pid": 812, "comm": "opensm", "paths": ["/dev/infiniband/issm0", "/dev/infiniband/umad0"]}]
    found = il.check_dev_infiniband(handles, IB_PLAN)
    assert [f["code"] for f in found] == ["DEV_INFINIBAND_OPEN"] and "812 (opensm)" in found[0]["msg"]
    assert il.check_dev_infiniband(handles, ["ib_isert"]) == []


def test_unknown_holder_message():
    found = il.check_unknown_holders([{"name": "ibclient", "path": None, "holds": ["ib_core"]},
                                      {"name": "mlx5_vdpa", "path": "kernel/drivers/vdpa/mlx5/mlx5_vdpa.ko",
                                       "holds": ["mlx5_core"]}])
    assert [f["code"] for f in found] == ["HOLDER_UNKNOWN", "HOLDER_UNKNOWN"]
    assert "ibclient holds ib_core" in found[0]["msg"] and "no modules.dep entry" in found[0]["msg"]
    assert "modprobe -r mlx5_vdpa" in found[1]["msg"]
