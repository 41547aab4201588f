# SPDX-License-Identifier: GPL-3.0-or-later
"""iser.ofed.scst_install_files on a real file tree in tmp_path: the "host" is a directory below tmp_path, the
stage holds the same absolute paths below the stage root (what make install DESTDIR=<stage> writes)."""
from __future__ import annotations

import hashlib
import os

from ansible_collections.iser.ofed.plugins.modules import scst_install_files
from tests.unit.conftest import run_module


def _sha(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _tree(tmp_path):
    host = str(tmp_path / "host")
    stage = str(tmp_path / "stage")
    paths = {"ko": host + "/lib/modules/6.1.0-57-amd64/extra/scst.ko",
             "depmod": host + "/lib/modules/6.1.0-57-amd64/modules.dep",
             "sbin": host + "/usr/local/sbin/iscsi-scstd",
             "hdr": host + "/usr/local/include/scst/scst.h"}
    for key, path in paths.items():
        _write(stage + path, "new " + key)
    os.makedirs(host + "/lib/modules/6.1.0-57-amd64")
    _write(paths["sbin"], "old iscsi-scstd")  # a file the install overwrites
    return host, stage, paths


def _install(stage, paths):
    """What the real make install does: the staged files at their host paths."""
    for key, path in paths.items():
        _write(path, "new " + key)


def test_stage_install_rollback_cycle(tmp_path):
    host, stage, paths = _tree(tmp_path)
    backup = str(tmp_path / "backup")
    staged = run_module(scst_install_files.main, {"state": "staged", "stage_dir": stage, "backup_dir": backup})
    assert staged["changed"] is True and staged["backed_up"] == [paths["sbin"]], staged
    assert [e["path"] for e in staged["files"]] == sorted([paths["ko"], paths["hdr"], paths["sbin"]])
    previous = {e["path"]: e["previous"] for e in staged["files"]}
    assert previous[paths["ko"]] is None
    assert previous[paths["sbin"]]["backup"] == backup + paths["sbin"]
    assert open(backup + paths["sbin"], encoding="utf-8").read() == "old iscsi-scstd"
    assert host + "/lib/modules/6.1.0-57-amd64/extra" in staged["dirs_created"]
    assert host + "/usr/local/include/scst" in staged["dirs_created"]
    _install(stage, paths)
    installed = run_module(scst_install_files.main, {"state": "installed", "files": staged["files"]})
    assert installed["changed"] is False
    assert {e["path"]: e["sha256"] for e in installed["files"]}[paths["ko"]] == _sha(paths["ko"])

    args = {"state": "absent", "files": installed["files"], "dirs_created": staged["dirs_created"]}
    check = run_module(scst_install_files.main, dict(args, _ansible_check_mode=True, _ansible_diff=True))
    assert check["changed"] is True and os.path.exists(paths["ko"])
    assert open(paths["sbin"], encoding="utf-8").read() == "new sbin"
    assert paths["ko"] in check["diff"]["before"] and paths["ko"] not in check["diff"]["after"]

    gone = run_module(scst_install_files.main, args)
    assert gone["changed"] is True and gone["kept"] == []
    assert not os.path.exists(paths["ko"]) and not os.path.exists(paths["hdr"])
    assert not os.path.isdir(host + "/lib/modules/6.1.0-57-amd64/extra")
    assert not os.path.isdir(host + "/usr/local/include/scst")
    assert os.path.isdir(host + "/lib/modules/6.1.0-57-amd64")  # was there before
    assert open(paths["sbin"], encoding="utf-8").read() == "old iscsi-scstd"
    again = run_module(scst_install_files.main, args)
    assert again["changed"] is False and {e["action"] for e in again["files"]} == {"none"}


def test_changed_file_is_kept_and_rebuild_keeps_the_original_previous(tmp_path):
    host, stage, paths = _tree(tmp_path)
    backup = str(tmp_path / "backup")
    staged = run_module(scst_install_files.main, {"state": "staged", "stage_dir": stage, "backup_dir": backup})
    _install(stage, paths)
    first = run_module(scst_install_files.main, {"state": "installed", "files": staged["files"]})
    # a rebuild overwrites the collection's own files: what they replaced stays the original
    again = run_module(scst_install_files.main, {"state": "staged", "stage_dir": stage, "backup_dir": backup,
                                                 "prior": first["files"], "prior_dirs": staged["dirs_created"]})
    assert again["changed"] is False and again["backed_up"] == []
    assert again["files"] == [{"path": e["path"], "previous": e["previous"]} for e in first["files"]]
    assert sorted(again["dirs_created"]) == sorted(staged["dirs_created"])
    _write(paths["ko"], "rebuilt by hand")
    result = run_module(scst_install_files.main, {"state": "absent", "files": first["files"],
                                                  "dirs_created": staged["dirs_created"]})
    assert [k["path"] for k in result["kept"]] == [paths["ko"]]
    assert open(paths["ko"], encoding="utf-8").read() == "rebuilt by hand"
    assert os.path.isdir(host + "/lib/modules/6.1.0-57-amd64/extra")  # not empty: kept


def test_refusals(tmp_path):
    result = run_module(scst_install_files.main, {"state": "staged", "stage_dir": str(tmp_path / "none"),
                                                  "backup_dir": str(tmp_path / "b")})
    assert result["failed"] and "does not exist" in result["msg"]
    (tmp_path / "empty").mkdir()
    result = run_module(scst_install_files.main, {"state": "staged", "stage_dir": str(tmp_path / "empty"),
                                                  "backup_dir": str(tmp_path / "b")})
    assert result["failed"] and "installed nothing" in result["msg"]
    result = run_module(scst_install_files.main, {"state": "installed",
                                                  "files": [{"path": str(tmp_path / "missing"), "previous": None}]})
    assert result["failed"] and str(tmp_path / "missing") in result["msg"]


def test_check_mode_before_anything_was_staged_predicts_instead_of_failing(tmp_path):
    """In check mode the staging make install DESTDIR=<stage> is skipped, so the stage does not exist: the
    module says so and changes nothing; a real run without a stage still fails."""
    args = {"state": "staged", "stage_dir": str(tmp_path / "stage"), "backup_dir": str(tmp_path / "backup")}
    check = run_module(scst_install_files.main, dict(args, _ansible_check_mode=True))
    assert check["changed"] is True and check["files"] == [] and "not known" in check["msg"]
    assert sorted(os.listdir(tmp_path)) == []
    real = run_module(scst_install_files.main, args)
    assert real["failed"] and "does not exist: run the install targets with DESTDIR=" in real["msg"]
