# SPDX-License-Identifier: GPL-3.0-or-later
"""site_report filters: rollback scope from the journal, host records, the fleet report.

The journals here are constructed (the shape iser.ofed.journal writes, see _journal.py)."""
from __future__ import annotations

from ansible_collections.iser.ofed.plugins.filter import site_report as sr


def _journal(**stages):
    return {"version": 1, "history": [],
            "stages": {name.replace("__", "@"): {"stage": name, "status": status, "data": {}, "time": "t"}
                       for name, status in stages.items()}}


def test_rollback_scope_follows_what_ran():
    assert sr.site_rollback_scope(_journal(validate="done")) == []
    assert sr.site_rollback_scope(_journal(validate="done", ib_unload="failed")) == ["purge"]
    assert sr.site_rollback_scope(_journal(ib_unload="done", stock_purge__6_1="started")) == ["purge"]
    assert sr.site_rollback_scope(_journal(ib_unload="done", ofed_install="failed")) == ["install", "purge"]
    # Undone stages are closed transactions: nothing to roll back again.
    assert sr.site_rollback_scope(_journal(ib_unload="rolled_back", ofed_install="rolled_back")) == []
    assert sr.site_rollback_scope(None) == [] and sr.site_rollback_scope({"stages": "x"}) == []


def test_record_and_fleet():
    rec = sr.site_record(_journal(validate="done", ofed_install="failed"), "h1",
                         {"status": "rolled_back", "stage": "ofed_install", "msg": "boom",
                          "rollback_scope": ["install"]})
    assert rec["status"] == "rolled_back" and rec["stages"] == {"ofed_install": "failed", "validate": "done"}
    assert sr.site_record({}, "h2", {"status": "bogus"})["status"] == "failed"
    fleet = sr.site_fleet([rec], ["h1", "h2"])
    assert [r["status"] for r in fleet] == ["rolled_back", "not_reached"]
    summary = sr.site_summary(fleet)
    assert summary == {"total": 2, "counts": {"rolled_back": 1, "not_reached": 1},
                       "hosts": {"rolled_back": ["h1"], "not_reached": ["h2"]}}


def test_markdown_and_html_escape_everything():
    rec = sr.site_record(_journal(finalize="done"), "h<1>", {"status": "failed", "stage": "iscsi_scst",
                                                             "msg": "a|b <script>\nx"})
    md = sr.site_markdown([rec])
    assert "| h&lt;1&gt; | failed | iscsi_scst | a\\|b &lt;script&gt; x |  | reached finalize | finalize: done |" in md
    assert "1 hosts: failed 1" in md
    page = sr.site_html([rec])
    assert "<script>" not in page and "&lt;script&gt;" in page and '<tr class="failed">' in page


# --- resuming: site_transaction / where_it_stands (constructed journals, times as iser.ofed.journal writes) ---

TARGET = {"flavor": "mlnx_ofed", "version": "5.0-2.1.8.0", "kernel": "6.1.0-56-amd64"}
PURGE = "stock_purge@6.1.0-56-amd64"


def _rec(name, status, time, **data):
    return {"stage": name, "status": status, "time": time, "data": data}


def _j(*recs, history=()):
    return {"version": 1, "history": list(history), "stages": {r["stage"]: r for r in recs}}


def _open_site(status="started", **extra):
    data = dict(transaction="20261125T140000Z-aaaa", run_id="20261125T140000Z-aaaa", flavor="mlnx_ofed",
                release="5.0-2.1.8.0", kernel="6.1.0-56-amd64")
    data.update(extra)
    return _rec("site", status, "2026-11-25T14:00:05Z", **data)


