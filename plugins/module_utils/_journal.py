# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""The on-host journal of the install pipeline: ``<state_dir>/journal.json``.

Format (version 1)::

    {"version": 1,
     "stages": {"ib_unload": {"stage": "ib_unload", "status": "done", "data": {...}, "time": "..."}},
     "history": [{"stage": "ib_unload", "status": "started", "time": "..."}, ...]}

``record`` merges ``data`` into a stage's record. The record's ``time`` (and a ``history`` entry) change only
when its status or data change, so recording the same thing twice changes nothing. A stage whose status is
``rolled_back`` is a closed transaction: the next record of that stage starts from empty data.

Pure functions plus ``load_journal``/``write_journal`` (atomic: temporary file in the same directory, fsync,
``os.replace``, fsync of the directory). Nothing here raises for a missing journal; a journal that is not
valid JSON or not in this format raises ``JournalError`` so the caller refuses instead of overwriting it.
"""
from __future__ import annotations

import copy
import datetime
import json
import os
import tempfile
from collections.abc import Mapping

JOURNAL_NAME = "journal.json"
FORMAT_VERSION = 1
STATUSES = ("started", "done", "failed", "rolled_back")
HISTORY_LIMIT = 200


class JournalError(Exception):
    """The journal exists but cannot be read or is not a journal."""


def utc_now() -> str:
    """The time format of every record: UTC, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def empty_journal() -> dict:
    return {"version": FORMAT_VERSION, "stages": {}, "history": []}


def journal_path(state_dir: str) -> str:
    return os.path.join(state_dir, JOURNAL_NAME)


def parse_journal(text: str, path: str = JOURNAL_NAME) -> dict:
    """Validate the text of a journal; an empty file counts as an empty journal."""
    if not text.strip():
        return empty_journal()
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise JournalError("%s is not valid JSON (%s): move it aside to start a new journal, or repair it"
                           % (path, exc))
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        raise JournalError("%s is not an iser.ofed journal (no 'stages' object)" % path)
    version = data.get("version")
    if version != FORMAT_VERSION:
        raise JournalError("%s has format version %r; this collection reads version %d"
                           % (path, version, FORMAT_VERSION))
    for name, rec in data["stages"].items():
        if not isinstance(rec, dict) or rec.get("status") not in STATUSES or not isinstance(rec.get("data", {}), dict):
            raise JournalError("%s: the record of stage %r is malformed: %r" % (path, name, rec))
    if not isinstance(data.get("history", []), list):
        raise JournalError("%s: 'history' is not a list" % path)
    data.setdefault("history", [])
    return data


def load_journal(state_dir: str) -> dict:
    """The journal under ``state_dir``; an empty journal when the file (or the directory) does not exist."""
    path = journal_path(state_dir)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return empty_journal()
    except (OSError, UnicodeDecodeError) as exc:
        raise JournalError("cannot read %s: %s" % (path, exc))
    return parse_journal(text, path)


def merge_data(old: Mapping, new: Mapping, keep_existing: bool) -> dict:
    """Top-level merge of ``new`` into ``old``; with ``keep_existing`` a key already in ``old`` keeps its value."""
    merged = copy.deepcopy(dict(old))
    for key, value in new.items():
        if keep_existing and key in merged:
            continue
        merged[key] = copy.deepcopy(value)
    return merged


def apply_record(journal: Mapping, stage: str, status: str, data: Mapping, now: str,
                 keep_existing: bool = False, reset: bool = False) -> tuple[dict, bool]:
    """Return ``(new_journal, changed)``; ``journal`` is not modified.

    ``reset`` replaces the stage's data instead of merging into it.
    """
    if not stage:
        raise ValueError("stage must be a non-empty string")
    if status not in STATUSES:
        raise ValueError("status must be one of %s, got %r" % (", ".join(STATUSES), status))
    result = copy.deepcopy(dict(journal))
    result.setdefault("version", FORMAT_VERSION)
    result.setdefault("stages", {})
    result.setdefault("history", [])
    old = result["stages"].get(stage)
    closed = old is None or old.get("status") == "rolled_back"
    base = {} if (reset or closed) else old.get("data", {})
    new_data = merge_data(base, data, keep_existing and not reset)
    if old is not None and old.get("status") == status and old.get("data", {}) == new_data:
        return result, False
    result["stages"][stage] = {"stage": stage, "status": status, "data": new_data, "time": now}
    if old is None or old.get("status") != status:
        result["history"].append({"stage": stage, "status": status, "time": now})
        del result["history"][:-HISTORY_LIMIT]
    return result, True


def dump_journal(journal: Mapping) -> str:
    return json.dumps(journal, indent=2, sort_keys=True) + "\n"


def write_journal(state_dir: str, journal: Mapping, dir_mode: int = 0o700, file_mode: int = 0o600) -> None:
    """Write atomically: a reader sees the old journal or the new one, never a part of one."""
    os.makedirs(state_dir, mode=dir_mode, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".journal.", suffix=".tmp", dir=state_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(dump_journal(journal))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode)
        os.replace(tmp, journal_path(state_dir))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
