# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/ofed_install/tasks/poll.yml run for real by ansible-playbook (this venv's ansible-core) on localhost.

A background job stands in for the installer: a shell loop appending a line per second to a log file, started
with async/poll 0 exactly as install.yml starts the installer. Nothing is mocked: async_wrapper, async_status,
the until/retries rounds, the progress report and the timeout stop are Ansible's own.
"""
from __future__ import annotations

import os
import re

from playbook_run import POLL_VARS, REPO, run_playbook

POLL = os.path.join(REPO, "roles", "ofed_install", "tasks", "poll.yml")

PLAYBOOK = """\
- name: Follow a background job with the role's poll.yml
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
{poll_vars}    ofed_install_timeout: {timeout}
    __ofed_install_log: {log}
  tasks:
    - name: Start values install.yml sets
      ansible.builtin.set_fact:
        __ofed_install_round: 0
        __ofed_install_started: "{{{{ now(fmt='%s') }}}}"
    - name: A job that writes a line per second for {seconds} s
      ansible.builtin.shell: "for i in $(seq 1 {seconds}); do echo step $i >> {log}; sleep 1; done; echo done >> {log}"
      async: "{{{{ ofed_install_timeout }}}}"
      poll: 0
      register: __ofed_install_job
    - name: Follow it
      ansible.builtin.include_tasks: {poll}
    - name: Say how it ended
      ansible.builtin.debug:
        msg: "ENDED rc={{{{ __ofed_install_result.rc }}}} round={{{{ __ofed_install_round }}}}"
"""


def play(tmp_path, seconds, timeout):
    log = tmp_path / "job.log"
    book = tmp_path / "play.yml"
    book.write_text(PLAYBOOK.format(timeout=timeout, log=log, seconds=seconds, poll=POLL, poll_vars=POLL_VARS))
    return run_playbook(book, async_dir=tmp_path / "async"), log


def test_progress_rounds_show_the_live_log_until_the_job_ends(tmp_path):
    # 12 s of job for a report every 2 s: each round also costs Ansible's own task overhead (about 1 s a task on
    # a loaded 2-core machine), so a shorter job can end after a single report.
    proc, log = play(tmp_path, seconds=12, timeout=60)
    assert proc.returncode == 0, proc.stdout[-3000:]
    reports = re.findall(r'"installer running for (\d+) s \(ofed_install_timeout 60 s\); %s ends with:",\s*'
                         r'"(step \d+)",\s*"(step \d+)"' % re.escape(str(log)), proc.stdout)
    assert len(reports) >= 2, proc.stdout[-3000:]
    seconds = [int(r[0]) for r in reports]
    assert seconds == sorted(seconds) and seconds[0] >= 2
    assert re.search(r'"msg": "ENDED rc=0 round=\d+"', proc.stdout)
    assert log.read_text().endswith("done\n")


def test_timeout_stops_with_a_clear_error(tmp_path):
    proc, log = play(tmp_path, seconds=30, timeout=4)
    assert proc.returncode == 2, proc.stdout[-3000:]
    msg = re.search(r'fatal: \[localhost\]: FAILED! => .*"msg": "(.*?)"', proc.stdout).group(1)
    assert msg.startswith("The installer did not finish within ofed_install_timeout (4 s): async ended it. "
                          "Its log %s ends with: step " % log), msg
    assert "rollback_scope [install]" in msg and "ENDED" not in proc.stdout
    # async killed the job: it never wrote its last line
    assert "done" not in log.read_text()
