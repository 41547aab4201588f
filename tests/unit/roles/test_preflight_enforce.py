# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/preflight entry point ``enforce`` run for real by ansible-playbook (this venv's ansible-core) on localhost.

The record is what ``iser.ofed.preflight_record`` computes from REAL drift facts (``_drift.gather_drift`` over
the captured Debian 12 tree with a second kernel installed after MLNX_OFED's DKMS modules; the module files
are constructed placeholders). Only ``preflight_fail_on_drift: true`` fails the host on drift.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.iser.ofed.plugins.filter import report
from ansible_collections.iser.ofed.plugins.module_utils._drift import gather_drift
from kernel_tree_builder import build_debian12_modules, write

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

PLAYBOOK = """\
- name: Enforce a preflight record
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run the enforce entry point
      ansible.builtin.include_role:
        name: iser.ofed.preflight
        tasks_from: enforce
      vars:
        preflight_record: "{{{{ lookup('ansible.builtin.file', '{record}') | from_json }}}}"
        preflight_fail_on_drift: {fail_on_drift}
"""


def drifted_record(tmp_path):
    root = tmp_path / "root"
    old = build_debian12_modules(root, "6.1.0-50-amd64")
    write(old, "updates/dkms/ib_core.ko", "constructed\n")
    write(old, "modules.dep", "updates/dkms/ib_core.ko:\n")
    build_debian12_modules(root, "6.1.0-57-amd64")
    drift = gather_drift(str(root / "lib/modules"), str(tmp_path / "state"), "6.1.0-50-amd64", flavor="mlnx_ofed",
                         version="5.0-2.1.8.0", packages=["mlnx-ofed-kernel-dkms"])
    return report.preflight_record({"kernel": {"running": "6.1.0-50-amd64", "modules": {"manageable": True},
                                               "secure_boot": {"state": "disabled"}},
                                    "ofed": {"installed": True, "flavor": "mlnx_ofed", "hardware": [{"slot": "x"}],
                                             "ofed_scripts": {"installed": True}},
                                    "drift": drift},
                                   {"flavor": "mlnx_ofed", "bundle_path": "/b"}, {"supported": True}, "localhost")


def play(tmp_path, fail_on_drift):
    record = tmp_path / "record.json"
    record.write_text(json.dumps(drifted_record(tmp_path)))
    book = tmp_path / "play.yml"
    book.write_text(PLAYBOOK.format(record=record, fail_on_drift=fail_on_drift))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collections"))
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(book)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False)


def test_the_record_is_ready_with_drift(tmp_path):
    record = drifted_record(tmp_path)
    assert record["status"] == "ready", record["blockers"]
    assert [i["code"] for i in record["drift"]["findings"]] == ["OFED_MODULES_MISSING"]


@pytest.mark.parametrize("fail_on_drift, rc", [(False, 0), (True, 2)])
def test_drift_fails_the_host_only_when_asked(tmp_path, fail_on_drift, rc):
    proc = play(tmp_path, fail_on_drift)
    assert proc.returncode == rc, proc.stdout[-3000:] + proc.stderr[-2000:]
    if fail_on_drift:
        assert "preflight found 1 drift item(s) since the pipeline ran: kernel 6.1.0-57-amd64 (installed) has no" \
            in proc.stdout
        assert "; fix: install linux-headers-6.1.0-57-amd64 and run `dkms autoinstall -k 6.1.0-57-amd64`" in proc.stdout
        assert "set preflight_fail_on_drift: false" in proc.stdout
