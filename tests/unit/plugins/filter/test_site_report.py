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
    assert "| h&lt;1&gt; | failed | iscsi_scst | a\\|b &lt;script&gt; x |  | finalize: done |" in md
    assert "1 hosts: failed 1" in md
    page = sr.site_html([rec])
    assert "<script>" not in page and "&lt;script&gt;" in page and '<tr class="failed">' in page
