# SPDX-License-Identifier: GPL-3.0-or-later
"""Kill a running iser.ofed.stock_modules half-way, ON the VM (molecule/vm/side_effect.yml).

Waits for the module's process (an AnsiballZ_stock_modules Python started with `async`), then for its
quarantine manifest to say the transaction is open (state ``pending``: files moving; or ``complete`` with
follow-up steps in ``todo``: depmod/initramfs still to do; a manifest left ``restored`` by an earlier
rollback does not count), and sends SIGKILL to the process and every descendant (depmod, update-initramfs), by pid,
as a power cut would. Records what it saw in <evidence>/kill.json; verify decides whether that was half-way.

  kill_midway.py --qdir <state_dir>/quarantine/<kver> [--timeout 300] [--evidence DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

MARK = b"AnsiballZ_stock_modules"


def module_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        # The Python that runs the module, not a shell or the async wrapper around it.
        if argv and b"python" in os.path.basename(argv[0]) and any(MARK in a for a in argv[1:]) \
                and not any(b"async_wrapper" in a for a in argv):
            pids.append(int(entry))
    return pids


def descendants(pid: int) -> list[int]:
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, encoding="utf-8") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            out.append(child)
            queue.append(child)
    return out


def manifest_open(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError):
        return False
    return manifest.get("state") == "pending" or (manifest.get("state") == "complete" and bool(manifest.get("todo")))


def count_files(top: str) -> int:
    return sum(len(files) for _root, _dirs, files in os.walk(top))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--qdir", required=True)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--evidence", default="/root/iser-ofed-evidence")
    args = parser.parse_args()
    manifest_path = os.path.join(args.qdir, "manifest.json")
    deadline = time.monotonic() + args.timeout
    result = {"killed": False, "pid": None, "seen_process": False}
    while time.monotonic() < deadline:
        pids = module_pids()
        if pids:
            result["seen_process"] = True
            result["pid"] = pids[0]
            if manifest_open(manifest_path):
                victims = [pids[0]] + descendants(pids[0])
                result["victim_cmdlines"] = []
                for pid in victims:
                    try:
                        with open("/proc/%d/cmdline" % pid, "rb") as handle:
                            result["victim_cmdlines"].append(handle.read().replace(b"\0", b" ").decode()[:200])
                    except OSError:
                        pass
                for pid in victims:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                result["killed"] = True
                break
        elif result["seen_process"]:
            break  # the module finished before the manifest could be seen
        time.sleep(0.005)
    time.sleep(0.5)
    try:
        with open(manifest_path, encoding="utf-8") as handle:
            manifest = json.load(handle)
        result["manifest_state"] = manifest.get("state")
        result["manifest_todo"] = manifest.get("todo")
    except (OSError, ValueError) as exc:
        result["manifest_error"] = str(exc)
    result["files_in_quarantine"] = count_files(os.path.join(args.qdir, "files"))
    os.makedirs(args.evidence, exist_ok=True)
    with open(os.path.join(args.evidence, "kill.json"), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1, sort_keys=True)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