def test_transaction_finished_is_not_resumed():
    j = _j(_rec("ib_unload", "done", "2026-11-25T14:01:00Z"), _rec(PURGE, "done", "2026-11-25T14:02:00Z"),
           _rec("ofed_install", "done", "2026-11-25T14:05:00Z", flavor="mlnx_ofed", release="5.0-2.1.8.0",
                kernel="6.1.0-56-amd64"),
           _rec("finalize", "done", "2026-11-25T14:07:00Z"), _rec("site", "done", "2026-11-25T14:07:01Z"))
    txn = sr.site_transaction(j, TARGET)
    assert txn["finished"] is True and txn["resume"] is False and txn["skip"] == []
    # Another version wanted: not finished, and a closed transaction is not resumed.
    txn = sr.site_transaction(j, dict(TARGET, version="5.4-1.0.3.0"))
    assert txn["finished"] is False and txn["resume"] is False
    # ofed_install redone after finalize (a later run was killed in it): not finished.
    j["stages"]["ofed_install"]["time"] = "2026-11-25T15:00:00Z"
    assert sr.site_transaction(j, TARGET)["finished"] is False


def test_killed_in_the_installer_resumes_and_skips_unload_and_purge():
    j = _j(_rec("validate", "done", "2026-11-25T14:00:00Z"), _open_site(),
           _rec("ib_unload", "done", "2026-11-25T14:01:00Z", kernel="6.18.0"),
           _rec(PURGE, "done", "2026-11-25T14:02:00Z"),
           _rec("ofed_install", "started", "2026-11-25T14:03:00Z", job="j123.456", log="/x.log"))
    txn = sr.site_transaction(j, TARGET, "6.18.0")
    assert txn == {"finished": False, "resume": True, "transaction": "20261125T140000Z-aaaa",
                   "resumed_from": "20261125T140000Z-aaaa", "interrupted_in": ["ofed_install started"],
                   "skip": ["ib_unload", "stock_purge"]}
    # The host booted another kernel since the unload: ib_unload (and so stock_purge's precondition) again.
    assert sr.site_transaction(j, TARGET, "6.1.0-56-amd64")["skip"] == []


def test_killed_between_unload_and_purge_redoes_the_unload():
    j = _j(_open_site(), _rec("ib_unload", "done", "2026-11-25T14:01:00Z"),
           _rec(PURGE, "started", "2026-11-25T14:02:00Z"))
    txn = sr.site_transaction(j, TARGET)
    assert txn["resume"] is True and txn["skip"] == [] and txn["interrupted_in"] == [PURGE + " started"]


def test_stages_done_before_the_last_finalize_belong_to_an_older_transaction():
    j = _j(_rec("ib_unload", "done", "2026-11-20T10:00:00Z"), _rec(PURGE, "done", "2026-11-20T10:01:00Z"),
           _rec("finalize", "done", "2026-11-20T10:09:00Z"), _open_site(),
           _rec("ofed_install", "failed", "2026-11-25T14:03:00Z"))
    txn = sr.site_transaction(j, TARGET)
    assert txn["resume"] is True and txn["skip"] == []


def test_rolled_back_or_absent_transaction_starts_anew():
    j = _j(_open_site("rolled_back"), _rec("ib_unload", "rolled_back", "2026-11-25T14:09:00Z"))
    assert sr.site_transaction(j, TARGET)["resume"] is False
    assert sr.site_transaction({}, TARGET) == {"finished": False, "resume": False, "transaction": "",
                                               "resumed_from": "", "interrupted_in": [], "skip": []}
    # A journal from before the site record: nothing to resume from (every stage runs; each is idempotent).
    j = _j(_rec("ib_unload", "done", "2026-11-25T14:01:00Z"), _rec(PURGE, "done", "2026-11-25T14:02:00Z"))
    assert sr.site_transaction(j, TARGET)["resume"] is False
    # A transaction left failed (a later stage failed, or kept for inspection) is resumed.
    j = _j(_open_site("failed"), _rec("ib_unload", "done", "2026-11-25T14:01:00Z"),
           _rec(PURGE, "done", "2026-11-25T14:02:00Z"), _rec("iscsi_scst", "failed", "2026-11-25T14:09:00Z"))
    assert sr.site_transaction(j, TARGET)["skip"] == ["ib_unload", "stock_purge"]


