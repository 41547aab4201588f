# SPDX-License-Identifier: GPL-3.0-or-later
"""The on-host journal: merge rules, change detection, validation, atomic write (constructed journals)."""
from __future__ import annotations

import json
import os

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _journal
from ansible_collections.iser.ofed.plugins.module_utils._journal import (
    JournalError, apply_record, empty_journal, load_journal, merge_data, parse_journal, write_journal)

T1 = "2025-01-31T10:00:00Z"
T2 = "2025-01-31T10:05:00Z"


def first_of(*args, **kwargs):
    """The new journal of ``apply_record`` (tests that do not look at ``changed``)."""
    return apply_record(*args, **kwargs)[0]


def test_first_record_creates_stage_and_history():
    journal, changed = apply_record(empty_journal(), "ib_unload", "started", {"services_running": ["openibd"]}, T1)
    assert changed
    assert journal["stages"]["ib_unload"] == {"stage": "ib_unload", "status": "started",
                                              "data": {"services_running": ["openibd"]}, "time": T1}
    assert journal["history"] == [{"stage": "ib_unload", "status": "started", "time": T1}]


def test_same_record_twice_is_no_change_and_keeps_time():
    first = first_of(empty_journal(), "ib_unload", "done", {"unloaded": ["ib_core"]}, T1)
    second, changed = apply_record(first, "ib_unload", "done", {"unloaded": ["ib_core"]}, T2)
    assert not changed
    assert second == first
    assert second["stages"]["ib_unload"]["time"] == T1


def test_keep_existing_keeps_first_run_services():
    first = first_of(empty_journal(), "ib_unload", "started",
                     {"services_running": ["opensmd", "openibd"]}, T1, keep_existing=True)
    # the re-run sees nothing running any more
    second, changed = apply_record(first, "ib_unload", "started", {"services_running": []}, T2, keep_existing=True)
    assert not changed
    assert second["stages"]["ib_unload"]["data"]["services_running"] == ["opensmd", "openibd"]


def test_without_keep_existing_the_new_value_wins():
    first = first_of(empty_journal(), "ib_unload", "started", {"services_running": ["openibd"]}, T1)
    second, changed = apply_record(first, "ib_unload", "started", {"services_running": []}, T2)
    assert changed
    assert second["stages"]["ib_unload"]["data"]["services_running"] == []
    assert second["stages"]["ib_unload"]["time"] == T2
    # same status: no new history entry
    assert len(second["history"]) == 1


def test_keep_existing_still_adds_new_keys_and_status_change_is_recorded():
    first = first_of(empty_journal(), "ib_unload", "started", {"a": 1}, T1, keep_existing=True)
    second, changed = apply_record(first, "ib_unload", "done", {"a": 2, "b": 3}, T2, keep_existing=True)
    assert changed
    assert second["stages"]["ib_unload"]["data"] == {"a": 1, "b": 3}
    assert [h["status"] for h in second["history"]] == ["started", "done"]


def test_rolled_back_stage_starts_fresh():
    first = first_of(empty_journal(), "ib_unload", "done", {"services_running": ["openibd"]}, T1)
    undone = first_of(first, "ib_unload", "rolled_back", {}, T1)
    assert undone["stages"]["ib_unload"]["data"] == {"services_running": ["openibd"]}
    fresh, changed = apply_record(undone, "ib_unload", "started", {"services_running": []}, T2, keep_existing=True)
    assert changed
    assert fresh["stages"]["ib_unload"]["data"] == {"services_running": []}


def test_reset_replaces_data():
    first = first_of(empty_journal(), "s", "started", {"a": 1, "b": 2}, T1)
    second, changed = apply_record(first, "s", "started", {"c": 3}, T2, keep_existing=True, reset=True)
    assert changed and second["stages"]["s"]["data"] == {"c": 3}


def test_input_journal_is_not_modified():
    first = first_of(empty_journal(), "s", "started", {"l": [1]}, T1)
    snapshot = json.dumps(first, sort_keys=True)
    apply_record(first, "s", "done", {"l": [1, 2]}, T2)
    assert json.dumps(first, sort_keys=True) == snapshot


def test_merge_data_is_top_level():
    assert merge_data({"a": {"x": 1}}, {"a": {"y": 2}}, False) == {"a": {"y": 2}}
    assert merge_data({"a": {"x": 1}}, {"a": {"y": 2}}, True) == {"a": {"x": 1}}


@pytest.mark.parametrize("stage,status,match", [
    ("", "done", "stage must be"),
    ("s", "finished", "status must be one of started, done, failed, rolled_back"),
])
def test_bad_record_input(stage, status, match):
    with pytest.raises(ValueError, match=match):
        apply_record(empty_journal(), stage, status, {}, T1)


def test_history_is_bounded(monkeypatch):
    monkeypatch.setattr(_journal, "HISTORY_LIMIT", 3)
    journal = empty_journal()
    for i, status in enumerate(["started", "done", "failed", "started", "done"]):
        journal = first_of(journal, "s", status, {}, "t%d" % i)
    assert [h["time"] for h in journal["history"]] == ["t2", "t3", "t4"]


@pytest.mark.parametrize("text,match", [
    ("{not json", "is not valid JSON"),
    ("[]", "not an iser.ofed journal"),
    ('{"version": 2, "stages": {}}', "format version 2"),
    ('{"version": 1, "stages": {"s": {"status": "weird"}}}', "record of stage 's' is malformed"),
    ('{"version": 1, "stages": {}, "history": {}}', "'history' is not a list"),
])
def test_parse_rejects_what_is_not_a_journal(text, match):
    with pytest.raises(JournalError, match=match):
        parse_journal(text, "/x/journal.json")


def test_parse_empty_file_is_empty_journal():
    assert parse_journal("  \n") == empty_journal()


def test_load_missing_dir_is_empty(tmp_path):
    assert load_journal(str(tmp_path / "absent")) == empty_journal()


def test_write_then_load_roundtrip_and_modes(tmp_path):
    state = tmp_path / "state"
    journal = first_of(empty_journal(), "ib_unload", "done", {"unloaded": ["ib_core"]}, T1)
    write_journal(str(state), journal)
    assert load_journal(str(state)) == journal
    assert oct(os.stat(state).st_mode & 0o777) == "0o700"
    assert oct(os.stat(state / "journal.json").st_mode & 0o777) == "0o600"
    assert os.listdir(state) == ["journal.json"]


def test_failed_write_leaves_old_journal_and_no_temp(tmp_path, monkeypatch):
    old = first_of(empty_journal(), "s", "done", {"a": 1}, T1)
    write_journal(str(tmp_path), old)
    new = first_of(old, "s", "done", {"a": 2}, T2)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_journal.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        write_journal(str(tmp_path), new)
    assert load_journal(str(tmp_path)) == old
    assert os.listdir(tmp_path) == ["journal.json"]
