# SPDX-License-Identifier: GPL-3.0-or-later
"""_drift: kernels without the installed stack's modules, and quarantines undone behind the pipeline's back.

Host trees are built in tmp_path:

* the Debian 12 module tree from the REAL captures (``stock_tree``/``kernel_tree_builder``: captured file
  names and sizes, the captured ``modules.dep`` lines);
* OFED modules where DKMS puts them (``updates/dkms/<name>.ko``) for the BUILT_MODULE_NAMEs of the REAL
  dkms.conf of mlnx-ofed-kernel-dkms 5.0 (``dkms_conf_module_table.txt``); the module files themselves and
  the ``modules.dep`` after depmod (the captured lines with those modules' paths moved to ``updates/dkms``,
  what depmod writes once they are there) are CONSTRUCTED;
* quarantines written by our own ``_quarantine`` code (the same calls ``iser.ofed.stock_modules`` makes);
* journals written by our own ``_journal`` code.
"""
from __future__ import annotations

import json
import os
import shutil

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _drift as d
from ansible_collections.iser.ofed.plugins.module_utils import _journal as j
from ansible_collections.iser.ofed.plugins.module_utils import _quarantine as q
from conftest import read_fixture
from kernel_tree_builder import CAPTURE, build_debian12_modules, write
from stock_tree import DEBIAN12_KVER, build

DKMS_TABLE = ("mlnx-ofed/MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64/deb-data/mlnx-ofed-kernel-dkms/"
              "mlnx-ofed-kernel-5.0/dkms_conf_module_table.txt")
NEW_KVER = "6.1.0-57-amd64"  # a later Debian kernel ABI, installed after the stack (constructed name)
RUNNING = "6.18.0-1-amd64"  # the containers' host kernel: no tree here (constructed name)
DKMS_PACKAGES = ["mlnx-ofed-kernel-dkms", "mlnx-ofed-kernel-utils", "ofed-scripts"]
STOCK_DEP = read_fixture(CAPTURE, "modules.dep_grep_infiniband_mellanox.txt")


def dkms_names() -> list[str]:
    names = []
    for line in read_fixture(DKMS_TABLE).splitlines():
        key, _eq, value = line.partition("=")
        if key.startswith("BUILT_MODULE_NAME[") and value not in names:
            names.append(value)
    return names


def dep_after_dkms(names) -> str:
    """The captured modules.dep as depmod rewrites it once updates/dkms/<name>.ko exist (constructed)."""
    lines = []
    for line in STOCK_DEP.splitlines():
        out = []
        for word in line.split():
            bare = word.rstrip(":")
            if bare.endswith(".ko") and os.path.basename(bare)[:-3].replace("-", "_") in names:
                word = "updates/dkms/%s.ko%s" % (os.path.basename(bare)[:-3], ":" if word.endswith(":") else "")
            out.append(word)
        lines.append(" ".join(out))
    return "\n".join(lines) + "\n"


def install_dkms(modules_dir: str, names=None, depmod: bool = True) -> None:
    """What the DKMS build of mlnx-ofed-kernel-dkms leaves in one kernel tree."""
    names = dkms_names() if names is None else names
    for name in names:
        write(modules_dir, "updates/dkms/%s.ko" % name, "constructed %s for %s\n" % (name, modules_dir))
    if depmod:
        write(modules_dir, "modules.dep", dep_after_dkms(set(names)))


@pytest.fixture
def host(tmp_path):
    """K (the Debian 12 kernel) with MLNX_OFED 5.0 built by DKMS; a newer kernel installed after it."""
    root = tmp_path / "root"
    old = build_debian12_modules(root)
    install_dkms(old)
    new = build_debian12_modules(root, NEW_KVER)
    return {"root": root, "modules_root": str(root / "lib/modules"), "state": str(tmp_path / "state"),
            "old": old, "new": new}


def gather(host, **kw):
    kw.setdefault("flavor", "mlnx_ofed")
    kw.setdefault("version", "5.0-2.1.8.0")
    kw.setdefault("packages", DKMS_PACKAGES)
    kw.setdefault("target", DEBIAN12_KVER)
    return d.gather_drift(host["modules_root"], host["state"], kw.pop("running", RUNNING), **kw)


def kernel(facts, kver):
    return next(k for k in facts["kernels"] if k["kernel"] == kver)


# ----------------------------------------------------------------------------------------------- parsers


def test_kernel_trees_count_installed_trees_only(host):
    os.makedirs(os.path.join(host["modules_root"], "6.1.0-10-amd64", "updates", "dkms"))  # left by a removed kernel
    assert d.kernel_trees(host["modules_root"]) == [DEBIAN12_KVER, NEW_KVER]
    assert d.kernel_trees(str(host["root"] / "nowhere")) == []


