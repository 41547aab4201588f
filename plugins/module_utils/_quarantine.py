# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Manifest-backed quarantine of distro (stock) kernel module directories, for ``iser.ofed.stock_modules``.

Layout: ``<state_dir>/quarantine/<kver>/manifest.json`` and the moved tree under ``files/`` with the same
relative paths as below ``/lib/modules/<kver>`` (``files/kernel/drivers/infiniband/core/ib_core.ko``).

Manifest (JSON, format 1): ``state`` is ``pending`` (written before the first file moves), ``complete``
(every file in the quarantine), ``restoring`` (written before the first file moves back) or ``restored`` (every
file back, the ``files/`` tree removed: the manifest stays as the record of what was restored). ``entries``
lists every directory (mode, uid, gid), regular file (mode, uid, gid, size, sha256) and symlink (target, uid,
gid). ``todo`` lists the follow-up steps (``depmod``, ``initramfs``) not yet done, so a run killed after the
move still runs them next time.

Crash safety: every step is "bring this entry to the side where it belongs", decided from what exists on each
side and checked against the manifest's sha256, so a re-run after a kill at any point finishes the move (or,
with ``restored``, undoes it). A file whose checksum does not match at either place is a hard error that leaves
both copies in place. Files that reappear at the source after a ``complete`` quarantine (a reinstalled kernel
package) make ``quarantined`` refuse, naming them: nothing is overwritten, nothing is guessed.
"""
from __future__ import annotations

import datetime
import errno
import hashlib
import json
import os
import stat

from ansible_collections.iser.ofed.plugins.module_utils._interlocks import (
    default_route_devs_from_proc, interface_modules, interfaces_for_address, ssh_local_address, ssh_socket_addresses)
from ansible_collections.iser.ofed.plugins.module_utils._kernel import OFED_MODULE_DIRS
from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import is_module_file, module_name_from_path

MANIFEST_FORMAT = 1
DEFAULT_DIRS = (
    "kernel/drivers/infiniband",
    "kernel/drivers/net/mlx4",
    "kernel/drivers/net/ethernet/mellanox/mlx4",
    "kernel/drivers/net/ethernet/mellanox/mlx5",
)
TMP_SUFFIX = ".iser-ofed-tmp"
_CHUNK = 1024 * 1024


class QuarantineError(Exception):
    """A refusal or a hard error; ``details`` go into the module's fail_json."""

    def __init__(self, msg: str, **details):
        super().__init__(msg)
        self.details = details


# ---------------------------------------------------------------------------------------------------- input


def validate_dirs(dirs: list[str]) -> list[str]:
    """Normalize the ``dirs`` option; refuse paths outside ``kernel/``, with ``..``, or under updates/extra."""
    out: list[str] = []
    for raw in dirs:
        rel = (raw or "").strip().rstrip("/")
        hint = ("dirs: %r: give a directory relative to /lib/modules/<kernel> below kernel/, such as "
                "kernel/drivers/infiniband" % raw)
        if not rel:
            raise QuarantineError("%s (empty entry)" % hint)
        if rel.startswith("/"):
            raise QuarantineError("%s (absolute paths are not accepted)" % hint)
        parts = rel.split("/")
        if ".." in parts or "." in parts or "" in parts:
            raise QuarantineError("%s ('.', '..' and '//' are not accepted)" % hint)
        for ofed in OFED_MODULE_DIRS:
            if rel == ofed or rel.startswith(ofed + "/"):
                raise QuarantineError("dirs: %r is under %s/, where OFED and DKMS install their modules: this "
                                      "module never touches it. Remove the entry; list stock directories below "
                                      "kernel/ only" % (raw, ofed))
        if parts[0] != "kernel" or len(parts) < 2:
            raise QuarantineError("%s (only stock module directories below kernel/ can be quarantined)" % hint)
        if rel not in out:
            out.append(rel)
    # an entry below another entry is covered by it
    return [rel for rel in out if not any(rel.startswith(other + "/") for other in out)]


def under(rel: str, dirs: list[str]) -> bool:
    """True when ``rel`` is one of ``dirs`` or below one of them."""
    return any(rel == d or rel.startswith(d + "/") for d in dirs)


