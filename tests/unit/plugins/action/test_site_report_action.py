# SPDX-License-Identifier: GPL-3.0-or-later
"""The iser.ofed.site_report action through a real ansible-playbook run on localhost (playbook_run), and its
file writing on real files under tmp_path."""
from __future__ import annotations

import json
import os

from ansible_collections.iser.ofed.plugins.action import site_report as action
from ansible_collections.iser.ofed.plugins.filter import site_report as sr
from playbook_run import run_playbook

JOURNAL = {"stages": {"validate": {"status": "done", "time": "2026-12-06T15:27:26Z"},
                      "finalize": {"status": "done", "time": "2026-12-06T15:30:26Z"}}}


def records():
    done = sr.site_record(JOURNAL, "h1", {"status": "done", "msg": "converged (fast path): ..."})
    return sr.site_fleet([done], ["h1", "h2"])  # h2: not_reached


def test_files_and_no_rewrite_of_the_same_content(tmp_path):
    files = action.report_files(records())
    assert sorted(files) == ["h1.site.json", "site-report.html", "site-report.md"]  # none for not_reached h2
    assert json.loads(files["h1.site.json"])["status"] == "done"
    assert files["site-report.md"] == sr.site_markdown(records())
    path = str(tmp_path / "r.md")
    assert action.write_if_changed(path, "x\n") is True
    mtime = os.stat(path).st_mtime_ns
    assert action.write_if_changed(path, "x\n") is False and os.stat(path).st_mtime_ns == mtime
    assert action.write_if_changed(path, "y\n") is True and open(path, encoding="utf-8").read() == "y\n"
    assert oct(os.stat(path).st_mode & 0o777) == "0o644" and os.listdir(str(tmp_path)) == ["r.md"]


def test_a_real_run_writes_the_report_once_and_refuses_bad_input(tmp_path):
    report = tmp_path / "reports" / "site"
    book = tmp_path / "report.yml"
    book.write_text(
        "- name: Write a report\n  hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - name: Write it\n      iser.ofed.site_report:\n        dir: %s\n        records: %s\n"
        "      register: written\n"
        "    - name: Show it\n      ansible.builtin.debug:\n        msg: 'WRITTEN={{ written.written | join(\",\") }} "
        "CHANGED={{ written.changed }}'\n" % (report, json.dumps(records())), encoding="utf-8")
    first = run_playbook(book)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "WRITTEN=h1.site.json,site-report.html,site-report.md CHANGED=True" in first.stdout
    assert json.loads((report / "h1.site.json").read_text(encoding="utf-8"))["msg"].startswith("converged")
    assert "| h2 | not_reached |" in (report / "site-report.md").read_text(encoding="utf-8")
    again = run_playbook(book)
    assert "WRITTEN= CHANGED=False" in again.stdout, again.stdout
    check = run_playbook(book, "--check")
    assert "WRITTEN= CHANGED=False" in check.stdout, check.stdout
    bad = tmp_path / "bad.yml"
    bad.write_text(book.read_text(encoding="utf-8").replace("dir: %s" % report, "dir: relative/dir"), encoding="utf-8")
    refused = run_playbook(bad)
    assert refused.returncode != 0 and "dir must be an absolute directory on the controller" in refused.stdout