def test_ofed_modules_finds_dkms_extra_and_weak_updates(tmp_path):
    kdir = str(tmp_path)
    write(kdir, "updates/dkms/ib_core.ko", "x")
    write(kdir, "extra/mlnx-ofa_kernel/drivers/infiniband/hw/mlx5/mlx5_ib.ko.xz", "x")
    os.makedirs(os.path.join(kdir, "weak-updates/mlnx-ofa_kernel/drivers/net"))
    os.symlink("/lib/modules/4.18.0-305.el8.x86_64/extra/mlnx-ofa_kernel/drivers/net/mlx5_core.ko",
               os.path.join(kdir, "weak-updates/mlnx-ofa_kernel/drivers/net/mlx5_core.ko"))
    write(kdir, "kernel/drivers/infiniband/core/ib_cm.ko", "x")  # stock: not OFED's
    found = d.ofed_modules(kdir)
    assert found == {"ib_core": "updates/dkms/ib_core.ko",
                     "mlx5_ib": "extra/mlnx-ofa_kernel/drivers/infiniband/hw/mlx5/mlx5_ib.ko.xz",
                     "mlx5_core": "weak-updates/mlnx-ofa_kernel/drivers/net/mlx5_core.ko"}
    assert d._top_dirs(list(found.values())) == ["extra/mlnx-ofa_kernel", "updates/dkms", "weak-updates/mlnx-ofa_kernel"]


def test_modules_dep_resolution_on_the_real_capture():
    assert d.resolved_by_modules_dep(STOCK_DEP) == "stock"
    assert d.resolved_by_modules_dep(dep_after_dkms({"ib_core"})) == "ofed"
    assert d.resolved_by_modules_dep("kernel/fs/configfs/configfs.ko:\n") == "absent"
    assert d.resolved_by_modules_dep(None) is None
    # old depmod wrote absolute paths (constructed line)
    assert d.resolved_by_modules_dep("/lib/modules/2.6.32-71.el6.x86_64/updates/kernel/drivers/infiniband/core/"
                                     "ib_core.ko:\n") == "ofed"


def test_kernel_packages_of_every_flavor():
    assert d.kernel_packages(DKMS_PACKAGES) == ["mlnx-ofed-kernel-dkms"]
    assert d.kernel_packages(["kernel-ib", "kernel-ib-devel", "compat-rdma", "compat-rdma-devel",
                              "kmod-mlnx-ofa_kernel", "mlnx-ofa_kernel", "mlnx-ofa_kernel-devel",
                              "doca-ofed-userspace", "ofed-scripts"]) == [
        "compat-rdma", "kernel-ib", "kmod-mlnx-ofa_kernel", "mlnx-ofa_kernel"]


# ----------------------------------------------------------------------------------------------- kernels


def test_new_kernel_without_ofed_modules_is_flagged_with_the_dkms_fix(host):
    facts = gather(host)
    assert facts["detected"] is True and facts["codes"] == ["OFED_MODULES_MISSING"]
    (item,) = facts["findings"]
    assert item["kernel"] == NEW_KVER
    assert "has no MLNX_OFED 5.0-2.1.8.0 modules" in item["msg"]
    assert "dkms autoinstall -k %s" % NEW_KVER in item["fix"]
    assert "iser_ofed_target_kernel=%s" % NEW_KVER in item["fix"]
    old, new = kernel(facts, DEBIAN12_KVER), kernel(facts, NEW_KVER)
    assert old["status"] == "ok" and old["ofed_modules"] == len(dkms_names()) and old["ofed_dirs"] == ["updates/dkms"]
    assert old["modules_dep"] == "ofed" and old["target"] is True
    assert new["status"] == "missing" and new["modules_dep"] == "stock" and new["ofed_modules"] == 0
    assert new["missing_modules"] == sorted(dkms_names())
    # the booted kernel (the container's host kernel) has no tree: listed, not judged
    running = kernel(facts, RUNNING)
    assert running == dict(running, installed=False, running=True, status="not_installed")
    assert facts["stack"] == {"flavor": "mlnx_ofed", "version": "5.0-2.1.8.0", "source": "facts",
                              "kernel_packages": ["mlnx-ofed-kernel-dkms"], "dkms": True, "installed_for": None,
                              "kernel_modules_expected": True}


def test_the_booted_kernel_is_named_as_such(host):
    facts = gather(host, running=NEW_KVER, target=NEW_KVER)
    (item,) = facts["findings"]
    assert item["msg"].startswith("the booted and target kernel %s has no" % NEW_KVER)


