# SPDX-License-Identifier: GPL-3.0-or-later
"""_quarantine: manifest, move, restore, crash safety, dependents and the management-NIC rule.

Trees are rebuilt from the REAL Debian 12 captures (``stock_tree``); the modules.dep is the real capture.
"""
from __future__ import annotations

import errno
import json
import os

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _quarantine as q
from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import parse_modules_dep
from conftest import read_fixture
from stock_tree import DEBIAN12_KVER, EMPTY_DIR, LINK, PRIVATE, build, digest, symlink, write

NET = "captured/build-host-net"
MOVED_DEPENDENTS = ["9pnet_rdma", "nvme_rdma", "nvmet_rdma", "rds_rdma", "rpcrdma", "smc", "smc_diag"]


@pytest.fixture
def tree(tmp_path):
    modules_dir = build(tmp_path / "root")
    quar = q.Quarantine(modules_dir, str(tmp_path / "state" / "quarantine" / DEBIAN12_KVER), DEBIAN12_KVER)
    return {"modules_dir": modules_dir, "quar": quar, "before": digest(modules_dir), "tmp": tmp_path}


def existing(modules_dir, dirs=q.DEFAULT_DIRS):
    return [d for d in dirs if os.path.isdir(os.path.join(modules_dir, d))]


def quarantine(tree, dirs=q.DEFAULT_DIRS):
    quar = tree["quar"]
    manifest = quar.load()
    plan = quar.plan_quarantine(manifest, existing(tree["modules_dir"], dirs), with_hash=True)
    if plan["changed"]:
        quar.quarantine(manifest, plan, {})
    return plan


def restore(tree):
    quar = tree["quar"]
    quar.restore(quar.load(), [])


# ------------------------------------------------------------------------------------------------ validation

def test_default_dirs_are_accepted():
    assert q.validate_dirs(list(q.DEFAULT_DIRS)) == list(q.DEFAULT_DIRS)


def test_nested_and_duplicate_dirs_collapse():
    assert q.validate_dirs(["kernel/drivers/infiniband/hw/", "kernel/drivers/infiniband",
                            "kernel/drivers/infiniband"]) == ["kernel/drivers/infiniband"]


@pytest.mark.parametrize("bad, match", [
    ("updates", r"under updates/.*never touches it"),
    ("updates/dkms/mlnx", r"under updates/"),
    ("extra/mlnx-ofa_kernel", r"under extra/"),
    ("/lib/modules/6.1.0-50-amd64/kernel/drivers/infiniband", r"dirs: .*absolute"),
    ("kernel/drivers/../../updates", r"dirs: .*'\.\.'"),
    ("drivers/infiniband", r"dirs: .*below kernel/"),
    ("kernel", r"dirs: .*below kernel/"),
    ("", r"dirs: .*empty"),
])
def test_refused_dirs(bad, match):
    with pytest.raises(q.QuarantineError, match=match):
        q.validate_dirs(["kernel/drivers/infiniband", bad])


# ------------------------------------------------------------------------------------------------ dependents

def _dep_map():
    return parse_modules_dep(read_fixture("captured/debian12-kernel", "modules.dep_grep_infiniband_mellanox.txt"))[0]


def test_dependents_from_the_real_modules_dep(tree):
    moving = q.scan(tree["modules_dir"], existing(tree["modules_dir"]), with_hash=False)
    found = q.dependents(_dep_map(), q.module_names(moving), list(q.DEFAULT_DIRS), set())
    assert [d["module"] for d in found] == MOVED_DEPENDENTS
    rpcrdma = next(d for d in found if d["module"] == "rpcrdma")
    assert rpcrdma == {"module": "rpcrdma", "path": "kernel/net/sunrpc/xprtrdma/rpcrdma.ko",
                       "needs": ["ib_cm", "ib_core", "iw_cm", "rdma_cm"]}


def test_dependents_of_mlx5_alone_are_the_ib_drivers_that_need_mlx5_core(tree):
    dirs = ["kernel/drivers/net/ethernet/mellanox/mlx5"]
    moving = q.scan(tree["modules_dir"], dirs, with_hash=False)
    found = q.dependents(_dep_map(), q.module_names(moving), dirs, set())
    assert [(d["module"], d["needs"]) for d in found] == [("mlx5_ib", ["mlx5_core"])]


