# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the vm scenario: what each step did to a real kernel, from the evidence snapshots on the VM.

prepare, converge and side_effect leave JSON snapshots in vm_evidence_dir (files/snapshot.py: loaded
modules, sha256 of every file of the stock module dirs and of the quarantine, the manifest, probe exit
codes; files/kill_midway.py: what the SIGKILL hit). Every expected set here is derived from an earlier
snapshot of the same VM (the baseline), never written down. A missing snapshot fails its test.
"""
from __future__ import annotations

import json


def test_baseline_is_a_loaded_soft_roce_stack(snap):
    base = snap("baseline")
    pristine = snap("pristine")
    assert "ib_core" in base["ib_related"] and "rdma_rxe" in base["ib_related"]
    assert not set(pristine["ib_related"]), "IB modules were loaded before prepare loaded them"
    assert len(base["files"]) > 20, "the stock IB dirs look empty: %s" % base["dirs"]
    assert base["files"] == pristine["files"]


def test_unload_empties_the_stack(snap):
    """(1) every IB-related module loaded before ib_unload is gone afterwards."""
    before = set(snap("baseline")["ib_related"])
    after = snap("after_unload")
    assert not before & set(after["loaded"]), "still loaded: %s" % sorted(before & set(after["loaded"]))
    assert after["ib_related"] == []
    assert after["files"] == snap("baseline")["files"], "ib_unload changed files in the stock dirs"


def test_check_mode_changes_nothing(snap):
    """(6) check mode: same modules loaded, same files with the same sha256, nothing quarantined."""
    base, check_unload = snap("baseline"), snap("check_unload")
    assert sorted(check_unload["loaded"]) == sorted(base["loaded"])
    assert check_unload["files"] == base["files"]
    check_purge, unloaded = snap("check_purge"), snap("after_unload")
    assert check_purge["files"] == unloaded["files"] == base["files"]
    assert check_purge["quarantine"] == {} and check_purge["manifest"] is None
    assert sorted(check_purge["loaded"]) == sorted(unloaded["loaded"])


def test_purge_makes_ib_core_unloadable(snap):
    """(3) after stock_purge, modprobe ib_core fails and modinfo ib_core finds nothing."""
    base, purged = snap("baseline"), snap("after_purge")
    assert purged["probes"]["modprobe_ib_core"]["rc"] != 0, purged["probes"]["modprobe_ib_core"]
    assert purged["probes"]["modinfo_ib_core"]["rc"] != 0, purged["probes"]["modinfo_ib_core"]
    assert purged["files"] == {}, "left in place: %s" % sorted(purged["files"])[:10]
    # The installed initramfs carried IB/Mellanox modules; the purge rebuilt it without them.
    assert int(base["probes"]["initramfs_ib"]["output"].split()[-1]) > 0, base["probes"]["initramfs_ib"]
    assert purged["probes"]["initramfs_ib"]["output"].split()[-1] == "0", purged["probes"]["initramfs_ib"]
    # Every stock file is in the quarantine, byte-identical, and the manifest says so.
    assert purged["quarantine"] == base["files"]
    manifest = purged["manifest"]
    assert manifest and manifest["state"] == "complete"
    listed = {e["path"]: e["sha256"] for e in manifest["entries"] if e["type"] == "file"}
    assert listed == base["files"]


def test_rollback_restores_every_file(snap):
    """(4) after rollback every file's sha256 matches the manifest, and rdma_rxe loads again."""
    base, rolled = snap("baseline"), snap("after_rollback")
    manifest = snap("after_purge")["manifest"]
    listed = {e["path"]: e["sha256"] for e in manifest["entries"] if e["type"] == "file"}
    assert rolled["files"] == listed == base["files"]
    assert rolled["quarantine"] == {}
    assert rolled["probes"]["modprobe_rdma_rxe"]["rc"] == 0, rolled["probes"]["modprobe_rdma_rxe"]
    assert rolled["probes"]["modinfo_ib_core"]["rc"] == 0
    assert rolled["probes"]["modinfo_ib_core"]["output"].strip().endswith(
        "kernel/drivers/infiniband/core/ib_core.ko"), rolled["probes"]["modinfo_ib_core"]
    assert "rdma_rxe" in rolled["loaded"]


def test_unknown_holder_makes_the_interlock_refuse(snap, evidence):
    """(2) with the out-of-tree holder loaded, ib_modules state=absent refuses and changes nothing."""
    before, after = snap("interlock_before"), snap("interlock_after")
    assert "iser_ofed_holder" in before["loaded"]["ib_core"], "the holder does not hold ib_core"
    result = json.loads(evidence("interlock_result.json"))
    assert result.get("failed") is True, result
    assert "iser_ofed_holder" in json.dumps(result), "the refusal does not name the holder: %s" % result.get("msg")
    assert after["loaded"] == before["loaded"], "ib_modules changed the loaded modules while refusing"
    assert after["files"] == before["files"]


def test_killed_purge_is_finished_by_the_next_run(snap):
    """(5) a purge SIGKILLed half-way is completed by the next run and no file is lost."""
    base, kill, after_kill, rerun = snap("baseline"), snap("kill"), snap("after_kill"), snap("after_rerun")
    assert kill["killed"], "the module finished before it could be killed: %s" % kill
    halfway = kill.get("manifest_state") == "pending" or bool(kill.get("manifest_todo"))
    assert halfway, "the kill did not hit the purge half-way: %s" % kill
    # Right after the kill every file exists at one place at least, byte-identical.
    for path, digest in base["files"].items():
        assert digest in (after_kill["files"].get(path), after_kill["quarantine"].get(path)), path
    assert rerun["files"] == {} and rerun["quarantine"] == base["files"]
    assert rerun["manifest"]["state"] == "complete" and not rerun["manifest"].get("todo")
    assert rerun["probes"]["modinfo_ib_core"]["rc"] != 0


def test_final_state_is_the_baseline(snap):
    base, final = snap("baseline"), snap("final")
    assert final["files"] == base["files"] and final["quarantine"] == {}
    assert final["probes"]["modprobe_rdma_rxe"]["rc"] == 0
