# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Unloading and loading kernel modules, one at a time, re-reading ``/proc/modules`` after each.

Shared by ``iser.ofed.ib_modules`` and the detached on-host transaction (``_detached``). The host comes in as
three callables, so tests drive them with constructed data:

* ``which(tool)``: path of ``modprobe``/``rmmod`` or None;
* ``run(argv)``: ``(rc, stdout, stderr)`` (with ``LC_ALL=C``);
* ``read_loaded()``: the parsed ``/proc/modules`` (``_proc_modules.parse_proc_modules``), or None.
"""
from __future__ import annotations

from ansible_collections.iser.ofed.plugins.module_utils._unload_plan import live_holders, load_plan, unload_order


def loaded_names(read_loaded) -> set:
    return {m["name"] for m in read_loaded() or []}


def remove_one(which, run, read_loaded, name: str) -> tuple:
    """Try ``modprobe -r`` then ``rmmod``; ``(gone, commands, stderr)``."""
    tried, errors = [], []
    for tool, argv in (("modprobe", ["-r", name]), ("rmmod", [name])):
        path = which(tool)
        if not path:
            continue
        rc, _out, err = run([path] + argv)
        tried.append(" ".join([path] + argv))
        errors.append((err or "").strip())
        if rc == 0 and name not in loaded_names(read_loaded):
            return True, tried, ""
    return False, tried, "; ".join(e for e in errors if e) or "no modprobe or rmmod found, or both left it loaded"


def unload_in_order(which, run, read_loaded, plan: list, dep_map: dict, done: list, collateral: list) -> dict | None:
    """Unload ``plan`` in its order, extending ``done`` (with what ``modprobe -r`` took along, in holder order)
    and ``collateral`` (those outside the plan). Returns None, or at the first failure
    ``{failed_module, cmd, stderr}`` (the modules after it are left loaded)."""
    for name in plan:
        snapshot = read_loaded() or []
        before = {m["name"] for m in snapshot}
        if name not in before:
            continue
        gone, cmds, err = remove_one(which, run, read_loaded, name)
        after = loaded_names(read_loaded)
        # what modprobe -r took with it, in an order consistent with the holders it had
        extra = unload_order(before - after - {name} - set(done), live_holders(snapshot), dep_map)[0]
        done.extend(([name] if gone else []) + extra)
        collateral.extend(e for e in extra if e not in plan)
        if not gone:
            return {"failed_module": name, "cmd": cmds, "stderr": err}
    return None


def load_in_order(which, run, read_loaded, wanted: list, done: list) -> dict | None:
    """``modprobe`` each module of ``wanted`` that is not loaded, in order, extending ``done``. Returns None,
    or at the first failure ``{failed_module, rc, cmd, stdout, stderr}``."""
    modprobe = which("modprobe")
    for name in load_plan(wanted, loaded_names(read_loaded)):
        if not modprobe:
            return {"failed_module": name, "rc": None, "cmd": ["modprobe", name], "stdout": "",
                    "stderr": "modprobe is not installed"}
        cmd = [modprobe, name]
        rc, out, err = run(cmd)
        if rc == 0 and name in loaded_names(read_loaded):
            done.append(name)
            continue
        return {"failed_module": name, "rc": rc, "cmd": cmd, "stdout": out, "stderr": err}
    return None