def test_a_staged_replacement_is_not_lost(tree):
    moving = q.scan(tree["modules_dir"], existing(tree["modules_dir"]), with_hash=False)
    found = q.dependents(_dep_map(), q.module_names(moving), list(q.DEFAULT_DIRS), {"ib_core"})
    names = [d["module"] for d in found]
    assert "smc" not in names and "smc_diag" not in names  # they need ib_core only
    assert "rpcrdma" in names


# ------------------------------------------------------------------------------------------- manifest, move

def test_quarantine_writes_a_full_manifest_and_moves_everything(tree):
    plan = quarantine(tree)
    quar, modules_dir = tree["quar"], tree["modules_dir"]
    manifest = json.loads(open(quar.manifest_path).read())
    assert manifest["state"] == "complete" and manifest["format"] == 1 and manifest["kernel"] == DEBIAN12_KVER
    assert existing(modules_dir) == []
    assert manifest["dirs"] == [
        "kernel/drivers/infiniband", "kernel/drivers/net/ethernet/mellanox/mlx4",
        "kernel/drivers/net/ethernet/mellanox/mlx5"]
    by_path = {e["path"]: e for e in manifest["entries"]}
    for rel, (kind, mode, uid, gid, value) in tree["before"].items():
        if not q.under(rel, manifest["dirs"]):
            continue
        entry = by_path.pop(rel)
        assert (entry["type"], entry["uid"], entry["gid"]) == (kind, uid, gid)
        if kind == "file":
            assert (entry["mode"], entry["sha256"]) == (mode, value)
        elif kind == "link":
            assert entry["target"] == value == "mlx5_ib.ko"
        else:
            assert entry["mode"] == mode
    assert by_path == {} and by_path_modes_ok(manifest)
    # everything is in the quarantine, byte-identical; the source dirs are gone; mlxfw (not listed) stays
    assert quar.verify(manifest, quar.files_dir) == []
    for rel in manifest["dirs"]:
        assert not os.path.exists(os.path.join(modules_dir, rel))
    assert os.path.isfile(os.path.join(modules_dir, "kernel/drivers/net/ethernet/mellanox/mlxfw/mlxfw.ko"))
    assert os.path.isdir(os.path.join(quar.files_dir, EMPTY_DIR))
    assert len(plan["pending"]) == 24 + 3 + 1  # 24 IB modules, mlx4_core, mlx4_en, mlx5_core, the symlink


def by_path_modes_ok(manifest):
    entries = {e["path"]: e for e in manifest["entries"]}
    return entries[PRIVATE]["mode"] == 0o600 and entries[EMPTY_DIR]["mode"] == 0o750 and \
        entries[LINK]["type"] == "link"


def test_second_quarantine_changes_nothing(tree):
    quarantine(tree)
    quar = tree["quar"]
    after_first = (digest(tree["modules_dir"]), digest(quar.qdir))
    plan = quar.plan_quarantine(quar.load(), existing(tree["modules_dir"]), with_hash=True)
    assert plan["changed"] is False and plan["pending"] == [] and plan["new_dirs"] == []
    assert (digest(tree["modules_dir"]), digest(quar.qdir)) == after_first


def test_restore_is_byte_identical_and_keeps_the_manifest_as_record(tree):
    quarantine(tree)
    restore(tree)
    quar = tree["quar"]
    assert digest(tree["modules_dir"]) == tree["before"]
    assert not os.path.exists(quar.files_dir)
    manifest = quar.load()
    assert manifest["state"] == "restored"
    assert quar.verify(manifest, tree["modules_dir"]) == []
    # a new quarantine after a restore starts afresh
    plan = quarantine(tree)
    assert plan["fresh"] and quar.load()["state"] == "complete"


def test_restore_reapplies_modes_changed_in_the_quarantine(tree):
    quarantine(tree)
    os.chmod(os.path.join(tree["quar"].files_dir, PRIVATE), 0o644)
    restore(tree)
    assert digest(tree["modules_dir"]) == tree["before"]


def test_a_dir_kept_at_first_is_added_later(tree):
    first = [d for d in existing(tree["modules_dir"]) if not d.endswith("mlx5")]
    quarantine(tree, first)
    plan = quarantine(tree)
    assert plan["changed"] and plan["new_dirs"] == ["kernel/drivers/net/ethernet/mellanox/mlx5"]
    manifest = tree["quar"].load()
    assert manifest["state"] == "complete" and manifest["dirs"] == existing(
        tree["quar"].files_dir, q.DEFAULT_DIRS)
    restore(tree)
    assert digest(tree["modules_dir"]) == tree["before"]