def test_once_dkms_built_for_it_there_is_no_drift(host):
    install_dkms(host["new"])
    facts = gather(host)
    assert facts["detected"] is False and facts["findings"] == [] and facts["count"] == 0
    assert {k["kernel"]: k["status"] for k in facts["kernels"] if k["installed"]} == {
        DEBIAN12_KVER: "ok", NEW_KVER: "ok"}


def test_modules_that_depmod_did_not_index(host):
    install_dkms(host["new"], depmod=False)  # modules.dep still the stock one
    facts = gather(host)
    (item,) = facts["findings"]
    assert item["code"] == "OFED_MODULES_NOT_INDEXED" and item["kernel"] == NEW_KVER
    assert item["fix"] == "run `depmod -a %s`" % NEW_KVER
    assert kernel(facts, NEW_KVER)["status"] == "not_indexed"


def test_a_partial_build_is_incomplete(host):
    install_dkms(host["new"], names=["mlx_compat", "ib_core", "ib_uverbs"])
    facts = gather(host)
    (item,) = facts["findings"]
    assert item["code"] == "OFED_MODULES_INCOMPLETE"
    assert "mlx5_core" in item["msg"] and "mlx5_core" in kernel(facts, NEW_KVER)["missing_modules"]


@pytest.mark.parametrize("flavor, packages, words", [
    ("mlnx_ofed", ["mlnx-ofa_kernel", "kmod-mlnx-ofa_kernel"], "mlnxofedinstall --add-kernel-support"),
    ("ofed", ["compat-rdma"], "install.pl -k %s" % NEW_KVER),
])
def test_fix_by_the_way_the_stack_was_installed(host, flavor, packages, words):
    facts = gather(host, flavor=flavor, packages=packages)
    (item,) = facts["findings"]
    assert words in item["fix"] and "dkms" not in item["fix"]


def test_without_a_known_stack_nothing_is_judged(host):
    facts = gather(host, flavor=None, version=None, packages=[])
    assert facts["findings"] == [] and facts["stack"]["source"] is None
    assert {k["status"] for k in facts["kernels"] if k["installed"]} == {"no_stack"}


def test_the_journal_names_the_stack_when_the_facts_do_not(host):
    journal, _changed = j.apply_record(j.empty_journal(), "ofed_install", "done",
                                       {"flavor": "mlnx_ofed", "version": "5.0-2.1.8.0", "kernel": DEBIAN12_KVER},
                                       "2026-11-25T10:00:00Z")
    j.write_journal(host["state"], journal)
    facts = gather(host, flavor=None, version=None, packages=[])
    assert facts["stack"]["source"] == "journal" and facts["stack"]["installed_for"] == DEBIAN12_KVER
    assert facts["codes"] == ["OFED_MODULES_MISSING"]
    assert facts["journal"]["ofed_install"] == {"status": "done", "flavor": "mlnx_ofed", "version": "5.0-2.1.8.0",
                                                "kernel": DEBIAN12_KVER}


def test_userspace_only_stack_expects_no_kernel_modules(tmp_path):
    root = tmp_path / "root"
    build_debian12_modules(root)
    facts = d.gather_drift(str(root / "lib/modules"), str(tmp_path / "state"), RUNNING, flavor="mlnx_ofed",
                           packages=["doca-ofed-userspace", "ofed-scripts"])
    assert facts["findings"] == [] and facts["stack"]["kernel_modules_expected"] is False


def test_an_unreadable_journal_is_an_error_not_a_crash(host):
    write(host["state"], "journal.json", "{not json")
    facts = gather(host)
    assert [e["code"] for e in facts["errors"]] == ["JOURNAL_UNREADABLE"]
    assert facts["codes"] == ["OFED_MODULES_MISSING"]  # the rest is still assessed


# ----------------------------------------------------------------------------------------------- quarantine


@pytest.fixture
def purged(tmp_path):
    """The real Debian 12 tree quarantined by our own _quarantine code (as iser.ofed.stock_modules does)."""
    modules_dir = build(tmp_path / "root")
    state = str(tmp_path / "state")
    quar = q.Quarantine(modules_dir, os.path.join(state, "quarantine", DEBIAN12_KVER), DEBIAN12_KVER)
    dirs = [x for x in q.DEFAULT_DIRS if os.path.isdir(os.path.join(modules_dir, x))]
    quar.quarantine(None, quar.plan_quarantine(None, dirs, with_hash=True), {"todo": []})
    return {"modules_dir": modules_dir, "modules_root": os.path.dirname(modules_dir), "state": state, "quar": quar,
            "core": "kernel/drivers/infiniband/core/ib_core.ko", "cm": "kernel/drivers/infiniband/core/ib_cm.ko"}


