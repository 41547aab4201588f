# SPDX-License-Identifier: GPL-3.0-or-later
"""main() of iser.ofed.journal against a real state directory under tmp_path."""
from __future__ import annotations

import json
import os

from ansible_collections.iser.ofed.plugins.modules import journal as journal_module
from conftest import run_module


def _run(args):
    return run_module(journal_module.main, args)


def _on_disk(state_dir):
    with open(os.path.join(state_dir, "journal.json"), encoding="utf-8") as handle:
        return json.load(handle)


def test_record_creates_dir_and_second_run_is_unchanged(tmp_path):
    state = str(tmp_path / "var" / "iser-ofed")
    args = {"state_dir": state, "stage": "ib_unload", "status": "started",
            "data": {"services_running": ["opensmd", "openibd"]}, "keep_existing": True}
    first = _run(args)
    assert first["changed"] is True and not first.get("failed")
    assert first["exists"] is False
    assert _on_disk(state)["stages"]["ib_unload"]["data"]["services_running"] == ["opensmd", "openibd"]
    mtime = os.stat(os.path.join(state, "journal.json")).st_mtime_ns

    rerun = _run(dict(args, data={"services_running": []}))
    assert rerun["changed"] is False
    assert rerun["record"]["data"]["services_running"] == ["opensmd", "openibd"]
    assert os.stat(os.path.join(state, "journal.json")).st_mtime_ns == mtime


def test_check_mode_writes_nothing_but_reports_change_and_diff(tmp_path):
    state = str(tmp_path / "state")
    result = _run({"state_dir": state, "stage": "s", "status": "done", "data": {"a": 1},
                   "_ansible_check_mode": True, "_ansible_diff": True})
    assert result["changed"] is True
    assert result["record"]["status"] == "done"
    assert result["diff"]["before"] == "" and '"a": 1' in result["diff"]["after"]
    assert not os.path.exists(state)


def test_read_returns_journal_and_changes_nothing(tmp_path):
    state = str(tmp_path)
    _run({"state_dir": state, "stage": "ib_unload", "status": "done", "data": {"unloaded": ["ib_core"]}})
    before = open(os.path.join(state, "journal.json"), encoding="utf-8").read()
    result = _run({"state_dir": state, "operation": "read", "stage": "ib_unload"})
    assert result["changed"] is False and result["exists"] is True
    assert result["record"]["data"] == {"unloaded": ["ib_core"]}
    assert result["journal"]["stages"]["ib_unload"]["status"] == "done"
    assert open(os.path.join(state, "journal.json"), encoding="utf-8").read() == before


def test_read_of_missing_journal_is_empty(tmp_path):
    result = _run({"state_dir": str(tmp_path / "none"), "operation": "read", "stage": "x"})
    assert result["changed"] is False and result["exists"] is False
    assert result["record"] is None
    assert result["journal"] == {"version": 1, "stages": {}, "history": []}
    assert not os.path.exists(str(tmp_path / "none"))


def test_corrupt_journal_is_never_overwritten(tmp_path):
    path = tmp_path / "journal.json"
    path.write_text("{truncated", encoding="utf-8")
    result = _run({"state_dir": str(tmp_path), "stage": "s", "status": "done"})
    assert result["failed"] is True
    assert "is not valid JSON" in result["msg"] and "move it aside" in result["msg"]
    assert path.read_text(encoding="utf-8") == "{truncated"


def test_record_requires_stage_and_status(tmp_path):
    result = _run({"state_dir": str(tmp_path), "stage": "s"})
    assert result["failed"] is True and "status" in result["msg"]


def test_root_as_state_dir_is_refused():
    result = _run({"state_dir": "/", "stage": "s", "status": "done"})
    assert result["failed"] is True and "absolute directory" in result["msg"]


def test_unwritable_state_dir_fails_cleanly(tmp_path, monkeypatch):
    from ansible_collections.iser.ofed.plugins.module_utils import _journal

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_journal.tempfile, "mkstemp", no_space)
    result = _run({"state_dir": str(tmp_path), "stage": "s", "status": "done"})
    assert result["failed"] is True
    assert "cannot write" in result["msg"] and "No space left" in result["msg"]