def test_reappeared_files_are_refused_by_name(tree):
    quarantine(tree)
    write(tree["modules_dir"], "kernel/drivers/infiniband/core/ib_core.ko", b"a reinstalled kernel package")
    with pytest.raises(q.QuarantineError, match=r"1 file\(s\) reappeared.*core/ib_core\.ko.*Nothing was changed") as exc:
        quarantine(tree)
    assert exc.value.details["reappeared"] == ["kernel/drivers/infiniband/core/ib_core.ko"]


def test_restore_refuses_a_different_file_at_the_source_and_keeps_both(tree):
    quarantine(tree)
    target = write(tree["modules_dir"], PRIVATE, b"something else")
    with pytest.raises(q.QuarantineError, match=r"ib_core\.ko exists at both places.*left in place"):
        restore(tree)
    assert open(target, "rb").read() == b"something else"
    kept = os.path.join(tree["quar"].files_dir, PRIVATE)
    assert q.sha256_file(kept) == tree["before"][PRIVATE][4]


def test_restore_takes_an_identical_file_at_the_source(tree):
    quarantine(tree)
    src = os.path.join(tree["quar"].files_dir, "kernel/drivers/infiniband/core/ib_cm.ko")
    dst = os.path.join(tree["modules_dir"], "kernel/drivers/infiniband/core/ib_cm.ko")
    os.makedirs(os.path.dirname(dst))
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        fout.write(fin.read())
    restore(tree)
    assert digest(tree["modules_dir"]) == tree["before"]


def test_a_corrupt_quarantine_copy_is_a_hard_error(tree):
    quarantine(tree)
    corrupt = os.path.join(tree["quar"].files_dir, "kernel/drivers/infiniband/core/ib_cm.ko")
    with open(corrupt, "r+b") as handle:
        handle.write(b"X")
    with pytest.raises(q.QuarantineError, match=r"checksum mismatch: .*ib_cm\.ko has sha256 .* the manifest says"):
        restore(tree)
    assert os.path.exists(corrupt)


def test_corrupt_manifest_is_refused(tree):
    write(tree["quar"].qdir, "manifest.json", "{not json")
    with pytest.raises(q.QuarantineError, match=r"unreadable or corrupt.*do not delete"):
        tree["quar"].load()


# --------------------------------------------------------------------------------------------- crash safety

class Killed(Exception):
    pass


def failing_mover(monkeypatch, after):
    real = q.move_file
    calls = {"n": 0}

    def mover(src, dst, sha256=None):
        if calls["n"] >= after:
            raise Killed("killed after %d files" % after)
        calls["n"] += 1
        real(src, dst, sha256)

    monkeypatch.setattr(q, "move_file", mover)
    return calls


TOTAL = 28  # files and symlinks that move (see test_quarantine_writes_a_full_manifest_and_moves_everything)