# ---------------------------------------------------------------------------------------------------- files


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe(base: str, rel: str, with_hash: bool = True) -> dict:
    """Manifest entry of ``base/rel`` (lstat: symlinks are recorded as links, never followed)."""
    full = os.path.join(base, rel)
    st = os.lstat(full)
    entry: dict = {"path": rel, "uid": st.st_uid, "gid": st.st_gid}
    if stat.S_ISLNK(st.st_mode):
        entry.update(type="link", target=os.readlink(full))
    elif stat.S_ISDIR(st.st_mode):
        entry.update(type="dir", mode=stat.S_IMODE(st.st_mode))
    elif stat.S_ISREG(st.st_mode):
        entry.update(type="file", mode=stat.S_IMODE(st.st_mode), size=st.st_size,
                     sha256=sha256_file(full) if with_hash else None)
    else:
        raise QuarantineError("%s is neither a file, a directory nor a symlink: refusing to move it; remove it "
                              "or leave its directory out of dirs" % full)
    return entry


def scan(base: str, rels: list[str], with_hash: bool = True) -> list[dict]:
    """Entries of every directory, file and symlink below ``base/<rel>`` (the top directories included)."""
    entries: list[dict] = []
    for top in rels:
        if not os.path.isdir(os.path.join(base, top)) or os.path.islink(os.path.join(base, top)):
            continue
        entries.append(describe(base, top, with_hash))
        for dirpath, dirnames, filenames in os.walk(os.path.join(base, top)):
            reldir = os.path.relpath(dirpath, base)
            for name in sorted(dirnames) + sorted(filenames):
                entries.append(describe(base, os.path.join(reldir, name), with_hash))
            dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
    return entries


def module_names(entries: list[dict]) -> set[str]:
    return {module_name_from_path(e["path"]) for e in entries if e["type"] == "file" and is_module_file(e["path"])}


def staged_module_names(modules_dir: str) -> set[str]:
    """Names of module files under ``updates/`` and ``extra/`` (OFED's replacements, staged or installed)."""
    names: set[str] = set()
    for top in ("updates", "extra"):
        for _dirpath, _dirnames, filenames in os.walk(os.path.join(modules_dir, top)):
            names.update(module_name_from_path(n) for n in filenames if is_module_file(n))
    return names


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: str, data: dict) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, rename, fsync dir."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = path + TMP_SUFFIX
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path))


