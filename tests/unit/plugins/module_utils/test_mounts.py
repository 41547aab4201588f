# SPDX-License-Identifier: GPL-3.0-or-later
"""Mount parsing and RDMA-root detection. Mount tables and sysfs trees here are constructed."""
from __future__ import annotations

import pytest

from ansible_collections.iser.ofed.plugins.module_utils._mounts import (
    block_rdma_transport, describe_mount, find_mount, parse_mountinfo, parse_proc_mounts)
from kernel_tree_builder import symlink, write

# constructed after this build host's /proc/self/mountinfo (plus a /boot and an escaped space)
MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
28 27 8:1 / /boot ro,relatime shared:2 - ext4 /dev/sda1 rw
29 27 0:40 / /srv/my\\040data rw - nfs4 10.0.0.1:/export rw,vers=4.2,proto=rdma,port=20049
"""


def test_parse_mountinfo():
    mounts, bad = parse_mountinfo(MOUNTINFO + "garbage line\n")
    assert bad == ["garbage line"]
    assert [m["mount"] for m in mounts] == ["/proc", "/", "/boot", "/srv/my data"]
    boot = mounts[2]
    assert boot == {"major_minor": "8:1", "mount": "/boot", "options": ["ro", "relatime"], "fstype": "ext4",
                    "device": "/dev/sda1", "super_options": ["rw"]}


def test_parse_proc_mounts():
    mounts, bad = parse_proc_mounts("/dev/vda / ext4 rw,relatime 0 0\nnonsense\n")
    assert bad == ["nonsense"]
    assert mounts[0]["mount"] == "/" and mounts[0]["major_minor"] is None


@pytest.mark.parametrize("path, expected", [("/", "/"), ("/boot", "/boot"), ("/boot/grub", "/boot"),
                                            ("/bootx", "/"), ("/srv/my data/x", "/srv/my data")])
def test_find_mount(path, expected):
    mounts, _bad = parse_mountinfo(MOUNTINFO)
    assert find_mount(mounts, path)["mount"] == expected


def test_overmount_last_wins():
    mounts, _bad = parse_mountinfo("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 0:30 / / ro - overlay overlay ro\n")
    assert find_mount(mounts, "/")["fstype"] == "overlay"


def test_read_only_boot_and_plain_root(tmp_path):
    mounts, _bad = parse_mountinfo(MOUNTINFO)
    boot = describe_mount(str(tmp_path), mounts, "/boot")
    assert boot["read_only"] is True and boot["rdma"] is False and boot["mount"] == "/boot"
    root = describe_mount(str(tmp_path), mounts, "/")
    assert root["read_only"] is False and root["rdma_transport"] is None
    assert root["evidence"] == ["no /sys/dev/block/254:0"]


@pytest.mark.parametrize("fstype, opts, expected", [
    ("nfs4", "rw,vers=4.2,proto=rdma,port=20049", True),
    ("nfs", "rw,vers=3,proto=rdma6", True),
    ("nfs", "rw,rdma,port=20049", True),
    ("nfs4", "rw,vers=4.2,proto=tcp", False),
])
def test_nfs_root(tmp_path, fstype, opts, expected):
    mounts, _bad = parse_mountinfo("1 0 0:40 / / rw - %s 10.0.0.1:/root %s\n" % (fstype, opts))
    facts = describe_mount(str(tmp_path), mounts, "/")
    assert facts["rdma"] is expected
    assert facts["rdma_transport"] == ("nfs-rdma" if expected else None)


def _scsi_disk(root, major_minor, host, proc_name, session=True):
    """sysfs of a SCSI disk partition below hostN (an iSCSI session when ``session``)."""
    mid = "session1/target%d:0:0/%d:0:0:1" % (host, host) if session else "target%d:0:0/%d:0:0:1" % (host, host)
    dev = "sys/devices/platform/host%d/%s/block/sdb/sdb1" % (host, mid)
    write(root, dev + "/dev", major_minor + "\n")
    symlink(root, "/sys/dev/block/" + major_minor, "../../" + dev.replace("sys/", "", 1))
    write(root, "/sys/class/scsi_host/host%d/proc_name" % host, proc_name + "\n")


@pytest.mark.parametrize("proc_name, expected", [("iscsi_iser", "iser"), ("ib_srp", "srp"), ("iscsi_tcp", None)])
def test_scsi_transports(tmp_path, proc_name, expected):
    _scsi_disk(tmp_path, "8:17", 3, proc_name, session=proc_name != "ib_srp")
    found, evidence = block_rdma_transport(str(tmp_path), "8:17")
    assert found == expected
    assert "scsi host3 proc_name: %s" % proc_name in evidence


def test_lvm_on_iser_follows_slaves(tmp_path):
    _scsi_disk(tmp_path, "8:17", 5, "iscsi_iser")
    write(tmp_path, "/sys/devices/virtual/block/dm-0/dev", "253:0\n")
    symlink(tmp_path, "/sys/devices/virtual/block/dm-0/slaves/sdb1",
            "../../../../platform/host5/session1/target5:0:0/5:0:0:1/block/sdb/sdb1")
    symlink(tmp_path, "/sys/dev/block/253:0", "../../devices/virtual/block/dm-0")
    mounts, _bad = parse_mountinfo("1 0 253:0 / / ro - xfs /dev/mapper/vg-root ro\n")
    facts = describe_mount(str(tmp_path), mounts, "/")
    assert facts["rdma_transport"] == "iser" and facts["read_only"] is True


@pytest.mark.parametrize("transport, expected", [("rdma", "nvme-rdma"), ("tcp", None), ("pcie", None)])
def test_nvme_controller_transport(tmp_path, transport, expected):
    dev = "sys/devices/virtual/nvme-fabrics/ctl/nvme1/nvme1n1"
    write(tmp_path, dev + "/dev", "259:3\n")
    symlink(tmp_path, "/sys/dev/block/259:3", "../../devices/virtual/nvme-fabrics/ctl/nvme1/nvme1n1")
    write(tmp_path, "/sys/class/nvme/nvme1/transport", transport + "\n")
    assert block_rdma_transport(str(tmp_path), "259:3")[0] == expected


def test_nvme_multipath_subsystem(tmp_path):
    symlink(tmp_path, "/sys/dev/block/259:0", "../../devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1")
    write(tmp_path, "/sys/devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1/dev", "259:0\n")
    write(tmp_path, "/sys/class/nvme-subsystem/nvme-subsys0/nvme0/transport", "tcp\n")
    write(tmp_path, "/sys/class/nvme-subsystem/nvme-subsys0/nvme2/transport", "rdma\n")
    assert block_rdma_transport(str(tmp_path), "259:0")[0] == "nvme-rdma"


def test_no_mount_table():
    assert describe_mount("/nonexistent", [], "/")["mount"] is None
