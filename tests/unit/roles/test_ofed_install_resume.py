# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/ofed_install/tasks/install.yml: a run takes over the installer job an earlier (dead) run left behind.

Two real ansible-playbook runs on localhost (this venv's ansible-core): the first starts a background job with
async/poll 0 as install.yml starts the installer, records it in the journal as install.yml does (job, log,
job_started) and ends, as a killed controller would, leaving the job running. The second runs install.yml's
own resume tasks, taken verbatim from the file (from "Read the journal (an installer left" up to the check-mode
plan), with the role's poll.yml. Nothing is mocked: async_wrapper, async_status, the journal module are real.
"""
from __future__ import annotations

import os
import re
import time

from playbook_run import REPO, indented, poll_play_head, run_playbook

TASKS = os.path.join(REPO, "roles", "ofed_install", "tasks")

FIRST = """\
- name: An earlier run starts the installer and dies
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: A job that writes a line per second for {seconds} s
      ansible.builtin.shell: "for i in $(seq 1 {seconds}); do echo step $i >> {log}; sleep 1; done; echo done >> {log}"
      async: 120
      poll: 0
      register: job
    - name: Record it as install.yml does
      iser.ofed.journal:
        state_dir: {state}
        stage: ofed_install
        status: started
        data:
          job: "{{{{ job.ansible_job_id }}}}"
          log: {log}
          job_started: "{{{{ now(fmt='%s') }}}}"
"""


def resume_tasks() -> str:
    with open(os.path.join(TASKS, "install.yml"), encoding="utf-8") as handle:
        text = handle.read()
    start = text.index("- name: Read the journal (an installer left in the background by an earlier run?)")
    end = text.index("# The conf does not exist yet in check mode")
    body = text[start:end].replace("file: poll.yml", "file: " + os.path.join(TASKS, "poll.yml"))
    return indented(body, 4)


def run(tmp_path, name, text):
    book = tmp_path / name
    book.write_text(text)
    return run_playbook(book, async_dir=tmp_path / "async")


def scenario(tmp_path, seconds, between=None):
    state, log = tmp_path / "state", tmp_path / "job.log"
    first = run(tmp_path, "first.yml", FIRST.format(seconds=seconds, log=log, state=state))
    assert first.returncode == 0, first.stdout[-3000:]
    if between:
        between(tmp_path, log)
    tail = ('    - name: Say how it ended\n      ansible.builtin.debug:\n        msg: "ENDED rc={{ __ofed_install_result.rc'
            ' | default(\'none\') }} round={{ __ofed_install_round | default(\'none\') }}"\n')
    second = run(tmp_path, "second.yml", poll_play_head("The next run", state) + resume_tasks() + tail)
    return second, log


def test_a_running_installer_of_a_dead_run_is_followed_to_its_end(tmp_path):
    second, log = scenario(tmp_path, seconds=20)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "is still running: following it" in second.stdout
    rounds = [int(n) for n in re.findall(r"TASK \[Wait for the installer, round (\d+)\]", second.stdout)]
    # (how many rounds depends on how long the second run took to start: one at least)
    assert rounds and rounds == list(range(1, len(rounds) + 1)), second.stdout[-3000:]
    assert re.search(r'"msg": "ENDED rc=0 round=\d+"', second.stdout)
    # The one job ran to its end; no other job was started (one job file in the async directory).
    assert log.read_text().endswith("done\n")
    assert len(os.listdir(tmp_path / "async")) == 1


def job_finished(tmp, _log=None):
    """Wait until async_wrapper has written the job's result (its file holds the result, not 'started')."""
    for _attempt in range(240):
        files = os.listdir(tmp / "async") if (tmp / "async").is_dir() else []
        if files:
            with open(tmp / "async" / files[0], encoding="utf-8") as handle:
                text = handle.read()
            if '"rc"' in text:
                return
        time.sleep(0.5)
    raise AssertionError("the background job did not finish")


def test_a_finished_installer_of_a_dead_run_is_read_not_rerun(tmp_path):
    second, log = scenario(tmp_path, seconds=1, between=job_finished)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "has finished: reading its result" in second.stdout
    assert re.search(r'"msg": "ENDED rc=0 round=1"', second.stdout)
    assert log.read_text().count("step 1") == 1


def test_a_job_the_host_no_longer_knows_is_left_to_the_plan(tmp_path):
    def reboot(tmp, log):  # constructed: the async directory is gone as after a reboot of the host
        job_finished(tmp, log)
        for name in os.listdir(tmp / "async"):
            os.unlink(tmp / "async" / name)
    second, _log = scenario(tmp_path, seconds=1, between=reboot)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "following it" not in second.stdout and "reading its result" not in second.stdout
    assert '"msg": "ENDED rc=none round=none"' in second.stdout