def load_manifest(path: str) -> dict | None:
    """The manifest at ``path``; None when absent; QuarantineError when unreadable or not ours."""
    if not os.path.lexists(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise QuarantineError("quarantine manifest %s is unreadable or corrupt (%s): nothing was changed. Inspect "
                              "it and the files/ tree next to it; do not delete either" % (path, exc))
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(
            data.get("entries"), list) or data.get("state") not in ("pending", "complete", "restoring", "restored"):
        raise QuarantineError("quarantine manifest %s is not a format-%d iser.ofed manifest: nothing was changed"
                              % (path, MANIFEST_FORMAT))
    return data


def copy_across(src: str, dst: str, sha256: str | None) -> None:
    """Move across file systems: copy to a temp name, fsync, verify sha256, rename into place, unlink ``src``."""
    tmp = dst + TMP_SUFFIX
    if os.path.lexists(tmp):
        os.unlink(tmp)
    if os.path.islink(src):
        os.symlink(os.readlink(src), tmp)
    else:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            for chunk in iter(lambda: fin.read(_CHUNK), b""):
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        os.chmod(tmp, stat.S_IMODE(os.lstat(src).st_mode))
        got = sha256_file(tmp)
        if sha256 is not None and got != sha256:
            os.unlink(tmp)
            raise QuarantineError("copy of %s to %s has sha256 %s, the manifest says %s: the source is left in "
                                  "place" % (src, dst, got, sha256))
    os.rename(tmp, dst)
    _fsync_dir(os.path.dirname(dst))
    os.unlink(src)


def move_file(src: str, dst: str, sha256: str | None = None) -> None:
    """Move one file or symlink: ``os.rename`` on one file system, else :func:`copy_across`."""
    os.makedirs(os.path.dirname(dst), mode=0o700, exist_ok=True)
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy_across(src, dst, sha256)


# ---------------------------------------------------------------------------------------------------- moves


def _matches(path: str, entry: dict) -> bool:
    if entry["type"] == "link":
        return os.path.islink(path) and os.readlink(path) == entry["target"]
    return os.path.isfile(path) and not os.path.islink(path) and sha256_file(path) == entry["sha256"]


def _mismatch(path: str, entry: dict) -> str:
    if entry["type"] == "link":
        return "%s should be a symlink to %s" % (path, entry["target"])
    got = sha256_file(path) if os.path.isfile(path) and not os.path.islink(path) else "not a regular file"
    return "%s has sha256 %s, the manifest says %s" % (path, got, entry["sha256"])


def place(entry: dict, want_root: str, other_root: str) -> bool:
    """Bring one file/link entry to ``want_root``; True when something changed. Never loses a copy."""
    want = os.path.join(want_root, entry["path"])
    other = os.path.join(other_root, entry["path"])
    at_want, at_other = os.path.lexists(want), os.path.lexists(other)
    if at_want and at_other:
        if _matches(want, entry) and _matches(other, entry):
            os.unlink(other)  # a move interrupted after the copy: both copies are identical
            return True
        raise QuarantineError("%s exists at both places and they differ from the manifest: both copies are left "
                              "in place; compare them and remove the wrong one by hand (%s; %s)"
                              % (entry["path"], _mismatch(want, entry) if not _matches(want, entry) else want + " ok",
                                 _mismatch(other, entry) if not _matches(other, entry) else other + " ok"),
                              path=entry["path"])
    if at_want:
        if not _matches(want, entry):
            raise QuarantineError("checksum mismatch: %s; the file is left in place" % _mismatch(want, entry),
                                  path=entry["path"])
        return False
    if at_other:
        if not _matches(other, entry):
            raise QuarantineError("checksum mismatch: %s; the file is left in place" % _mismatch(other, entry),
                                  path=entry["path"])
        move_file(other, want, entry.get("sha256"))
        return True
    raise QuarantineError("%s is missing at both %s and %s: the manifest cannot be honoured" % (
        entry["path"], want_root, other_root), path=entry["path"])


def _apply_owner_mode(path: str, entry: dict) -> None:
    st = os.lstat(path)
    if (st.st_uid, st.st_gid) != (entry["uid"], entry["gid"]):
        os.lchown(path, entry["uid"], entry["gid"])
    if entry["type"] != "link" and stat.S_IMODE(st.st_mode) != entry["mode"]:
        os.chmod(path, entry["mode"])


def _remove_empty_dirs(base: str, rels: list[str]) -> None:
    """rmdir ``base/<rel>`` deepest first; a directory that is not empty stays (nothing is deleted)."""
    for rel in sorted(set(rels), key=lambda r: -r.count("/")):
        try:
            os.rmdir(os.path.join(base, rel))
        except OSError:
            pass


def counts(entries: list[dict]) -> tuple[int, int]:
    items = [e for e in entries if e["type"] != "dir"]
    return len(items), sum(e.get("size") or 0 for e in items)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Quarantine:
    """The quarantine of one kernel: ``modules_dir`` (source) and ``qdir`` (``<state_dir>/quarantine/<kver>``)."""

    def __init__(self, modules_dir: str, qdir: str, kernel: str):
        self.modules_dir = modules_dir
        self.qdir = qdir
        self.kernel = kernel
        self.files_dir = os.path.join(qdir, "files")
        self.manifest_path = os.path.join(qdir, "manifest.json")

    def load(self) -> dict | None:
        return load_manifest(self.manifest_path)

    def save(self, manifest: dict) -> None:
        manifest["updated"] = _now()
        write_json_atomic(self.manifest_path, manifest)

    def reappeared(self, manifest: dict | None) -> list[str]:
        """Files/links at the source under the dirs of a ``complete`` manifest."""
        if not manifest or manifest["state"] != "complete":
            return []
        return [e["path"] for e in scan(self.modules_dir, manifest["dirs"], with_hash=False) if e["type"] != "dir"]

    def plan_quarantine(self, manifest: dict | None, to_move: list[str], with_hash: bool) -> dict:
        """What ``quarantined`` does: ``{dirs, new_dirs, entries, pending, changed}`` (no file touched).

        ``to_move`` are the directories that exist at the source and are not kept. ``pending`` are the entries
        that still have a copy at the source.
        """
        fresh = manifest is None or manifest["state"] == "restored"
        old_dirs = [] if fresh else list(manifest["dirs"])
        old = {} if fresh else {e["path"]: e for e in manifest["entries"]}
        gone = self.reappeared(None if fresh else manifest)
        if gone:
            raise QuarantineError(
                "%d file(s) reappeared at the source after the quarantine of %s was completed (a reinstalled or "
                "updated kernel package?): %s. Nothing was changed. Restore first (state: restored; identical "
                "files are reconciled, different ones are reported), or move the new files aside yourself"
                % (len(gone), self.kernel, ", ".join(gone[:10]) + (" ..." if len(gone) > 10 else "")),
                reappeared=gone)
        new_dirs = [d for d in to_move if not under(d, old_dirs)]
        if fresh or manifest["state"] == "complete":
            scan_dirs = new_dirs
        else:  # an interrupted run (pending, or restoring): finish what it started, whatever the rules say now
            scan_dirs = old_dirs + new_dirs
        entries = dict(old)
        for entry in scan(self.modules_dir, scan_dirs, with_hash):
            # the manifest's record is the truth for a copy already in the quarantine
            if entry["path"] not in old or not os.path.lexists(os.path.join(self.files_dir, entry["path"])):
                entries[entry["path"]] = entry
        ordered = sorted(entries.values(), key=lambda e: e["path"])
        pending = [e for e in ordered if e["type"] != "dir"
                   and os.path.lexists(os.path.join(self.modules_dir, e["path"]))]
        dirs = old_dirs + [d for d in new_dirs if d not in old_dirs]
        if fresh:
            changed = bool(ordered)
        else:
            changed = manifest["state"] != "complete" or bool(new_dirs) or bool(pending)
        return {"dirs": dirs, "new_dirs": new_dirs, "entries": ordered, "pending": pending, "changed": changed,
                "fresh": fresh}

    def quarantine(self, manifest: dict | None, plan: dict, extra: dict) -> dict:
        """Write the manifest (pending), move every entry, remove the emptied source dirs, mark complete."""
        if plan["fresh"] or manifest is None:
            manifest = {"format": MANIFEST_FORMAT, "kernel": self.kernel, "modules_dir": self.modules_dir,
                        "created": _now(), "todo": []}
        manifest.update(extra)
        manifest.update(state="pending", dirs=plan["dirs"], entries=plan["entries"])
        self.save(manifest)
        os.makedirs(self.files_dir, mode=0o700, exist_ok=True)
        dirs = [e for e in plan["entries"] if e["type"] == "dir"]
        for entry in dirs:
            os.makedirs(os.path.join(self.files_dir, entry["path"]), mode=0o700, exist_ok=True)
        moved = [e for e in plan["entries"] if e["type"] != "dir" and place(e, self.files_dir, self.modules_dir)]
        for entry in plan["entries"]:
            if entry["type"] != "dir":
                _fsync_dir(os.path.dirname(os.path.join(self.files_dir, entry["path"])))
        _remove_empty_dirs(self.modules_dir, [e["path"] for e in dirs])
        manifest["state"] = "complete"
        manifest["completed"] = _now()
        self.save(manifest)
        return {"moved_entries": moved}

    def verify(self, manifest: dict, base: str) -> list[str]:
        """Problems of the file/link entries at ``base`` (missing or checksum mismatch)."""
        problems = []
        for entry in manifest["entries"]:
            if entry["type"] == "dir":
                continue
            path = os.path.join(base, entry["path"])
            if not os.path.lexists(path):
                problems.append("%s is missing" % path)
            elif not _matches(path, entry):
                problems.append(_mismatch(path, entry))
        return problems

    def restore(self, manifest: dict, todo: list[str]) -> dict:
        """Every entry back at the source (verified), owners and modes restored, ``files/`` removed."""
        manifest["state"] = "restoring"
        manifest["todo"] = list(todo)
        self.save(manifest)
        dirs = sorted((e for e in manifest["entries"] if e["type"] == "dir"), key=lambda e: e["path"])
        for entry in dirs:
            os.makedirs(os.path.join(self.modules_dir, entry["path"]), mode=0o755, exist_ok=True)
        moved = []
        for entry in manifest["entries"]:
            if entry["type"] == "dir":
                continue
            if place(entry, self.modules_dir, self.files_dir):
                moved.append(entry)
            _apply_owner_mode(os.path.join(self.modules_dir, entry["path"]), entry)
        for entry in dirs:
            _apply_owner_mode(os.path.join(self.modules_dir, entry["path"]), entry)
            _fsync_dir(os.path.join(self.modules_dir, entry["path"]))
        problems = self.verify(manifest, self.modules_dir)
        if problems:
            raise QuarantineError("restore did not verify: %s; the quarantine is kept" % "; ".join(problems[:10]),
                                  problems=problems)
        _remove_empty_dirs(self.files_dir, [e["path"] for e in dirs])
        self._remove_files_root(manifest)
        manifest["state"] = "restored"
        manifest["restored"] = _now()
        self.save(manifest)
        return {"moved_entries": moved}

    def _remove_files_root(self, manifest: dict) -> None:
        """Remove the emptied ``files/`` tree (parents of the top dirs too); anything left in it stays."""
        parents = set()
        for rel in manifest["dirs"]:
            parts = rel.split("/")
            parents.update("/".join(parts[:i]) for i in range(1, len(parts)))
        _remove_empty_dirs(self.files_dir, sorted(parents))
        try:
            os.rmdir(self.files_dir)
        except OSError:
            pass


def dependents(dep_map: dict, moved_names: set, moved_dirs: list[str], replaced: set) -> list[dict]:
    """Modules outside ``moved_dirs`` that need a module that moves (and has no updates/extra replacement)."""
    lost = set(moved_names) - set(replaced)
    out = []
    for name, info in sorted(dep_map.items()):
        path = info["path"]
        if under(path, moved_dirs) or path.startswith(("updates/", "extra/")):
            continue
        needs = sorted(set(info["deps"]) & lost)
        if needs:
            out.append({"module": name, "path": path, "needs": needs})
    return out


def keep_decisions(modules_dir: str, to_move: list[str], mgmt: list[dict], staged: set, force: bool,
                   ) -> tuple[list[str], list[dict], list[str]]:
    """Split ``to_move`` by the management-NIC rule: ``(move, kept, warnings)``.

    A directory holding the module of a management interface's driver stays, unless every such module has an
    OFED replacement staged under updates/ or extra/ (``staged``), or ``force``.
    """
    move: list[str] = []
    kept: list[dict] = []
    warnings: list[str] = []
    for rel in to_move:
        names = module_names(scan(modules_dir, [rel], with_hash=False))
        hits = [(m, drv) for m in mgmt for drv in m.get("drivers", []) if drv in names]
        missing = sorted({drv for _m, drv in hits if drv not in staged})
        if not hits or not missing:
            move.append(rel)
            continue
        why = "; ".join("%s carries the management connection (%s) through driver %s"
                        % (m["interface"], m["reason"], drv) for m, drv in hits)
        if force:
            move.append(rel)
            warnings.append("force: moving %s although %s, and OFED's %s is not staged under updates/ or extra/: "
                            "the host may lose its network on the next boot" % (rel, why, ", ".join(missing)))
            continue
        kept.append({"dir": rel, "reason": "%s; OFED's replacement (%s) is not staged under updates/ or extra/ of "
                     "this kernel. Stage OFED first, or set force: true" % (why, ", ".join(missing))})
    return move, kept, warnings


def management_links(root: str, route_text: str | None, route6_text: str | None, environ: dict,
                     tcp_texts: list, ip_addr_json: str | None) -> list[dict]:
    """``[{interface, reason, drivers}]`` of the default routes and of the management (SSH) connection.

    The helpers are shared with ``ib_modules``' NIC interlock (``_interlocks``): default routes from
    ``/proc/net/route`` and ``/proc/net/ipv6_route``; the connection's local address from ``SSH_CONNECTION``, else
    from the established sockets on port 22 (``become`` drops the variable); its interface from ``ip -j addr``.
    """
    found: dict = {}
    for dev in default_route_devs_from_proc(route_text, route6_text):
        found.setdefault(dev, []).append("default route")
    local = ssh_local_address(environ)
    for addr in [local] if local else ssh_socket_addresses(tcp_texts):
        for dev in interfaces_for_address(ip_addr_json or "", addr) or []:
            found.setdefault(dev, []).append("management connection to %s" % addr)
    return [{"interface": dev, "reason": ", ".join(why), "drivers": interface_modules(root, dev)[0]}
            for dev, why in sorted(found.items())]


def initramfs_members(listing: str, kernel: str, rels: list[str]) -> list[str]:
    """Which ``rels`` (paths below /lib/modules/<kernel>) appear in an lsinitramfs/lsinitrd listing."""
    def norm(path: str) -> str:
        for suffix in (".xz", ".zst", ".gz"):
            if path.endswith(".ko" + suffix):
                return path[:-len(suffix)]
        return path

    wanted = {norm(r): r for r in rels}
    marker = "lib/modules/%s/" % kernel
    found = []
    for line in listing.splitlines():
        idx = line.find(marker)
        if idx < 0:
            continue
        fields = line[idx + len(marker):].split()
        rel = norm(fields[0]) if fields else ""
        if rel in wanted and wanted[rel] not in found:
            found.append(wanted[rel])
    return sorted(found)


def depmod_argv(modules_root: str, kernel: str) -> list[str] | None:
    """``depmod -a <kernel>``, with ``-b <base>`` when the tree is ``<base>/lib/modules``; None otherwise."""
    root = modules_root.rstrip("/") or "/"
    if root == "/lib/modules":
        return ["depmod", "-a", kernel]
    if root.endswith("/lib/modules"):
        return ["depmod", "-b", root[:-len("/lib/modules")], "-a", kernel]
    return None


def todo_after(state: str, old_todo: list[str], depmod: bool, initramfs: str, manifest: dict | None,
               contained: list[str]) -> list[str]:
    """Follow-up steps after files moved. ``quarantined``: initramfs when a moved file is in it (``auto``);
    ``restored``: when the quarantine rebuilt it or a moved file was in it."""
    if initramfs == "auto":
        if state == "quarantined":
            wanted = bool(contained)
        else:
            wanted = bool(manifest and (manifest.get("initramfs_rebuilt") or manifest.get("initramfs_contained")))
    else:
        wanted = initramfs == "always"
    todo = list(old_todo)
    for step, want in (("depmod", depmod), ("initramfs", wanted)):
        if want and step not in todo:
            todo.append(step)
    return todo


def summary(entries: list[dict], dirs: list[str], src: str, dst: str) -> dict:
    """``moved`` (dirs with something to move), ``files``, ``bytes`` and a before/after ``diff`` listing."""
    files, size = counts(entries)
    return {"moved": [d for d in dirs if any(under(e["path"], [d]) for e in entries)], "files": files,
            "bytes": size, "diff": {"before_header": src, "after_header": dst, "before": diff_listing(entries, src),
                                    "after": diff_listing(entries, dst)}}


def diff_listing(entries: list[dict], base: str) -> str:
    return "".join("%s%s\n" % (os.path.join(base, e["path"]), "/" if e["type"] == "dir" else "")
                   for e in entries)


__all__ = ["DEFAULT_DIRS", "MANIFEST_FORMAT", "Quarantine", "QuarantineError", "counts", "dependents", "depmod_argv",
           "diff_listing",
           "initramfs_members", "keep_decisions", "load_manifest", "management_links", "module_names", "move_file", "place", "scan",
           "sha256_file", "staged_module_names", "summary", "todo_after", "under", "validate_dirs",
           "write_json_atomic"]
