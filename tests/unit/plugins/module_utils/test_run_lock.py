# SPDX-License-Identifier: GPL-3.0-or-later
"""_run_lock: the per-host run lock of the site playbook, on real files under tmp_path and real pids."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _run_lock as rl

NOW = 1764072000.0


def _write(state, lock):
    os.makedirs(state, exist_ok=True)
    with open(rl.lock_path(state), "w", encoding="utf-8") as handle:
        handle.write(lock if isinstance(lock, str) else json.dumps(lock))


def _on_disk(state):
    with open(rl.lock_path(state), encoding="utf-8") as handle:
        return json.load(handle)


def _dead_pid():
    """A pid that existed and is gone now (a reaped child)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return int(proc.stdout)


def test_acquire_creates_the_state_dir_and_the_lock_mode_0600(tmp_path):
    state = str(tmp_path / "var" / "iser-ofed")
    changed, lock, taken = rl.acquire(state, "run-a", "alice@ctl", 0, "node1", NOW, 86400)
    assert changed is True and taken is None
    assert _on_disk(state) == lock
    assert lock["run_id"] == "run-a" and lock["owner"] == "alice@ctl" and lock["started_text"] == "2025-11-25T12:00:00Z"
    assert oct(os.stat(rl.lock_path(state)).st_mode & 0o777) == "0o600"
    assert oct(os.stat(state).st_mode & 0o777) == "0o700"


def test_same_run_again_changes_nothing(tmp_path):
    state = str(tmp_path)
    rl.acquire(state, "run-a", "alice@ctl", 0, "node1", NOW, 86400)
    changed, lock, taken = rl.acquire(state, "run-a", "alice@ctl", 0, "node1", NOW + 60, 86400)
    assert taken is None
    assert changed is False and lock["started"] == int(NOW)


def test_live_lock_of_another_run_refuses_naming_the_holder(tmp_path):
    state = str(tmp_path)
    # A live process on this node (our own pid) holds it.
    _write(state, rl.new_lock("run-b", "bob@tower", "node1", os.getpid(), NOW - 10))
    with pytest.raises(rl.LockError) as exc:
        rl.acquire(state, "run-a", "alice@ctl", 0, "node1", NOW, 86400)
    msg = str(exc.value)
    assert "run run-b of bob@tower (pid %d on node1)" % os.getpid() in msg
    assert rl.lock_path(state) in msg and "iser_ofed_site_break_lock" in msg
    assert _on_disk(state)["run_id"] == "run-b"


def test_check_mode_still_refuses_and_never_writes(tmp_path):
    state = str(tmp_path / "s")
    changed = rl.acquire(state, "run-a", "a", 0, "node1", NOW, 0, check_mode=True)[0]
    assert changed is True and not os.path.exists(state)
    _write(state, rl.new_lock("run-b", "bob", "other-node", 4242, NOW))
    with pytest.raises(rl.LockError):
        rl.acquire(state, "run-a", "a", 0, "node1", NOW, 0, check_mode=True)


def test_dead_pid_on_this_node_is_stale_and_taken_over(tmp_path):
    state = str(tmp_path)
    dead = _dead_pid()
    _write(state, rl.new_lock("run-b", "bob", "node1", dead, NOW - 5))
    changed, lock, taken = rl.acquire(state, "run-a", "alice", 0, "node1", NOW, 0)
    assert changed is True and lock["run_id"] == "run-a"
    assert "process %d on node1 is gone" % dead in taken and "run run-b of bob" in taken
    assert _on_disk(state)["run_id"] == "run-a"


def test_pid_of_another_node_is_not_judged_here(tmp_path):
    state = str(tmp_path)
    _write(state, rl.new_lock("run-b", "bob", "node2", _dead_pid(), NOW - 5))
    with pytest.raises(rl.LockError):
        rl.acquire(state, "run-a", "alice", 0, "node1", NOW, 0)


def test_old_lock_is_stale_by_age_only_when_stale_after_is_set(tmp_path):
    state = str(tmp_path)
    _write(state, rl.new_lock("run-b", "bob", "ctl", 0, NOW - 7200))
    with pytest.raises(rl.LockError):
        rl.acquire(state, "run-a", "alice", 0, "node1", NOW, 0)
    changed, taken = rl.acquire(state, "run-a", "alice", 0, "node1", NOW, 3600)[::2]
    assert changed is True and "7200 s old (stale after 3600 s)" in taken


@pytest.mark.parametrize("garbage", ["", "{", "[]", '{"run_id": ""}'])
def test_garbage_lock_file_is_taken_over(tmp_path, garbage):  # constructed: crash between create and write
    state = str(tmp_path)
    _write(state, garbage)
    changed, lock, taken = rl.acquire(state, "run-a", "alice", 0, "node1", NOW, 0)
    assert changed is True and "unreadable lock" in taken and _on_disk(state) == lock


def test_break_lock_takes_a_live_lock(tmp_path):
    state = str(tmp_path)
    _write(state, rl.new_lock("run-b", "bob", "node1", os.getpid(), NOW))
    changed, taken = rl.acquire(state, "run-a", "alice", 0, "node1", NOW, 0, break_lock=True)[::2]
    assert changed is True and "iser_ofed_site_break_lock" in taken


def test_release_only_removes_the_own_lock(tmp_path):
    state = str(tmp_path)
    assert rl.release(state, "run-a") == (False, None, "no lock")
    _write(state, rl.new_lock("run-b", "bob", "node1", 0, NOW))
    changed, held, msg = rl.release(state, "run-a")
    assert changed is False and held["run_id"] == "run-b" and "left in place" in msg
    assert os.path.exists(rl.lock_path(state))
    changed = rl.release(state, "run-b", check_mode=True)[0]
    assert changed is True and os.path.exists(rl.lock_path(state))
    changed, msg = rl.release(state, "run-b")[::2]
    assert changed is True and msg == "released" and not os.path.exists(rl.lock_path(state))


def test_pid_alive():
    assert rl.pid_alive(os.getpid()) is True
    assert rl.pid_alive(_dead_pid()) is False
    assert rl.pid_alive(0) is False