@pytest.mark.parametrize("after", [0, 1, TOTAL // 2, TOTAL - 1])
@pytest.mark.parametrize("then", ["quarantined", "restored"])
def test_killed_quarantine_is_finished_or_undone(tree, monkeypatch, after, then):
    calls = failing_mover(monkeypatch, after)
    with pytest.raises(Killed):
        quarantine(tree)
    assert calls["n"] == after
    monkeypatch.undo()
    quar = tree["quar"]
    assert quar.load()["state"] == "pending"
    if then == "quarantined":
        plan = quarantine(tree)
        assert plan["changed"] and len(plan["pending"]) == TOTAL - after
        manifest = quar.load()
        assert manifest["state"] == "complete" and quar.verify(manifest, quar.files_dir) == []
        restore(tree)
    else:
        restore(tree)
    assert digest(tree["modules_dir"]) == tree["before"]
    assert quar.load()["state"] == "restored"


@pytest.mark.parametrize("after", [0, 1, TOTAL // 2, TOTAL - 1])
def test_killed_restore_is_finished(tree, monkeypatch, after):
    quarantine(tree)
    failing_mover(monkeypatch, after)
    with pytest.raises(Killed):
        restore(tree)
    monkeypatch.undo()
    assert tree["quar"].load()["state"] == "restoring"
    restore(tree)
    assert digest(tree["modules_dir"]) == tree["before"]


@pytest.mark.parametrize("after", [1, TOTAL // 2])
def test_killed_restore_then_quarantined_again(tree, monkeypatch, after):
    quarantine(tree)
    failing_mover(monkeypatch, after)
    with pytest.raises(Killed):
        restore(tree)
    monkeypatch.undo()
    quarantine(tree)
    quar = tree["quar"]
    manifest = quar.load()
    assert manifest["state"] == "complete" and quar.verify(manifest, quar.files_dir) == []
    restore(tree)
    assert digest(tree["modules_dir"]) == tree["before"]


def cross_device(monkeypatch):
    real_rename = os.rename

    def rename(src, dst):
        if not str(src).endswith(q.TMP_SUFFIX):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_rename(src, dst)

    monkeypatch.setattr(q.os, "rename", rename)


def test_cross_filesystem_move_copies_verifies_and_restores(tree, monkeypatch):
    cross_device(monkeypatch)
    quarantine(tree)
    quar = tree["quar"]
    assert quar.verify(quar.load(), quar.files_dir) == []
    assert not any(os.path.exists(os.path.join(tree["modules_dir"], d)) for d in quar.load()["dirs"])
    restore(tree)
    assert digest(tree["modules_dir"]) == tree["before"]


def test_cross_filesystem_kill_between_copy_and_unlink(tree, monkeypatch):
    cross_device(monkeypatch)
    real_unlink = os.unlink
    state = {"n": 0}

    def unlink(path):
        if not str(path).endswith(q.TMP_SUFFIX) and "/lib/modules/" in str(path):
            state["n"] += 1
            if state["n"] == 3:
                raise Killed("killed before the unlink of %s" % path)
        real_unlink(path)

    monkeypatch.setattr(q.os, "unlink", unlink)
    with pytest.raises(Killed):
        quarantine(tree)
    monkeypatch.setattr(q.os, "unlink", real_unlink)
    plan = quarantine(tree)  # the file present at both places, identical: the source copy goes
    quar = tree["quar"]
    assert plan["changed"] and quar.verify(quar.load(), quar.files_dir) == []
    restore(tree)
    assert digest(tree["modules_dir"]) == tree["before"]


def test_copy_with_a_wrong_checksum_leaves_the_source(tree, monkeypatch):
    cross_device(monkeypatch)
    src = os.path.join(tree["modules_dir"], PRIVATE)
    dst = os.path.join(tree["quar"].files_dir, PRIVATE)
    with pytest.raises(q.QuarantineError, match=r"copy of .* has sha256 .* the source is left in place"):
        q.move_file(src, dst, "0" * 64)
    assert os.path.exists(src) and not os.path.lexists(dst) and not os.path.lexists(dst + q.TMP_SUFFIX)


def test_check_mode_plan_touches_nothing(tree):
    quar = tree["quar"]
    plan = quar.plan_quarantine(None, existing(tree["modules_dir"]), with_hash=False)
    assert plan["changed"] and len(plan["pending"]) == TOTAL
    assert digest(tree["modules_dir"]) == tree["before"] and not os.path.exists(str(tree["tmp"] / "state"))


# ------------------------------------------------------------------------------------------ management NIC

def sysfs_nic(root, iface, driver):
    """Constructed sysfs: ``/sys/class/net/<iface>/device/driver`` -> a PCI driver with a ``module`` link."""
    os.makedirs(os.path.join(str(root), "sys/module", driver), exist_ok=True)
    symlink(root, "sys/bus/pci/drivers/%s/module" % driver, "../../../../module/%s" % driver)
    symlink(root, "sys/class/net/%s/device/driver" % iface, "../../../bus/pci/drivers/%s" % driver)


def mgmt_links(root, environ):
    return q.management_links(str(root), read_fixture(NET, "proc_net_route.txt"),
                              read_fixture(NET, "proc_net_ipv6_route.txt"), environ,
                              [read_fixture(NET, "proc_net_tcp.txt")], read_fixture(NET, "ip_-j_addr.json"))


def test_management_links_on_the_captured_build_host(tmp_path):
    sysfs_nic(tmp_path, "eth0", "mlx5_core")  # the capture's eth0, given a ConnectX driver (constructed)
    links = mgmt_links(tmp_path, {"SSH_CONNECTION": "192.0.2.1 50022 192.0.2.2 22"})
    assert links == [{"interface": "eth0", "reason": "default route, management connection to 192.0.2.2",
                      "drivers": ["mlx5_core"]}]


def test_management_nic_dir_is_kept_unless_staged_or_forced(tree):
    root = tree["tmp"] / "root"
    sysfs_nic(root, "eth0", "mlx5_core")
    links = mgmt_links(root, {})
    dirs = existing(tree["modules_dir"])
    move, kept, warnings = q.keep_decisions(tree["modules_dir"], dirs, links, set(), False)
    assert move == dirs[:2] and warnings == []
    assert kept == [{"dir": "kernel/drivers/net/ethernet/mellanox/mlx5", "reason": (
        "eth0 carries the management connection (default route) through driver mlx5_core; OFED's replacement "
        "(mlx5_core) is not staged under updates/ or extra/ of this kernel. Stage OFED first, or set force: true")}]
    move, kept, warnings = q.keep_decisions(tree["modules_dir"], dirs, links, set(), True)
    assert move == dirs and kept == [] and "force: moving kernel/drivers/net/ethernet/mellanox/mlx5" in warnings[0]
    write(tree["modules_dir"], "updates/dkms/mlx5_core.ko", b"OFED")  # constructed: OFED staged
    staged = q.staged_module_names(tree["modules_dir"])
    assert staged == {"mlx5_core"}
    move, kept, warnings = q.keep_decisions(tree["modules_dir"], dirs, links, staged, False)
    assert move == dirs and kept == [] and warnings == []


def test_virtio_management_nic_keeps_nothing(tree):
    root = tree["tmp"] / "root"
    sysfs_nic(root, "eth0", "virtio_net")
    dirs = existing(tree["modules_dir"])
    assert q.keep_decisions(tree["modules_dir"], dirs, mgmt_links(root, {}), set(), False) == (dirs, [], [])


# ---------------------------------------------------------------------------------------------- initramfs

def test_initramfs_members_debian_and_dracut_listings():
    rels = ["kernel/drivers/infiniband/core/ib_core.ko", "kernel/drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko",
            "kernel/drivers/infiniband/ulp/srpt/ib_srpt.ko"]
    # constructed listings in the formats of lsinitramfs (paths) and lsinitrd (ls -l lines, compressed modules)
    debian = ("usr/lib/modules/%s/kernel/drivers/infiniband/core/ib_core.ko\n"
              "usr/lib/modules/%s/kernel/drivers/net/virtio_net.ko\n") % (DEBIAN12_KVER, DEBIAN12_KVER)
    dracut = ("-rw-r--r--   1 root root   912345 Jan  1 00:00 usr/lib/modules/%s/kernel/drivers/net/ethernet/"
              "mellanox/mlx5/core/mlx5_core.ko.xz\n" % DEBIAN12_KVER)
    assert q.initramfs_members(debian, DEBIAN12_KVER, rels) == [rels[0]]
    assert q.initramfs_members(dracut, DEBIAN12_KVER, rels) == [rels[1]]
    assert q.initramfs_members(debian, "6.1.0-99-amd64", rels) == []


@pytest.mark.parametrize("root, argv", [
    ("/lib/modules", ["depmod", "-a", DEBIAN12_KVER]),
    ("/lib/modules/", ["depmod", "-a", DEBIAN12_KVER]),
    ("/srv/chroot/lib/modules", ["depmod", "-b", "/srv/chroot", "-a", DEBIAN12_KVER]),
    ("/opt/modules", None),
])
def test_depmod_argv(root, argv):
    assert q.depmod_argv(root, DEBIAN12_KVER) == argv


@pytest.mark.parametrize("state, mode, manifest, contained, want", [
    ("quarantined", "auto", None, [], ["depmod"]),
    ("quarantined", "auto", None, ["kernel/drivers/infiniband/core/ib_core.ko"], ["depmod", "initramfs"]),
    ("quarantined", "always", None, [], ["depmod", "initramfs"]),
    ("quarantined", "never", None, ["x.ko"], ["depmod"]),
    ("restored", "auto", {"initramfs_rebuilt": True}, [], ["depmod", "initramfs"]),
    ("restored", "auto", {"initramfs_rebuilt": False, "initramfs_contained": []}, [], ["depmod"]),
])
def test_todo_after(state, mode, manifest, contained, want):
    assert q.todo_after(state, [], True, mode, manifest, contained) == want