def qfacts(purged):
    facts = d.gather_drift(purged["modules_root"], purged["state"], RUNNING, target=DEBIAN12_KVER)
    return facts, (facts["quarantines"][0] if facts["quarantines"] else None)


def reinstall(purged, rel):
    """What dpkg does when the kernel package is reinstalled: the same file written at its original path."""
    dst = os.path.join(purged["modules_dir"], rel)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copy2(os.path.join(purged["quar"].files_dir, rel), dst)
    return dst


def test_a_complete_quarantine_is_no_drift(purged):
    facts, entry = qfacts(purged)
    assert facts["findings"] == []
    assert entry["state"] == "complete" and entry["files"] > 20 and entry["kernel_installed"] is True
    assert entry["reappeared"] == entry["copy_mismatch"] == entry["copy_missing"] == []


def test_a_reinstalled_file_is_flagged_with_the_restore_then_purge_fix(purged):
    reinstall(purged, purged["core"])
    facts, entry = qfacts(purged)
    (item,) = facts["findings"]
    assert item["code"] == "QUARANTINE_FILES_REAPPEARED" and item["kernel"] == DEBIAN12_KVER
    assert purged["core"] in item["msg"]
    assert "identical" in item["fix"] and "iser.ofed.rollback" in item["fix"] and "stock_purge" in item["fix"]
    assert entry["reappeared"] == [purged["core"]] and entry["reappeared_differ"] == []
    # the fix is true: stock_modules would refuse the purge now, and the restore reconciles the file
    with pytest.raises(q.QuarantineError, match="reappeared"):
        purged["quar"].plan_quarantine(purged["quar"].load(), ["kernel/drivers/infiniband"], with_hash=False)
    purged["quar"].restore(purged["quar"].load(), [])
    assert qfacts(purged)[0]["findings"] == []


def test_an_updated_file_differs(purged):
    path = reinstall(purged, purged["core"])
    with open(path, "ab") as handle:
        handle.write(b"a newer build\n")
    write(purged["modules_dir"], "kernel/drivers/infiniband/hw/new/brand_new.ko", "new in the update\n")
    facts, entry = qfacts(purged)
    (item,) = facts["findings"]
    assert entry["reappeared"] == [purged["core"], "kernel/drivers/infiniband/hw/new/brand_new.ko"]
    assert entry["reappeared_differ"] == entry["reappeared"]
    assert "2 of them differ" in item["fix"] and "move %s aside" % purged["quar"].qdir in item["fix"]


def test_a_quarantined_copy_that_changed_or_went(purged):
    with open(os.path.join(purged["quar"].files_dir, purged["core"]), "r+b") as handle:
        handle.write(b"bit rot")
    os.unlink(os.path.join(purged["quar"].files_dir, purged["cm"]))
    facts, entry = qfacts(purged)
    (item,) = facts["findings"]
    assert item["code"] == "QUARANTINE_COPY_MISMATCH"
    assert entry["copy_mismatch"] == [purged["core"]] and entry["copy_missing"] == [purged["cm"]]
    assert "no longer match their sha256" in item["msg"] and "are gone" in item["msg"]
    # the same check _quarantine makes before a restore
    problems = purged["quar"].verify(purged["quar"].load(), purged["quar"].files_dir)
    assert len(problems) == 2


@pytest.mark.parametrize("state, words", [("pending", "quarantine"), ("restoring", "restore")])
def test_an_interrupted_move(purged, state, words):
    manifest = purged["quar"].load()
    manifest["state"] = state
    purged["quar"].save(manifest)
    facts, entry = qfacts(purged)
    (item,) = facts["findings"]
    assert item["code"] == "QUARANTINE_INTERRUPTED" and "the %s of kernel" % words in item["msg"]


def test_a_restored_quarantine_is_no_drift(purged):
    purged["quar"].restore(purged["quar"].load(), [])
    facts, entry = qfacts(purged)
    assert facts["findings"] == [] and entry["state"] == "restored"


def test_a_corrupt_manifest(purged):
    with open(purged["quar"].manifest_path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps({"format": 99}))
    facts, entry = qfacts(purged)
    (item,) = facts["findings"]
    assert item["code"] == "QUARANTINE_MANIFEST_UNREADABLE" and entry["state"] is None


def test_no_state_dir_no_quarantine(host):
    assert gather(host)["quarantines"] == []
