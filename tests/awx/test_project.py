# SPDX-License-Identifier: GPL-3.0-or-later
"""The AWX project runs as a job template would: the wrapper playbooks, given the survey's answers as extra
variables, with no standard input, the report in a configurable directory and a meaningful exit status.

The preflight wrapper runs for real against this machine (local connection; preflight is read-only). The
target kernel is set to one that is not installed, so the host is deterministically blocked
(TARGET_KERNEL_MISSING): the exit status then follows preflight_fail_on_blockers.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.dirname(sys.executable)
MISSING_KERNEL = "0.0.0-iser-ofed-awx-test"


def _env():
    collections = os.path.join(REPO, ".collections")
    link = os.path.join(collections, "ansible_collections", "iser", "ofed")
    if not os.path.lexists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
                ANSIBLE_NOCOLOR="1", ANSIBLE_SHOW_CUSTOM_STATS="true")


def _survey(name):
    with open(os.path.join(REPO, "awx", "surveys", f"{name}.json"), encoding="utf-8") as handle:
        return json.load(handle)


def _answers(name, blank, **overrides):
    """Extra variables as AWX builds them from a survey left at its defaults: every question with a default;
    a blank optional question is left out (newer AWX), sent as "" (older AWX) or as null (AWX 24.6.1), by
    ``blank``."""
    answers = {}
    for question in _survey(name)["spec"]:
        default = question.get("default")
        if default in (None, ""):
            if question["type"] in ("text", "textarea"):
                if blank == "empty-string":
                    answers[question["variable"]] = ""
                elif blank == "null":  # AWX 24.6.1 (ansible/awx#16205)
                    answers[question["variable"]] = None
            continue
        if question["type"] == "multiselect":
            default = default.split("\n")
        answers[question["variable"]] = default
    answers.update(overrides)
    return answers


def _play(playbook, answers, tmp_path, *options):
    extra = tmp_path / "extra_vars.json"
    extra.write_text(json.dumps(answers), encoding="utf-8")
    argv = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-e", "ansible_connection=local",
            "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"@{extra}", *options,
            os.path.join(REPO, "awx", playbook)]
    return subprocess.run(argv, cwd=str(tmp_path), env=_env(), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.mark.parametrize("blank", ["omitted", "empty-string", "null"])
def test_preflight_job_with_survey_defaults_writes_the_report_where_asked(tmp_path, blank):
    reports = tmp_path / "persistent-volume" / "reports"
    answers = _answers("preflight", blank, iser_ofed_target_kernel=MISSING_KERNEL,
                       iser_ofed_preflight_report_dir=str(reports))
    assert answers["preflight_fail_on_blockers"] == "false"  # a survey answer is a string, not a boolean
    run = _play("preflight.yml", answers, tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    record = json.loads((reports / "localhost.json").read_text(encoding="utf-8"))
    assert record["status"] == "blocked"
    assert "TARGET_KERNEL_MISSING" in [b["code"] for b in record["blockers"]]
    assert (reports / "fleet-report.html").is_file() and (reports / "fleet-report.md").is_file()
    # nothing lands in the job's working directory (discarded in an execution environment)
    assert not (tmp_path / "iser-ofed-reports").exists()
    # the set_stats artifact AWX keeps with the job
    assert "CUSTOM STATS" in run.stdout and "iser_ofed_preflight" in run.stdout and str(reports) in run.stdout


def test_preflight_job_fails_on_blockers_when_asked(tmp_path):
    reports = tmp_path / "reports"
    answers = _answers("preflight", "omitted", iser_ofed_target_kernel=MISSING_KERNEL,
                       iser_ofed_preflight_report_dir=str(reports), preflight_fail_on_blockers="true")
    run = _play("preflight.yml", answers, tmp_path)
    assert run.returncode == 2, run.stdout[-3000:]
    assert "TARGET_KERNEL_MISSING" in run.stdout
    assert "failed=1" in run.stdout
    # the report is written before the host fails
    assert json.loads((reports / "localhost.json").read_text(encoding="utf-8"))["status"] == "blocked"


def test_rollback_wrapper_with_survey_defaults_passes_syntax_and_argument_validation(tmp_path):
    """Rollback is not run here (it would act on this machine); its survey answers must still be values the
    role's argument spec accepts, which --syntax-check does not see: validate them against the spec."""
    run = _play("rollback.yml", _answers("rollback", "omitted"), tmp_path, "--syntax-check")
    assert run.returncode == 0, run.stdout + run.stderr
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    import yaml
    with open(os.path.join(REPO, "roles", "rollback", "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    answers = {k: v for k, v in _answers("rollback", "omitted").items() if k in options}
    spec = {name: {k: v for k, v in option.items() if k in ("type", "elements", "choices", "required")}
            for name, option in options.items()}
    result = ArgumentSpecValidator(spec).validate(answers)
    assert not result.error_messages, result.error_messages
    assert result.validated_parameters["rollback_scope"] == ["purge"]
    assert result.validated_parameters["rollback_depmod"] is True
