# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""What ``iser.ofed.stock_modules`` does, on a ``host`` object, so the detached on-host transaction
(``_detached``, module ``iser.ofed.site_detached``) runs the very same quarantine and restore.

``host`` gives: ``root`` (file-system root of ``/proc``, ``/sys``, ``/boot``; tests point it at a constructed
tree), ``check_mode``, ``diff``, ``environ`` (for ``SSH_CONNECTION``), ``warn(msg)``, ``which(tool)`` (path or
None) and ``run(argv)`` -> ``(rc, stdout, stderr)`` with ``LC_ALL=C``. Every failure raises
``_quarantine.QuarantineError`` with its details (the module turns it into ``fail_json``).
"""
from __future__ import annotations

import fcntl
import os

from ansible_collections.iser.ofed.plugins.module_utils import _quarantine as q
from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import parse_modules_dep


class ModuleHost:
    """``host`` through an AnsibleModule; ``root``: where /proc, /sys and /boot are read (tests point it at a
    constructed tree)."""

    def __init__(self, module, root: str = "/"):
        self.module = module
        self.root = root
        self.check_mode = module.check_mode
        self.diff = module._diff
        self.environ = os.environ

    def warn(self, msg: str) -> None:
        self.module.warn(msg)

    def which(self, tool: str):
        return self.module.get_bin_path(tool)

    def run(self, argv: list, cwd: str | None = None, env: dict | None = None):
        environ = {"LC_ALL": "C"}
        environ.update(env or {})
        # expand_user_and_vars=False: run_command would otherwise expand ~ and $NAME inside every word
        return self.module.run_command(argv, cwd=cwd, environ_update=environ, expand_user_and_vars=False)


def read(host, path: str, root: str | None = None) -> str | None:
    try:
        with open(os.path.join(root or host.root, path.lstrip("/")), encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def run(host, argv: list, fail: bool = True):
    """Run ``argv`` (its tool looked up on the host); a missing tool or a non-zero exit raises when ``fail``."""
    path = host.which(argv[0])
    if not path:
        if fail:
            raise q.QuarantineError("%s is not installed: cannot run %s" % (argv[0], " ".join(argv)))
        return None
    rc, out, err = host.run([path] + list(argv[1:]))
    if rc != 0 and fail:
        raise q.QuarantineError("%s failed (rc=%d); the manifest keeps this step to retry on the next run"
                                % (" ".join(argv), rc), rc=rc, stdout=out, stderr=err, cmd=argv)
    return rc, out, err


def initramfs_tool(host, kernel: str):
    """``(list_argv, rebuild_argv, image)`` for update-initramfs or dracut; None when neither is installed."""
    if host.which("update-initramfs"):
        image = "/boot/initrd.img-%s" % kernel
        return ["lsinitramfs", image], ["update-initramfs", "-u", "-k", kernel], image
    if host.which("dracut"):
        image = "/boot/initramfs-%s.img" % kernel
        return ["lsinitrd", image], ["dracut", "-f", "--kver", kernel], image
    return None


def initramfs_contains(host, kernel: str, rels: list) -> list:
    tool = initramfs_tool(host, kernel)
    if tool is None or not os.path.exists(os.path.join(host.root, tool[2].lstrip("/"))):
        return []
    res = run(host, tool[0], fail=False)
    if res is None or res[0] != 0:
        host.warn("cannot list %s; rebuilding it to be safe" % tool[2])
        return list(rels)
    return q.initramfs_members(res[1], kernel, rels)


def management(host) -> list:
    ip_json = run(host, ["ip", "-j", "addr"], fail=False)
    return q.management_links(host.root, read(host, "/proc/net/route"), read(host, "/proc/net/ipv6_route"),
                              dict(host.environ), [read(host, "/proc/net/tcp"), read(host, "/proc/net/tcp6")],
                              ip_json[1] if ip_json and ip_json[0] == 0 else None)


def take_lock(directory: str):
    """One run at a time per host: an exclusive flock on ``<state_dir>/quarantine/.lock``."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    lock = open(os.path.join(directory, ".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise q.QuarantineError("another stock_modules run holds %s/.lock: wait for it to finish" % directory)
    return lock


def new_result(manifest_path: str) -> dict:
    return dict(changed=False, moved=[], kept=[], files=0, bytes=0, manifest=manifest_path, dependents=[],
                dependents_detail=[], depmod_ran=False, initramfs_rebuilt=False)


def post_steps(host, quar, manifest: dict, result: dict, p: dict) -> None:
    """Run the manifest's ``todo`` (depmod, initramfs), each recorded as done as soon as it succeeded."""
    for step in list(manifest.get("todo", [])):
        if step == "depmod":
            argv = q.depmod_argv(p["modules_root"], p["kernel"])
            if argv:
                run(host, argv)
                result["depmod_ran"] = True
            else:
                host.warn("modules_root %s does not end in /lib/modules: run depmod yourself" % p["modules_root"])
        elif step == "initramfs":
            tool = initramfs_tool(host, p["kernel"])
            if tool is None:
                raise q.QuarantineError("neither update-initramfs nor dracut is installed: cannot rebuild the "
                                        "initramfs of %s; install one, or set initramfs: never" % p["kernel"])
            run(host, tool[1])
            result["initramfs_rebuilt"] = True
            manifest["initramfs_rebuilt"] = p["state"] == "quarantined"
        manifest["todo"].remove(step)
        quar.save(manifest)
        result["changed"] = True


