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


# --- the controller side: is the run holding a lock gone? (real processes and /proc on this machine) ---

def test_parse_proc_stat_real_and_odd_names():
    with open("/proc/self/stat", encoding="utf-8") as handle:
        ppid, start = rl.parse_proc_stat(handle.read())
    assert ppid == os.getppid() and start > 0
    # constructed: a command name with spaces and parentheses (the kernel does not escape it)
    line = "4242 (ansible-playbook (x) y) S 17 4242 4242 0 -1 4194560 " + " ".join(["0"] * 12) + " 987654 rest"
    assert rl.parse_proc_stat(line) == (17, 987654)
    assert rl.parse_proc_stat("") is None and rl.parse_proc_stat("12 (x) S y") is None


def test_controller_identity_finds_the_ansible_playbook_ancestor(tmp_path):
    """A real process tree: an executable named ansible-playbook starts a child that asks for the identity,
    as a worker process of ansible-playbook does when the site playbook templates its filter."""
    script = tmp_path / "ansible-playbook"
    script.write_text(
        "#!%s\nimport subprocess, sys\n"
        "sys.exit(subprocess.call([sys.executable, '-c', 'import json, os; from ansible_collections.iser.ofed."
        "plugins.module_utils import _run_lock as rl; print(json.dumps(rl.controller_identity(\"ctl\", "
        "os.getpid(), \"awx job 7\")))']))\n" % sys.executable)
    script.chmod(0o755)
    proc = subprocess.run([str(script)], capture_output=True, text=True, check=True,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    # The child's parent is the ansible-playbook process: its pid, and /proc says so.
    me = json.loads(proc.stdout)
    assert me["node"] == "ctl" and me["job"] == "awx job 7" and me["pid"] > 0 and me["pid_start"] > 0
    with open("/proc/sys/kernel/random/boot_id", encoding="utf-8") as handle:
        assert me["boot_id"] == handle.read().strip()
    # That process has exited now: the lock it would have taken is gone, judged from here.
    here = rl.controller_identity("ctl", os.getpid())
    assert here["pid"] == 0  # pytest has no ansible-playbook ancestor
    reason = rl.controller_gone({"controller": me}, here)
    assert reason == "its ansible-playbook pid %d on controller ctl is gone" % me["pid"]


def test_controller_gone_rules():
    me = rl.controller_identity("ctl", os.getpid())
    stat = rl.proc_stat(os.getpid())
    live = {"node": "ctl", "boot_id": me["boot_id"], "pid": os.getpid(), "pid_start": stat[1]}
    assert rl.controller_gone({"controller": live}, me) is None  # a live process
    assert rl.controller_gone({"controller": dict(live, pid_start=stat[1] + 1)}, me) == (
        "its ansible-playbook pid %d on controller ctl is gone (the pid is another process now)" % os.getpid())
    assert rl.controller_gone({"controller": dict(live, boot_id="other-boot")}, me) == (
        "its ansible-playbook pid %d on controller ctl: the controller rebooted since" % os.getpid())
    dead = dict(live, pid=_dead_pid())
    assert "is gone" in rl.controller_gone({"controller": dead}, me)
    # Not judged here: another controller (or AWX job container), no pid, no controller record at all.
    assert rl.controller_gone({"controller": dict(dead, node="ctl2")}, me) is None
    assert rl.controller_gone({"controller": dict(dead, pid=0)}, me) is None
    assert rl.controller_gone({"run_id": "x"}, me) is None and rl.controller_gone(None, me) is None


def test_find_playbook_pid_on_a_constructed_proc_tree(tmp_path):  # constructed /proc layout
    def proc(pid, ppid, argv):
        d = tmp_path / str(pid)
        d.mkdir()
        (d / "stat").write_text("%d (x) S %d 0 0 0 -1 0 %s %d\n" % (pid, ppid, " ".join(["0"] * 12), pid * 10))
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    playbook = ["/usr/bin/python3.11", "/venv/bin/ansible-playbook", "-i", "inv", "site.yml"]
    proc(50, 1, ["/usr/bin/python3", "/venv/bin/molecule", "test"])
    proc(100, 50, playbook)   # the main process
    proc(200, 100, playbook)  # a worker: a fork, same command line
    proc(300, 200, ["/bin/sh", "-c", "python3"])
    # a task of that run starts another ansible-playbook (as molecule/site's side_effect does)
    proc(310, 300, ["/usr/bin/python3", "/root/.ansible/tmp/AnsiballZ_command.py"])
    proc(320, 310, ["ansible-playbook", "-i", "inv", "iser.ofed.site"])
    proc(330, 320, ["ansible-playbook", "-i", "inv", "iser.ofed.site"])
    proc(400, 1, ["/usr/bin/python3", "-m", "pytest"])
    assert rl.find_playbook_pid(200, str(tmp_path)) == 100  # from the worker: its main process
    assert rl.find_playbook_pid(300, str(tmp_path)) == 100
    assert rl.find_playbook_pid(330, str(tmp_path)) == 320  # the inner run's own main process
    assert rl.find_playbook_pid(400, str(tmp_path)) == 0
    assert rl.find_playbook_pid(999, str(tmp_path)) == 0
    assert rl.proc_stat(100, str(tmp_path)) == (50, 1000)


def test_a_lock_judged_gone_by_the_controller_is_taken_over_only_for_that_run(tmp_path):
    state = str(tmp_path)
    ctl = {"node": "ctl", "boot_id": "b", "pid": 4242, "pid_start": 7, "job": ""}
    _write(state, rl.new_lock("run-b", "bob@ctl", "node1", 0, NOW - 60, ctl))
    with pytest.raises(rl.LockError) as exc:
        rl.acquire(state, "run-a", "alice", 0, "node1", NOW, 0, gone={"run_id": "run-other", "reason": "x"})
    assert exc.value.held["run_id"] == "run-b" and exc.value.held["controller"] == ctl
    assert "(ansible-playbook pid 4242 on controller ctl)" in str(exc.value)
    changed, lock, taken = rl.acquire(state, "run-a", "alice", 0, "node1", NOW, 0, controller=dict(ctl, pid=5),
                                      gone={"run_id": "run-b", "reason": "its ansible-playbook pid 4242 is gone"})
    assert changed is True and lock["controller"]["pid"] == 5 and _on_disk(state) == lock
    assert taken.startswith("run run-b of bob@ctl") and taken.endswith("(its ansible-playbook pid 4242 is gone)")
