# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""The per-host run lock of the ``site`` playbook: ``<state_dir>/site.lock``.

One run at a time per host, whoever starts it (ansible-playbook, AWX/Tower). The lock file is created with
``O_CREAT | O_EXCL`` (atomic on a local filesystem) and holds one JSON object::

    {"run_id": "...", "owner": "alice@ctl", "node": "<host's nodename>", "pid": 1234,
     "started": 1764070000, "started_text": "2026-11-25T12:00:00Z"}

``pid``/``node`` name the process holding the lock: the controller's run has no process on the host, so its
pid is the one the caller gives (0: none). The site playbook also records the run's controller process
(``"controller": {"node": "ctl", "boot_id": "...", "pid": 4242, "pid_start": 123456, "job": "awx job 7"}``,
from ``controller_identity`` run on the controller). A lock is stale, and taken over, when

- its ``node`` is this host and its ``pid`` (not 0) is no longer alive, or
- the caller, having checked on the controller (``controller_gone``) that the lock's controller process is
  gone, names that lock's run id (``gone``), or
- it is older than ``stale_after`` seconds (0: never by age), or
- its content is not a lock at all (empty or garbage: a crash between create and write).

Only the controller that ran the holder can tell that its ``ansible-playbook`` process is gone: another
controller (or another AWX job: each runs in its own execution environment) cannot, and waits for the age or
``break_lock``.

