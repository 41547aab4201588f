# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""What SCST's ``make install`` put in place, and how to take it away again.

SCST's Makefiles have ``uninstall`` targets, but they remove fixed names (and whole directories such as
``$(PREFIX)/include/scst``) whatever was there before, so they are not trusted for a rollback. Instead the
role runs the same install targets with ``DESTDIR=<stage>`` first: the staged tree names every file the real
install writes (host path = the path below the stage). Before the real install, every host file at one of
those paths is backed up (it would be overwritten); after it, each file's sha256 is recorded. The manifest
(path, sha256, previous) goes into the journal; a rollback removes a file that still has the recorded
sha256, or puts the backup back when there was a file before, and leaves alone a file changed since.

Pure functions: which staged paths count (depmod's own output is regenerated, not installed), the manifest
entries with what they replaced (carried over from the last manifest when this run overwrites the
collection's own earlier install), and the rollback plan.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

# depmod writes these next to the modules; the rollback runs depmod again instead of restoring them.
_DEPMOD_OUTPUT = re.compile(r"(?:^|/)lib/modules/[^/]+/modules\.[A-Za-z.]+$")


def staged_paths(entries: Sequence[Tuple[str, str]]) -> Tuple[List[str], List[str]]:
    """``entries`` are (path relative to the stage root, kind) with kind ``file``, ``link`` or ``dir``.
    Returns the host paths of the files and links (sorted), and of the directories (sorted, parents
    first), depmod's output files left out."""
    files, dirs = [], []
    for rel, kind in entries:
        rel = rel.strip("/")
        if not rel:
            continue
        if kind == "dir":
            dirs.append("/" + rel)
        elif not _DEPMOD_OUTPUT.search(rel):
            files.append("/" + rel)
    return sorted(files), sorted(dirs)


def with_previous(files: Sequence[str], host: Mapping[str, Optional[str]],
                  prior: Sequence[Mapping[str, Any]], backup_dir: str) -> Tuple[List[Dict[str, Any]], List[str]]:
    """One entry per file to be installed: ``{'path', 'previous'}`` where previous is None (nothing there
    before the collection installed it) or ``{'sha256', 'backup'}``. ``host`` maps a path to the sha256 of
    the file there now (None: absent). A file that is the collection's own earlier install (the sha256 the
    prior manifest recorded) keeps the prior entry's ``previous``: a rebuild must not make the first build
    the thing a rollback restores. Returns the entries and the paths to back up now."""
    prior_by_path = {str(p.get("path")): p for p in prior or []}
    entries, to_backup = [], []
    for path in files:
        now = host.get(path)
        earlier = prior_by_path.get(path)
        if now is None:
            previous = None
        elif earlier is not None and earlier.get("sha256") == now:
            previous = earlier.get("previous")
        else:
            previous = {"sha256": now, "backup": backup_path(backup_dir, path)}
            to_backup.append(path)
        entries.append({"path": path, "previous": previous})
    return entries, to_backup


def backup_path(backup_dir: str, path: str) -> str:
    """Where the file at ``path`` is kept: the same path below ``backup_dir``."""
    return backup_dir.rstrip("/") + "/" + path.lstrip("/")


def created_dirs(dirs: Sequence[str], host_dirs: Mapping[str, bool], prior_created: Sequence[str]) -> List[str]:
    """The staged directories the real install creates (absent on the host now), plus those the prior
    install created that still exist (the collection made them; a rebuild finds them there)."""
    created = {d for d in dirs if not host_dirs.get(d)}
    created.update(d for d in prior_created or [] if d in dirs)
    return sorted(created)


def rollback_plan(manifest: Sequence[Mapping[str, Any]], host: Mapping[str, Optional[str]],
                  backups: Mapping[str, Optional[str]]) -> List[Dict[str, Any]]:
    """One entry per manifest file with ``action``:

    * ``remove``: it still has the recorded sha256 and nothing was there before;
    * ``restore``: there was a file before (its backup has the recorded sha256) and the installed one is
      still there unchanged, or gone;
    * ``none``: already as before the install (absent, or the previous content back);
    * ``keep``: changed since the install (not the recorded sha256, not the previous one): left alone and
      reported; ``reason`` says why (also used when a backup is missing or does not match).

    ``host``: path -> sha256 now (None: absent); ``backups``: backup path -> sha256 (None: absent)."""
    plan = []
    for item in manifest:
        path = str(item["path"])
        now = host.get(path)
        previous = item.get("previous") or None
        entry = {"path": path, "sha256": item.get("sha256"), "previous": previous, "action": "none",
                 "reason": None}
        if previous is None:
            if now is None:
                entry["action"] = "none"
            elif now == item.get("sha256"):
                entry["action"] = "remove"
            else:
                entry.update(action="keep", reason="changed since the install (sha256 %s, installed %s)"
                             % (now, item.get("sha256")))
        elif now == previous.get("sha256"):
            entry["action"] = "none"
        elif now is None or now == item.get("sha256"):
            have = backups.get(str(previous.get("backup")))
            if have == previous.get("sha256"):
                entry["action"] = "restore"
            else:
                entry.update(action="keep", reason="its backup %s is %s" % (
                    previous.get("backup"), "missing" if have is None else "not the saved file (sha256 %s)" % have))
        else:
            entry.update(action="keep", reason="changed since the install (sha256 %s, installed %s)"
                         % (now, item.get("sha256")))
        plan.append(entry)
    return plan


def dirs_to_remove(created: Sequence[str], remaining: Mapping[str, Sequence[str]]) -> List[str]:
    """The created directories to remove, deepest first: those that are empty once the planned removals
    are done. ``remaining`` maps a created directory to the names still in it (after the removals);
    a directory whose only remaining entries are created directories that are removed counts as empty."""
    removed = set()  # type: set
    for path in sorted(created, key=lambda p: (-p.count("/"), p)):
        if path not in remaining:
            continue
        left = [name for name in remaining[path] if path.rstrip("/") + "/" + name not in removed]
        if not left:
            removed.add(path)
    return sorted(removed, key=lambda p: (-p.count("/"), p))
