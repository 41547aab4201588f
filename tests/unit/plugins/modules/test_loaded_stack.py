# SPDX-License-Identifier: GPL-3.0-or-later
"""iser.ofed.loaded_stack run as on a target, on this machine's real /sys/module, /proc/stat and uname, with a
journal built in tmp_path (constructed records). The loaded-module path (modinfo, build-ids) runs on the
test-bed VM (molecule/vm); here nothing of the IB stack is loaded."""
from __future__ import annotations

import json
import os
import time

from ansible_collections.iser.ofed.plugins.modules import loaded_stack

from conftest import run_module, write_file


def _btime() -> int:
    with open("/proc/stat") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("btime "))


def _journal(tmp_path, stamp: str, data: dict, status: str = "done") -> str:
    rec = {"stage": "ofed_install", "status": status, "data": data, "time": stamp}
    write_file(tmp_path, "journal.json", json.dumps({"version": 1, "stages": {"ofed_install": rec}, "history": []}))
    return str(tmp_path)


def test_nothing_loaded_and_no_journal(tmp_path):
    result = run_module(loaded_stack.main, {"modules": ["iser_ofed_absent-module"], "state_dir": str(tmp_path)})
    assert result["_exit_code"] == 0 and result["changed"] is False
    assert result["kernel"] == os.uname().release and result["btime"] == _btime()
    assert result["expected"] == "in_tree"
    assert [(m["name"], m["status"]) for m in result["modules"]] == [("iser_ofed_absent_module", "not_loaded")]
    assert result["ok"] is True and result["loaded"] == [] and result["reboot"]["required"] is False


def test_reboot_due_after_this_boot_and_not_before(tmp_path):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    state = _journal(tmp_path, now, {"flavor": "mlnx_ofed", "version": "5.0", "kernel": os.uname().release,
                                     "reboot_required": True})
    result = run_module(loaded_stack.main, {"modules": ["ib_core"], "state_dir": state})
    assert result["expected"] == "ofed" and result["reboot"]["required"] is True, result
    before_boot = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_btime() - 60))
    state = _journal(tmp_path, before_boot, {"kernel": os.uname().release, "reboot_required": True})
    result = run_module(loaded_stack.main, {"modules": ["ib_core"], "state_dir": state, "expected": "in_tree"})
    assert result["reboot"]["required"] is False and result["expected"] == "in_tree"


def test_builtin_module_is_not_judged(tmp_path):
    builtin = [n for n in sorted(os.listdir("/sys/module"))
               if not os.path.exists("/sys/module/%s/initstate" % n)][:1]
    result = run_module(loaded_stack.main, {"modules": builtin, "state_dir": str(tmp_path)})
    assert [m["status"] for m in result["modules"]] == ["builtin"] and result["ok"]


def test_broken_journal_fails_clearly(tmp_path):
    write_file(tmp_path, "journal.json", "{not json")
    result = run_module(loaded_stack.main, {"modules": ["ib_core"], "state_dir": str(tmp_path)})
    assert result["failed"] and "cannot read the journal" in result["msg"]
