# SPDX-License-Identifier: GPL-3.0-or-later
"""main() of iser.ofed.site_lock against a real state directory under tmp_path."""
from __future__ import annotations

import json
import os
import socket

from ansible_collections.iser.ofed.plugins.modules import site_lock
from conftest import run_module


def _run(args):
    return run_module(site_lock.main, args)


def test_take_refuse_release(tmp_path):
    state = str(tmp_path / "state")
    first = _run({"state_dir": state, "run_id": "r1", "owner": "alice@ctl"})
    assert first["changed"] is True and first["lock"]["node"] == socket.gethostname()
    again = _run({"state_dir": state, "run_id": "r1"})
    assert again["changed"] is False and again["msg"] == "lock already held by this run"

    other = _run({"state_dir": state, "run_id": "r2", "owner": "bob@tower"})
    assert other["failed"] is True and "locked by run r1 of alice@ctl" in other["msg"]

    foreign = _run({"state_dir": state, "run_id": "r2", "state": "absent"})
    assert foreign["changed"] is False and os.path.exists(foreign["path"])
    gone = _run({"state_dir": state, "run_id": "r1", "state": "absent"})
    assert gone["changed"] is True and not os.path.exists(gone["path"])


def test_lock_of_a_live_local_process_refuses_and_a_dead_one_is_replaced(tmp_path):
    state = str(tmp_path)
    path = os.path.join(state, "site.lock")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"run_id": "other", "owner": "tower", "node": socket.gethostname(), "pid": os.getpid(),
                   "started": 1, "started_text": "1970-01-01T00:00:01Z"}, handle)
    refused = _run({"state_dir": state, "run_id": "mine", "stale_after": 0})
    assert refused["failed"] is True and "pid %d" % os.getpid() in refused["msg"]
    # The same file, but old: stale by age with the default stale_after (one day).
    taken = _run({"state_dir": state, "run_id": "mine"})
    assert taken["changed"] is True and "s old (stale after 86400 s)" in taken["taken_over"]


def test_bad_input_fails_with_a_message(tmp_path):
    assert "absolute directory" in _run({"state_dir": "rel", "run_id": "x"})["msg"]
    assert "run_id is empty" in _run({"state_dir": str(tmp_path), "run_id": " "})["msg"]
    assert "stale_after is -1" in _run({"state_dir": str(tmp_path), "run_id": "x", "stale_after": -1})["msg"]


def test_refusal_returns_the_holder_and_a_gone_holder_is_taken_over(tmp_path):
    state = str(tmp_path)
    ctl = {"node": "ctl", "boot_id": "b", "pid": 4242, "pid_start": 7, "job": ""}
    first = _run({"state_dir": state, "run_id": "r1", "owner": "alice@ctl", "controller": ctl})
    assert first["lock"]["controller"] == ctl
    refused = _run({"state_dir": state, "run_id": "r2", "controller": dict(ctl, pid=5)})
    assert refused["failed"] is True and refused["held"]["run_id"] == "r1" and refused["held"]["controller"] == ctl
    # The controller found r1's process gone: the lock is taken over, the answer says whose and why.
    taken = _run({"state_dir": state, "run_id": "r2", "controller": dict(ctl, pid=5),
                  "holder_gone": {"run_id": "r1", "reason": "its ansible-playbook pid 4242 on controller ctl is gone"}})
    assert taken["changed"] is True and taken["lock"]["run_id"] == "r2"
    assert "run r1 of alice@ctl" in taken["taken_over"] and "pid 4242 on controller ctl is gone" in taken["msg"]
    # Other failures carry no holder.
    assert "held" not in _run({"state_dir": "rel", "run_id": "x"})