Acquiring a lock this run already holds (same ``run_id``) changes nothing; releasing removes the file only
when it belongs to the given ``run_id``. Pure functions take ``now``/``node``/``alive`` so they test without
clocks or processes.
"""
from __future__ import annotations

import errno
import json
import os
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

LOCK_NAME = "site.lock"


class LockError(Exception):
    """The lock is held by another run (or cannot be taken); ``held`` is that run's lock when there is one."""

    def __init__(self, msg: str, held: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(msg)
        self.held = held


def lock_path(state_dir: str) -> str:
    return os.path.join(state_dir, LOCK_NAME)


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host (also when it belongs to another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def parse_proc_stat(text: str) -> Optional[Tuple[int, int]]:
    """``(ppid, starttime)`` from the text of ``/proc/<pid>/stat`` (the command name may hold spaces and
    parentheses: the fields are counted after its last ``)``); None when the text is not such a line."""
    end = text.rfind(")")
    fields = text[end + 1:].split() if end >= 0 else []
    # after the name: state(3) ppid(4) ... starttime(22) -> indexes 0, 1 ... 19
    if len(fields) < 20:
        return None
    try:
        return int(fields[1]), int(fields[19])
    except ValueError:
        return None


def _read_small(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as handle:
            return handle.read(65536).decode("utf-8", "replace")
    except OSError:
        return None


def proc_stat(pid: int, proc: str = "/proc") -> Optional[Tuple[int, int]]:
    """``(ppid, starttime)`` of a live process, None when there is none with this pid (or no /proc)."""
    text = _read_small(os.path.join(proc, str(pid), "stat"))
    return parse_proc_stat(text) if text is not None else None


def is_playbook_cmdline(argv: List[str]) -> bool:
    """True for ``ansible-playbook ...`` and ``python .../ansible-playbook ...``."""
    return any(os.path.basename(arg).startswith("ansible-playbook") for arg in argv[:2])


def find_playbook_pid(start: int, proc: str = "/proc", limit: int = 64) -> int:
    """The ``ansible-playbook`` main process among ``start`` and its ancestors; 0 when there is none.

    Ansible's worker processes are forks of the main process and carry its command line, so the answer is the
    outermost of the nearest unbroken chain of ``ansible-playbook`` processes (a worker's parent is the main
    process; an ``ansible-playbook`` started by a task of another run is a chain of its own).
    """
    pid, found = start, 0
    for _step in range(limit):
        if pid <= 1:
            break
        cmdline = _read_small(os.path.join(proc, str(pid), "cmdline"))
        if cmdline is not None and is_playbook_cmdline(cmdline.split("\0")):
            found = pid
        elif found:
            break
        stat = proc_stat(pid, proc)
        if stat is None:
            break
        pid = stat[0]
    return found


def controller_identity(node: str, start: int, job: str = "", proc: str = "/proc") -> Dict[str, Any]:
    """The run's controller process: node, boot id, the ``ansible-playbook`` pid and its start time.

    Called on the controller from inside the run (``start``: the calling process); pid 0 when no
    ``ansible-playbook`` ancestor is found or there is no /proc (such a lock is freed by age only).
    """
    pid = find_playbook_pid(start, proc)
    stat = proc_stat(pid, proc) if pid else None
    boot = (_read_small(os.path.join(proc, "sys", "kernel", "random", "boot_id")) or "").strip()
    return {"node": node, "boot_id": boot, "pid": pid if stat else 0, "pid_start": stat[1] if stat else 0,
            "job": job}


def controller_gone(lock: Any, me: Any, proc: str = "/proc") -> Optional[str]:
    """Why the run holding ``lock`` is known to be dead, judged on controller ``me``; None when it may live.

    Only a lock taken from this same controller node can be judged: its boot id changed (the controller
    rebooted), or its ``ansible-playbook`` pid is gone or is now another process (another start time).
    """
    held = lock.get("controller") if isinstance(lock, dict) else None
    if not isinstance(held, dict) or not isinstance(me, dict):
        return None
    pid = held.get("pid")
    if not held.get("node") or held.get("node") != me.get("node") or not isinstance(pid, int) or pid <= 0:
        return None
    where = "ansible-playbook pid %d on controller %s" % (pid, held["node"])
    if held.get("boot_id") and me.get("boot_id") and held["boot_id"] != me["boot_id"]:
        return "its %s: the controller rebooted since" % where
    if pid == me.get("pid") and held.get("pid_start") == me.get("pid_start"):
        return None  # this very process: not gone
    stat = proc_stat(pid, proc)
    if stat is None:
        return "its %s is gone" % where
    if held.get("pid_start") and stat[1] != held["pid_start"]:
        return "its %s is gone (the pid is another process now)" % where
    return None


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_lock(text: str) -> Optional[Dict[str, Any]]:
    """The lock record, or None when the text is not a lock (empty, not JSON, no run_id)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("run_id"), str) or not data["run_id"]:
        return None
    return data


def new_lock(run_id: str, owner: str, node: str, pid: int, now: float,
             controller: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    lock = {"run_id": run_id, "owner": owner, "node": node, "pid": int(pid),
            "started": int(now), "started_text": iso(now)}
    if controller:
        lock["controller"] = dict(controller)
    return lock


def stale_reason(lock: Optional[Dict[str, Any]], node: str, now: float, stale_after: int,
                 alive: Callable[[int], bool] = pid_alive,
                 gone: Optional[Dict[str, Any]] = None) -> Optional[str]:
    """Why this lock no longer counts, or None when it is live.

    ``gone``: ``{"run_id": ..., "reason": ...}`` from the controller's ``controller_gone``; it counts only for
    the lock of that very run (the lock may have changed hands since the controller looked).
    """
    if lock is None:
        return "the lock file is not a lock (empty or not JSON)"
    pid = lock.get("pid")
    if lock.get("node") == node and isinstance(pid, int) and pid > 0 and not alive(pid):
        return "its process %d on %s is gone" % (pid, node)
    if gone and gone.get("run_id") and gone.get("run_id") == lock.get("run_id"):
        return str(gone.get("reason") or "its controller run is gone")
    started = lock.get("started")
    if stale_after > 0 and isinstance(started, (int, float)) and now - started > stale_after:
        return "it is %d s old (stale after %d s)" % (int(now - started), stale_after)
    return None


def describe(lock: Dict[str, Any]) -> str:
    pid = lock.get("pid") or 0
    ctl = lock.get("controller") if isinstance(lock.get("controller"), dict) else {}
    return "run %s of %s%s%s since %s" % (
        lock.get("run_id"), lock.get("owner") or "unknown owner",
        " (pid %s on %s)" % (pid, lock.get("node")) if pid else "",
        " (ansible-playbook pid %s on controller %s)" % (ctl.get("pid"), ctl.get("node")) if ctl.get("pid") else "",
        lock.get("started_text") or lock.get("started"))


def refusal(path: str, lock: Dict[str, Any]) -> str:
    return ("%s: this host is locked by %s. Another iser.ofed site run is in progress here; wait for it to "
            "finish. If that run is gone, remove %s (or run with iser_ofed_site_break_lock=true)."
            % (path, describe(lock), path))


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise


def _create(path: str, lock: Dict[str, Any]) -> bool:
    """Create the lock file exclusively; False when it already exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return False
        raise
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(lock, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return True


def acquire(state_dir: str, run_id: str, owner: str, pid: int, node: str, now: float, stale_after: int,
            break_lock: bool = False, check_mode: bool = False,
            alive: Callable[[int], bool] = pid_alive, controller: Optional[Dict[str, Any]] = None,
            gone: Optional[Dict[str, Any]] = None) -> Tuple[bool, Dict[str, Any], Optional[str]]:
    """Take the lock for ``run_id``: ``(changed, lock, taken_over)``; raises LockError when held by another run.

    ``taken_over`` says whose stale (or broken) lock was replaced. In check mode nothing is written and the
    answer says what would happen (a held lock still refuses).
    """
    path = lock_path(state_dir)
    mine = new_lock(run_id, owner, node, pid, now, controller)
    for _attempt in range(3):
        text = _read(path)
        if text is None:
            if check_mode:
                return True, mine, None
            if not os.path.isdir(state_dir):
                os.makedirs(state_dir, 0o700)
            if _create(path, mine):
                return True, mine, None
            continue  # someone created it between the read and the create: look again
        held = parse_lock(text)
        if held is not None and held.get("run_id") == run_id:
            return False, held, None
        reason = stale_reason(held, node, now, stale_after, alive, gone)
        if reason is None and not break_lock:
            raise LockError(refusal(path, held), held)  # type: ignore[arg-type]
        taken = "%s (%s)" % (describe(held) if held else "unreadable lock",
                             reason or "broken on request: iser_ofed_site_break_lock")
        if check_mode:
            return True, mine, taken
        # Remove only the file we judged: if it changed meanwhile, judge again.
        if _read(path) != text:
            continue
        try:
            os.unlink(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
        if _create(path, mine):
            return True, mine, taken
    raise LockError("%s: could not take the lock, other runs keep changing it" % path)


def release(state_dir: str, run_id: str, check_mode: bool = False) -> Tuple[bool, Optional[Dict[str, Any]], str]:
    """Remove the lock when ``run_id`` holds it: ``(changed, lock found, message)``. Another run's lock stays."""
    path = lock_path(state_dir)
    text = _read(path)
    if text is None:
        return False, None, "no lock"
    held = parse_lock(text)
    if held is None or held.get("run_id") != run_id:
        return False, held, "the lock belongs to %s: left in place" % (describe(held) if held else "nobody (unreadable)")
    if not check_mode:
        os.unlink(path)
    return True, held, "released"
