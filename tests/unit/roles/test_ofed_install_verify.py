# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/ofed_install/tasks/verify.yml: the checks after the install refuse what the SCST build would not accept.

One real ansible-playbook run on localhost (this venv's ansible-core) runs verify.yml's own tasks, taken
verbatim from the file (from "Name the facts" up to the journal record), once per case against constructed
``iser_ofed.ofed`` facts: the shape ``iser.ofed.ofed_facts`` returns (its RETURN sample), put in place by a
test-only module that returns them as ``ansible_facts`` (the facts module itself reads the real host, which has
no OFED here). Each case runs in block/rescue and records where it failed and the message; the test judges
them. The role's own vars file (roles/ofed_install/vars/main.yml) and the collection's filters are used.
"""
from __future__ import annotations

import json
import os

import pytest

from playbook_run import REPO, run_playbook

TASKS = os.path.join(REPO, "roles", "ofed_install", "tasks")
KERNEL = "6.1.0-28-amd64"
MOFED_DIR = "/usr/src/ofa_kernel/default"

# Test-only: returns its argument as facts (what ofed_facts would have read on a host with that stack).
FACTS_MODULE = '''#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule
module = AnsibleModule(argument_spec=dict(ofed=dict(type="dict", required=True)), supports_check_mode=True)
module.exit_json(changed=False, ansible_facts={"iser_ofed": {"ofed": module.params["ofed"]}})
'''

PLAY = """\
- name: verify.yml against constructed facts
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - {vars_file}
  vars:
    ofed_install_state_dir: /var/lib/iser-ofed
    __ofed_install_dir: /var/lib/iser-ofed/bundles/BUNDLE
    __ofed_install_would_run: false
    __ofed_install_plan: {{changed: false}}
    __results: {{}}
  tasks:
    - name: Run each case
      ansible.builtin.include_tasks: case.yml
      loop: {cases}
      loop_control:
        loop_var: case
        label: "{{{{ case.name }}}}"

    - name: Write the results
      ansible.builtin.copy:
        content: "{{{{ __results | to_nice_json }}}}"
        dest: {out}
        mode: "0644"
"""

CASE = """\
- name: "Case {{ case.name }}"
  vars:
    __ofed_install_flavor: "{{ case.flavor }}"
    __ofed_install_release: "{{ case.release }}"
    __ofed_install_kernel: "{{ case.kernel }}"
  block:
    - name: Put the constructed facts in place
      iser_test_facts:
        ofed: "{{ case.facts }}"

    - name: The checks of verify.yml
      ansible.builtin.include_tasks: verify_checks.yml

    - name: Record that the case passed
      ansible.builtin.set_fact:
        __results: "{{ __results | combine({case.name: {'failed': false}}) }}"
  rescue:
    - name: Record where and why the case was refused
      ansible.builtin.set_fact:
        __results: >-
          {{ __results | combine({case.name: {'failed': true, 'task': ansible_failed_task.name,
                                              'msg': ansible_failed_result.msg}}) }}
"""


def verify_checks() -> str:
    with open(os.path.join(TASKS, "verify.yml"), encoding="utf-8") as handle:
        text = handle.read()
    start = text.index("- name: Name the facts")
    end = text.index("- name: Record the install as done")
    return "---\n" + text[start:end]


def facts(flavor="mlnx_ofed", version="5.0-2.1.8.0", ofed_scripts=True, scst_flavor="MOFED",
          header_dir=MOFED_DIR, header_exists=True, running=KERNEL, reasons=()):
    """An iser_ofed.ofed fact in the shape of ofed_facts' RETURN sample."""
    return {
        "installed": flavor is not None, "flavor": flavor, "version": version,
        "version_source": "ofed_info -s" if flavor else None,
        "running_kernel": running, "target_kernel": KERNEL,
        "ofed_scripts": {"installed": ofed_scripts, "version": "5.0-OFED.5.0.2.1.8" if ofed_scripts else None,
                         "manager": "dpkg", "managers": ["dpkg"]},
        "header_dirs": {header_dir: {"exists": header_exists, "include": header_exists, "compat_h": header_exists,
                                     "module_symvers": header_exists, "config_mk": False}},
        "scst_build_flavor": scst_flavor,
        "scst_build": {"flavor": scst_flavor, "ready": not reasons, "reasons": list(reasons),
                       "header_dir": header_dir if running == KERNEL else None, "version": version},
    }


CASES = [
    {"name": "mlnx_good", "flavor": "mlnx_ofed", "release": "5.0-2.1.8.0", "kernel": KERNEL, "facts": facts()},
    {"name": "classic35_good", "flavor": "ofed", "release": "3.5", "kernel": KERNEL,
     "facts": facts(flavor="ofed", version="3.5", scst_flavor="OFED", header_dir="/usr/src/compat-rdma")},
    # A target kernel that is not running: the Makefile's header dir stays empty until it boots, the stack's
    # own directory for the target kernel is checked instead (present here).
    {"name": "mlnx_target_not_running", "flavor": "mlnx_ofed", "release": "5.0-2.1.8.0", "kernel": KERNEL,
     "facts": facts(running="6.1.0-9-amd64")},
    {"name": "wrong_flavor", "flavor": "mlnx_ofed", "release": "5.0-2.1.8.0", "kernel": KERNEL,
     "facts": facts(flavor="ofed", version="3.5", scst_flavor="OFED", header_dir="/usr/src/compat-rdma")},
    {"name": "wrong_version", "flavor": "mlnx_ofed", "release": "5.0-2.1.8.0", "kernel": KERNEL,
     "facts": facts(version="4.9-7.1.0.0")},
    {"name": "no_stack", "flavor": "mlnx_ofed", "release": "5.0-2.1.8.0", "kernel": KERNEL,
     "facts": facts(flavor=None, version=None, ofed_scripts=False, scst_flavor="in-tree")},
    {"name": "no_ofed_scripts", "flavor": "mlnx_ofed", "release": "5.0-2.1.8.0", "kernel": KERNEL,
     "facts": facts(ofed_scripts=False)},
    {"name": "scst_in_tree", "flavor": "mlnx_ofed", "release": "5.0-2.1.8.0", "kernel": KERNEL,
     "facts": facts(scst_flavor="in-tree", reasons=["/usr/bin/ofed_info is missing: the build uses the kernel's "
                                                    "own RDMA headers"])},
    {"name": "mlnx_headers_missing", "flavor": "mlnx_ofed", "release": "5.0-2.1.8.0", "kernel": KERNEL,
     "facts": facts(header_exists=False, reasons=["MLNX OFED has not been installed"])},
    {"name": "classic15_headers_missing", "flavor": "ofed", "release": "1.5", "kernel": KERNEL,
     "facts": facts(flavor="ofed", version="1.5", scst_flavor="OFED", header_dir="/usr/src/ofa_kernel",
                    header_exists=False, running="6.1.0-9-amd64")},
]
STACK = "Check the installed stack"
SCRIPTS = "Check ofed-scripts"
SCST = "Check what the SCST build will use"
# case -> (task that refused, substrings of the message: what is wrong, where it was read, what to do)
REFUSED = {
    "wrong_flavor": (STACK, ["ofed_facts (iser_ofed.ofed.flavor / .version, from ofed_info -s) shows ofed 3.5,",
                             "not mlnx_ofed 5.0-2.1.8.0", "Read the installer log", "/usr/bin/ofed_info -s",
                             "another stack may shadow it"]),
    "wrong_version": (STACK, ["shows mlnx_ofed 4.9-7.1.0.0, not mlnx_ofed 5.0-2.1.8.0",
                              "Read the installer log (/var/lib/iser-ofed/logs)"]),
    "no_stack": (STACK, ["from nothing) shows no stack", "not mlnx_ofed 5.0-2.1.8.0"]),
    "no_ofed_scripts": (SCRIPTS, ["ofed-scripts is not installed (iser_ofed.ofed.ofed_scripts.installed is false)",
                                  "iscsi-scst's Makefile reads /usr/bin/ofed_info",
                                  "Install it from the bundle (/var/lib/iser-ofed/bundles/BUNDLE)",
                                  "ofed.conf selects ofed-scripts=y"]),
    "scst_in_tree": (SCST, ["iser_ofed.ofed.scst_build_flavor is 'in-tree' (wanted MOFED)",
                            "Install the stack's devel package (mlnx-ofed-kernel-dkms) for kernel " + KERNEL,
                            "reasons: /usr/bin/ofed_info is missing"]),
    "mlnx_headers_missing": (SCST, ["is '%s', exists (iser_ofed.ofed.header_dirs): False" % MOFED_DIR,
                                    "(mlnx-ofed-kernel-dkms) for kernel " + KERNEL,
                                    "reasons: MLNX OFED has not been installed"]),
    "classic15_headers_missing": (SCST, ["is '/usr/src/ofa_kernel', exists (iser_ofed.ofed.header_dirs): False",
                                         "(kernel-ib-devel / compat-rdma-devel) for kernel " + KERNEL]),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verify")
    (tmp / "library").mkdir()
    (tmp / "library" / "iser_test_facts.py").write_text(FACTS_MODULE)
    (tmp / "verify_checks.yml").write_text(verify_checks())
    (tmp / "case.yml").write_text(CASE)
    out = tmp / "results.json"
    (tmp / "play.yml").write_text(PLAY.format(vars_file=os.path.join(REPO, "roles", "ofed_install", "vars", "main.yml"),
                                              cases=json.dumps(CASES), out=out))
    proc = run_playbook(tmp / "play.yml")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_every_case_ran(results):
    assert sorted(results) == sorted(c["name"] for c in CASES)


@pytest.mark.parametrize("case", ["mlnx_good", "classic35_good", "mlnx_target_not_running"])
def test_a_stack_the_scst_build_accepts_passes(results, case):
    assert results[case] == {"failed": False}


@pytest.mark.parametrize("case", list(REFUSED))
def test_each_refusal_fires_naming_the_problem_and_the_fix(results, case):
    task, pieces = REFUSED[case]
    result = results[case]
    assert result["failed"], "%s passed verify.yml" % case
    assert result["task"] == task, "%s refused in %r: %s" % (case, result["task"], result["msg"])
    for piece in pieces:
        assert piece in result["msg"], "%s: %r not in %s" % (case, piece, result["msg"])
