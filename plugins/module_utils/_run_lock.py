# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""The per-host run lock of the ``site`` playbook: ``<state_dir>/site.lock``.

One run at a time per host, whoever starts it (ansible-playbook, AWX/Tower). The lock file is created with
``O_CREAT | O_EXCL`` (atomic on a local filesystem) and holds one JSON object::

    {"run_id": "...", "owner": "alice@ctl", "node": "<host's nodename>", "pid": 1234,
     "started": 1764070000, "started_text": "2026-11-25T12:00:00Z"}

``pid``/``node`` name the process holding the lock: the controller's run has no process on the host, so its
pid is the one the caller gives (0: none). A lock is stale, and taken over, when

- its ``node`` is this host and its ``pid`` (not 0) is no longer alive, or
- it is older than ``stale_after`` seconds (0: never by age), or
- its content is not a lock at all (empty or garbage: a crash between create and write).

Acquiring a lock this run already holds (same ``run_id``) changes nothing; releasing removes the file only
when it belongs to the given ``run_id``. Pure functions take ``now``/``node``/``alive`` so they test without
clocks or processes.
"""
from __future__ import annotations

import errno
import json
import os
import time
from typing import Any, Callable, Dict, Optional, Tuple

LOCK_NAME = "site.lock"


class LockError(Exception):
    """The lock is held by another run (or cannot be taken)."""


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


def new_lock(run_id: str, owner: str, node: str, pid: int, now: float) -> Dict[str, Any]:
    return {"run_id": run_id, "owner": owner, "node": node, "pid": int(pid),
            "started": int(now), "started_text": iso(now)}


def stale_reason(lock: Optional[Dict[str, Any]], node: str, now: float, stale_after: int,
                 alive: Callable[[int], bool] = pid_alive) -> Optional[str]:
    """Why this lock no longer counts, or None when it is live."""
    if lock is None:
        return "the lock file is not a lock (empty or not JSON)"
    pid = lock.get("pid")
    if lock.get("node") == node and isinstance(pid, int) and pid > 0 and not alive(pid):
        return "its process %d on %s is gone" % (pid, node)
    started = lock.get("started")
    if stale_after > 0 and isinstance(started, (int, float)) and now - started > stale_after:
        return "it is %d s old (stale after %d s)" % (int(now - started), stale_after)
    return None


def describe(lock: Dict[str, Any]) -> str:
    pid = lock.get("pid") or 0
    return "run %s of %s%s since %s" % (
        lock.get("run_id"), lock.get("owner") or "unknown owner",
        " (pid %s on %s)" % (pid, lock.get("node")) if pid else "",
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
            alive: Callable[[int], bool] = pid_alive) -> Tuple[bool, Dict[str, Any], Optional[str]]:
    """Take the lock for ``run_id``: ``(changed, lock, taken_over)``; raises LockError when held by another run.

    ``taken_over`` says whose stale (or broken) lock was replaced. In check mode nothing is written and the
    answer says what would happen (a held lock still refuses).
    """
    path = lock_path(state_dir)
    mine = new_lock(run_id, owner, node, pid, now)
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
        reason = stale_reason(held, node, now, stale_after, alive)
        if reason is None and not break_lock:
            raise LockError(refusal(path, held))  # type: ignore[arg-type]
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
