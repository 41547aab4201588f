# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/ofed_install/tasks/main.yml: a failed installer's exit-code meaning and output tail reach the role's
failure message and the journal, through the real async / async_status path.

One real ansible-playbook run on localhost (this venv's ansible-core, so 2.18 and 2.19 both render it): a
background job started with async/poll 0 as install.yml starts the installer, followed by the role's own
poll.yml, inside a block whose rescue is main.yml's install rescue taken verbatim. The job is a test-only
module that fails the way ``iser.ofed.ofed_installer`` fails (its RETURN keys: rc, meaning, remedy, log,
log_tail, failed_log; values constructed after the fixture mlnxofedinstall's exit 28). The module itself is
unit-tested in tests/unit/plugins/modules/test_ofed_installer.py, and a real installer failure runs in
Molecule ``validate`` (case installer_fails); this test pins the role's rendering and journal record on both
ansible-core versions.
"""
from __future__ import annotations

import json
import os

from playbook_run import REPO, indented, poll_play_head, run_playbook

TASKS = os.path.join(REPO, "roles", "ofed_install", "tasks")

# Test-only: fails like ofed_installer after mlnxofedinstall exited 28 (constructed values).
FAILING_MODULE = '''#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule
module = AnsibleModule(argument_spec=dict(log=dict(type="str", required=True)))
log = module.params["log"]
tail = ["Logs dir: /var/tmp/small/MLNX_OFED_LINUX.4242.logs",
        "General log file: /var/tmp/small/MLNX_OFED_LINUX.4242.logs/general.log",
        "",
        "Error: Not enough free space in /var/tmp/small: 7 MB available, 200 MB required."]
with open(log, "w") as handle:
    handle.write("\\n".join(tail) + "\\n# rc: 28\\n")
module.fail_json(msg="./mlnxofedinstall exited 28: not enough free space. What to do: free space in the tmp "
                     "directory. Full output: " + log,
                 rc=28, meaning="not enough free space", remedy="free space in the tmp directory",
                 cmd=["./mlnxofedinstall", "-q"], log=log, log_tail=tail,
                 failed_log={"path": "/var/tmp/small/MLNX_OFED_LINUX.4242.logs/general.log",
                             "tail": ["Install command: ./mlnxofedinstall -q --tmpdir /var/tmp/small"]})
'''

PLAY_TASKS = """\
    - name: Keep what the role's rescue failed with
      rescue:
        - name: Write the final failure
          ansible.builtin.copy:
            content: "{{{{ {{'task': ansible_failed_task.name, 'msg': ansible_failed_result.msg}} | to_json }}}}"
            dest: {out}
            mode: "0644"
      block:
        - name: Run it
          block:
            - name: Start the installer in the background
              iser_test_failing_installer:
                log: {log}
              async: 120
              poll: 0
              register: __ofed_install_job

            - name: Name the log as install.yml does
              ansible.builtin.set_fact:
                __ofed_install_log: {log}
                __ofed_install_round: 0
                __ofed_install_started: "{{{{ now(fmt='%s') }}}}"

            - name: Follow the installer until it ends
              ansible.builtin.include_tasks:
                file: {poll}

"""


def rescue() -> str:
    with open(os.path.join(TASKS, "main.yml"), encoding="utf-8") as handle:
        text = handle.read()
    body = text[text.index("  rescue:\n    - name: Record the failure in the journal"):]
    return indented(body, 8)


def test_failure_message_and_journal_carry_the_meaning_and_the_tail(tmp_path):
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "iser_test_failing_installer.py").write_text(FAILING_MODULE)
    state, log = tmp_path / "state", tmp_path / "installer.log"
    state.mkdir()
    book = tmp_path / "play.yml"
    out = tmp_path / "failure.json"
    book.write_text(poll_play_head("A failing installer job followed by poll.yml, main.yml's rescue verbatim", state,
                                   "    __ofed_install_kernel: 6.1.0-28-amd64\n")
                    + PLAY_TASKS.format(log=log, poll=os.path.join(TASKS, "poll.yml"), out=out) + rescue())
    proc = run_playbook(book, async_dir=tmp_path / "async")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    failed = json.loads(out.read_text())
    assert failed["task"] == "Fail with the reason", failed
    msg = failed["msg"]
    assert msg.startswith("ofed_install failed in 'Wait for the installer, round 1': ./mlnxofedinstall exited 28: "
                          "not enough free space. What to do: free space in the tmp directory. Full output: "
                          + str(log)), msg
    # the meaning again next to the tail (blank lines dropped), then the tail of the log the output points to
    assert (" The installer (exit 28: not enough free space) printed last: "
            "Logs dir: /var/tmp/small/MLNX_OFED_LINUX.4242.logs / "
            "General log file: /var/tmp/small/MLNX_OFED_LINUX.4242.logs/general.log / "
            "Error: Not enough free space in /var/tmp/small: 7 MB available, 200 MB required.") in msg, msg
    assert msg.endswith(" Its log /var/tmp/small/MLNX_OFED_LINUX.4242.logs/general.log ends with: "
                        "Install command: ./mlnxofedinstall -q --tmpdir /var/tmp/small"), msg
    record = json.loads((state / "journal.json").read_text())["stages"]["ofed_install"]
    assert record["status"] == "failed"
    data = record["data"]
    assert (data["rc"], data["meaning"]) == (28, "not enough free space")
    assert data["remedy"] == "free space in the tmp directory"
    assert data["log"] == str(log) and data["kernel"] == "6.1.0-28-amd64"
    assert data["log_tail"][-1] == "Error: Not enough free space in /var/tmp/small: 7 MB available, 200 MB required."
    assert data["failed_log"]["path"].endswith("/general.log")
    assert data["error"].startswith("Wait for the installer, round 1: ./mlnxofedinstall exited 28")