def test_where_it_stands_and_the_record():
    j = _j(_rec("validate", "done", "t1"), _open_site(resumed_from="run-0"), _rec("ib_unload", "done", "t2"),
           _rec(PURGE, "done", "t3"), _rec("ofed_install", "started", "t4"))
    stands = sr.where_it_stands(j)
    assert stands["reached"] == PURGE and stands["open"] == ["ofed_install started"]
    assert stands["transaction"]["id"] == "20261125T140000Z-aaaa" and stands["transaction"]["status"] == "started"
    rec = sr.site_record(j, "h1", {"status": "failed", "stage": "ofed_install", "msg": "the run stopped"})
    assert rec["reached"] == PURGE and rec["transaction"]["resumed_from"] == "run-0"
    md = sr.site_markdown([rec])
    assert ("reached %s; open: ofed_install started; transaction 20261125T140000Z-aaaa started "
            "(resumed from run run-0)" % PURGE) in md
    assert "predictions" not in md


# --- check mode: site_prediction (inputs shaped as the roles' registered results) ---

def test_predictions_of_a_fresh_container_host():
    raw = {
        "build_prereqs_packages": ["linux-headers-6.1.0-56-amd64", "gcc", "make"],
        "ib_unload": {"manageable": False, "reason": "running in a container (podman)",
                      "result": {"skipped": True, "changed": False}, "units": ["rdma-load-modules@rdma.service"]},
        "stock_purge": {"changed": True, "moved": ["kernel/drivers/infiniband"], "kept": [], "files": 61,
                        "bytes": 5242880, "dependents": []},
        "ofed_install": {"changed": True, "cmd": ["./mlnxofedinstall", "--kernel", "6.1.0-56-amd64"],
                         "reason": "no OFED stack installed"},
        "iscsi_scst": {"up_to_date": False, "source": "scst-3.8.0", "flavor": "in-tree", "kernel": "6.1.0-56-amd64"},
        "finalize": True,
    }
    preds = sr.site_prediction(raw)
    assert [p["stage"] for p in preds] == ["build_prereqs", "ib_unload", "stock_purge", "ofed_install",
                                           "iscsi_scst", "finalize"]
    by = {p["stage"]: p for p in preds}
    assert "not unload modules (running in a container (podman))" in by["ib_unload"]["would"]
    assert "mask rdma-load-modules@rdma.service" in by["ib_unload"]["would"]
    assert by["stock_purge"]["would"] == "move kernel/drivers/infiniband (61 files, 5242880 bytes) into the quarantine"
    assert "predicted" in by["stock_purge"]["relies_on"]
    assert by["ofed_install"]["would"] == "run ./mlnxofedinstall --kernel 6.1.0-56-amd64: no OFED stack installed"
    assert "build scst-3.8.0 for 6.1.0-56-amd64" in by["iscsi_scst"]["would"]
    rec = sr.site_record({}, "h1", {"status": "done", "check_mode": True}, preds)
    md = sr.site_markdown([rec])
    assert "Check mode: nothing was changed" in md and "## h1: predictions (check mode)" in md
    assert "- **stock_purge** would move kernel/drivers/infiniband" in md
    page = sr.site_html([rec])
    assert "<h2>h1: predictions (check mode)</h2>" in page and "<b>ofed_install</b> would run" in page


def test_predictions_skip_stages_that_did_not_plan():
    preds = sr.site_prediction({"ib_unload": {}, "stock_purge": {"skipped": True, "changed": False},
                                "ofed_install": {"skipped": True}, "iscsi_scst": {}, "finalize": False})
    assert preds == []
    unload = sr.site_prediction({"ib_unload": {"manageable": True, "result": {"plan": ["ib_isert", "ib_core"]},
                                               "units": []}})
    assert unload[0]["would"] == "unload ib_isert, ib_core; mask nothing"
    inst = sr.site_prediction({"ofed_install": {"changed": False, "reason": "MLNX_OFED 5.0-2.1.8.0 is installed"}})
    assert inst[0]["would"] == "not run the installer: MLNX_OFED 5.0-2.1.8.0 is installed"
    staged_later = sr.site_prediction({"ofed_install": {"unstaged": "/var/tmp/iser-ofed/MLNX_OFED_LINUX-5.0"}})
    assert staged_later[0]["would"].startswith(
        "run the installer of the bundle iser.ofed.validate unpacks into /var/tmp/iser-ofed/MLNX_OFED_LINUX-5.0 (")
    assert "predicted" in staged_later[0]["relies_on"]
