# SPDX-License-Identifier: GPL-3.0-or-later
"""The detached on-host transaction on the real kernel (side_effect.yml runs detach.yml per case).

Evidence: snapshots detach_<case>_before/_after (files/snapshot.py, probes: eth0's ifindex, address, default
route, the /dev/null masks) and detach_<case>_controller.json (what the controller saw: the outcome, the
ib_modules probe, the job's result, each wait round's length and reachability). The unload roots are the
soft-RoCE/Mellanox stack plus virtio_net, eth0's driver, which carries the SSH connection.
"""
from __future__ import annotations

import datetime
import json
import os

# The cases side_effect.yml ran (VM_DETACH_CASES, default none: CI's time budget; docs/testbed.md). A case's
# test is collected when the case ran, as `make test MOLECULE_SLOW=vm` leaves out a scenario: by the run's
# configuration, never by what the run left behind.
CASES = [case for case in os.environ.get("VM_DETACH_CASES", "none").split() if case != "none"]
assert set(CASES) <= {"never", "auto", "fail"}, CASES


def controller(evidence, case):
    return json.loads(evidence("detach_%s_controller.json" % case))


def address(snapshot):
    links = json.loads(snapshot["probes"]["addr"]["output"] or "[]")
    return sorted(a["local"] for l in links for a in l.get("addr_info", []) if a.get("family") == "inet")


def _at(steps, step, status):
    stamp = next(s["time"] for s in steps if (s["step"], s["status"]) == (step, status))
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")


def check_auto_detaches_drops_the_nic_and_finishes(snap, evidence):
    ctl = controller(evidence, "auto")
    before, after = snap("detach_auto_before"), snap("detach_auto_after")
    job = ctl["job"]
    probe_codes = {i["code"] for i in ctl["probe"]["interlocks"]}
    assert ctl["detached"] and "NIC_MGMT_CONNECTION" in probe_codes
    assert ctl["outcome"]["status"] == "done", ctl["outcome"]
    assert "failed_step" not in job and [s["step"] for s in job["steps"]] == [
        "plan", "services", "unload", "purge", "install", "load", "network", "verify"]
    # the NIC driver really went: virtio_net unloaded and loaded again, eth0 is a new interface (ifindex)
    assert "virtio_net" in job["unloaded"] and "virtio_net" in job["loaded"]
    assert "virtio_net" in after["loaded"]
    assert int(after["probes"]["ifindex"]["output"]) > int(before["probes"]["ifindex"]["output"])
    assert address(after) == address(before) == ["10.0.2.15"]
    assert json.loads(after["probes"]["route"]["output"])[0]["gateway"] == "10.0.2.2"
    # the IB stack is unloaded and its stock files sit in the quarantine, byte-identical
    assert not set(before["ib_related"]) & set(after["loaded"])
    assert after["files"] == {} and after["quarantine"] == before["files"] != {}
    assert after["manifest"]["state"] == "complete"
    # the journal: the same records the connected roles write, and each step before and after, in order
    stages = after["journal"]["stages"]
    assert stages["ib_unload"]["status"] == "done" and stages["ib_unload"]["data"]["unload_skipped"] is None
    assert stages["ib_unload"]["data"]["unloaded"] == job["unloaded"]
    assert stages["stock_purge@%s" % after["kernel"]]["status"] == "done"
    steps = stages["site_detached"]["data"]["steps"]
    assert stages["site_detached"]["status"] == "done"
    assert [(s["step"], s["status"]) for s in steps] == [
        (s["step"], status) for s in job["steps"] for status in ("started", "done")]
    assert [s["time"] for s in steps] == sorted(s["time"] for s in steps)
    # the controller waited across the outage (from the unload to the address back, by the job's journal): over
    # QEMU user networking the SSH session stalls rather than resets (same address back), so the wait round that
    # spans the outage lasts at least as long as it, with a single poll
    outage = (_at(steps, "network", "done") - _at(steps, "unload", "started")).total_seconds()
    assert sum(r["seconds"] for r in ctl["rounds"]) >= outage > 0, (ctl["rounds"], outage)


if "auto" in CASES:
    test_auto_detaches_drops_the_nic_and_finishes = check_auto_detaches_drops_the_nic_and_finishes


def check_failing_installer_rolls_back_by_itself_then_the_controller(snap, evidence):
    ctl = controller(evidence, "fail")
    before, after = snap("detach_fail_before"), snap("detach_fail_after")
    job = ctl["job"]
    assert ctl["detached"] and ctl["outcome"]["status"] == "failed"
    # the check-mode probe found the management connection's NIC driver in the plan: that made it detach
    assert "NIC_MGMT_CONNECTION" in {i["code"] for i in ctl["probe"]["interlocks"]}
    assert job["failed_step"] == "install" and job["failed_stage"] == "ofed_install"
    assert job["install"]["rc"] == 28 and job["rolled_back"] and job["rollback_errors"] == []
    assert "virtio_net" in job["unloaded"] and job["rollback_reloaded"][0] == "virtio_net"
    # the job restored the quarantine and reloaded what was loaded; the NIC came back
    assert after["files"] == before["files"] and after["quarantine"] == {}
    assert set(before["ib_related"]) <= set(after["loaded"])
    assert int(after["probes"]["ifindex"]["output"]) > int(before["probes"]["ifindex"]["output"])
    assert address(after) == ["10.0.2.15"]
    stages = after["journal"]["stages"]
    assert stages["site_detached"]["status"] == "rolled_back"
    assert stages["site_detached"]["data"]["step"] == "install"
    # then the controller's rollback (scope from the journal) closed the stages and undid the masks
    assert sorted(ctl["rollback_scope"]) == ["install", "purge"]
    assert stages["ib_unload"]["status"] == "rolled_back"
    assert stages["stock_purge@%s" % after["kernel"]]["status"] == "rolled_back"
    assert after["probes"]["masks"]["output"] == before["probes"]["masks"]["output"]
    # each step journaled before and after, up to the failed install; the controller's wait rounds span the
    # job from the unload (eth0 gone) to the failure, after which the job's own rollback brought eth0 back
    steps = stages["site_detached"]["data"]["steps"]
    assert [(s["step"], s["status"]) for s in steps] == [
        (step, status) for step in ("plan", "services", "unload", "purge") for status in ("started", "done")] + [
        ("install", "started"), ("install", "failed")]
    outage = (_at(steps, "install", "failed") - _at(steps, "unload", "started")).total_seconds()
    assert sum(r["seconds"] for r in ctl["rounds"]) >= outage > 0, (ctl["rounds"], outage)


if "fail" in CASES:
    test_failing_installer_rolls_back_by_itself_then_the_controller = (
        check_failing_installer_rolls_back_by_itself_then_the_controller)