def quarantined(host, quar, manifest, dirs: list, result: dict, p: dict) -> None:
    existing = [d for d in dirs if os.path.isdir(os.path.join(quar.modules_dir, d))]
    staged = q.staged_module_names(quar.modules_dir)
    to_move, result["kept"], warnings = q.keep_decisions(quar.modules_dir, existing, management(host),
                                                         staged, p["force"])
    for warning in warnings:
        host.warn(warning)
    plan = quar.plan_quarantine(manifest, to_move, with_hash=not host.check_mode)
    dep_text = read(host, os.path.join(quar.modules_dir, "modules.dep"), root="/")
    if dep_text is None:
        host.warn("%s/modules.dep is missing or unreadable: dependents are not known" % quar.modules_dir)
    detail = q.dependents(parse_modules_dep(dep_text or "")[0], q.module_names(plan["entries"]), plan["dirs"],
                          staged)
    if manifest and manifest["state"] != "restored":
        known = {d["module"] for d in detail}
        detail += [d for d in manifest.get("dependents", []) if d["module"] not in known]
    result["dependents_detail"] = sorted(detail, key=lambda d: d["module"])
    result["dependents"] = [d["module"] for d in result["dependents_detail"]]
    summary = q.summary(plan["pending"], plan["dirs"], quar.modules_dir, quar.files_dir)
    result.update(moved=summary["moved"], files=summary["files"], bytes=summary["bytes"],
                  state=manifest["state"] if manifest else "absent")
    if host.diff and plan["changed"]:
        result["diff"] = summary["diff"]
    fresh = not manifest or manifest["state"] == "restored"
    if plan["changed"]:
        rels = [e["path"] for e in plan["pending"] if e["type"] == "file"]
        contained = []
        if p["initramfs"] != "never" and rels:
            contained = initramfs_contains(host, p["kernel"], rels)
        if not fresh:
            contained = sorted(set(contained) | set(manifest.get("initramfs_contained", [])))
        todo = q.todo_after("quarantined", [] if fresh else manifest.get("todo", []), p["depmod"], p["initramfs"],
                            manifest, contained)
        result["changed"] = True
        result["state"] = "complete"
        if host.check_mode:
            return
        quar.quarantine(manifest, plan, {"todo": todo, "initramfs_contained": contained,
                                         "dependents": result["dependents_detail"]})
        manifest = quar.load()
    if manifest and not host.check_mode:
        if manifest["state"] == "complete" and not plan["changed"]:
            problems = quar.verify(manifest, quar.files_dir)
            if problems:
                raise q.QuarantineError("the quarantine does not match its manifest: %s" % "; ".join(problems[:10]),
                                        problems=problems)
        post_steps(host, quar, manifest, result, p)
    elif manifest and manifest.get("todo"):
        result["changed"] = True


def restored(host, quar, manifest, result: dict, p: dict) -> None:
    if manifest is None:
        result["state"] = "absent"
        return
    result["dependents_detail"] = manifest.get("dependents", [])
    result["dependents"] = [d["module"] for d in result["dependents_detail"]]
    result["state"] = manifest["state"]
    if manifest["state"] != "restored":
        back = [e for e in manifest["entries"] if e["type"] != "dir"
                and not os.path.lexists(os.path.join(quar.modules_dir, e["path"]))]
        summary = q.summary(back, manifest["dirs"], quar.files_dir, quar.modules_dir)
        result.update(moved=summary["moved"], files=summary["files"], bytes=summary["bytes"])
        if host.diff:
            result["diff"] = summary["diff"]
        todo = q.todo_after("restored", [], p["depmod"], p["initramfs"], manifest, [])
        result["changed"] = True
        result["state"] = "restored"
        if host.check_mode:
            return
        quar.restore(manifest, todo)
    elif host.check_mode:
        result["changed"] = bool(manifest.get("todo"))
        return
    post_steps(host, quar, manifest, result, p)


def apply(host, p: dict) -> dict:
    """``stock_modules`` for the parameters ``p`` (``state``, ``kernel``, ``dirs``, ``state_dir``, ``depmod``,
    ``initramfs``, ``force``, ``modules_root``); returns the result, raises ``QuarantineError`` (with
    ``details['result']`` holding the result so far)."""
    modules_dir = os.path.join(p["modules_root"], p["kernel"])
    qdir = os.path.join(p["state_dir"], "quarantine", p["kernel"])
    quar = q.Quarantine(modules_dir, qdir, p["kernel"])
    result = new_result(quar.manifest_path)
    lock = None
    try:
        dirs = q.validate_dirs(p["dirs"])
        if not os.path.isdir(modules_dir):
            raise q.QuarantineError("%s does not exist: kernel %s is not installed (option kernel)"
                                    % (modules_dir, p["kernel"]))
        if not host.check_mode:
            lock = take_lock(os.path.dirname(qdir))
        manifest = quar.load()
        if p["state"] == "quarantined":
            quarantined(host, quar, manifest, dirs, result, p)
        else:
            restored(host, quar, manifest, result, p)
    except q.QuarantineError as exc:
        exc.details = dict(result, **exc.details)
        raise
    finally:
        if lock is not None:
            lock.close()
    return result
