# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of scripts/gen_surveys.py: the committed AWX surveys agree with the roles' argument specs (real repo),
and the mapping rules on role trees built in tmp_path (those cases are constructed)."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import textwrap

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SCRIPT = os.path.join(REPO, "scripts", "gen_surveys.py")


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_surveys", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the real repository -------------------------------------------------------------------------------------

def test_committed_surveys_agree_with_argument_specs(gen):
    stale = gen.stale(REPO)
    assert not stale, (
        f"awx/surveys/ is stale ({', '.join(stale)}): a role's meta/argument_specs.yml changed. Regenerate with "
        f"`.venv/bin/python scripts/gen_surveys.py` and commit awx/surveys/."
    )


def test_every_committed_survey_is_valid_for_awx(gen):
    names = sorted(n for n in os.listdir(os.path.join(REPO, "awx", "surveys")) if n.endswith(".json"))
    assert names == sorted(f"{t}.json" for t in gen.TEMPLATES)
    for name in names:
        with open(os.path.join(REPO, "awx", "surveys", name), encoding="utf-8") as handle:
            survey = json.load(handle)
        assert gen.validate_survey(survey) == [], name
        assert survey["spec"], name


def test_every_role_option_is_asked_or_listed_as_unmapped(gen):
    """Nothing is dropped silently: each option of each role's main entry point is a question of the site
    survey, is asked as the collection-wide input it derives from, or is named in unmapped.md."""
    specs = gen.load_roles(REPO)
    with open(os.path.join(REPO, "awx", "surveys", "site.json"), encoding="utf-8") as handle:
        asked = {q["variable"] for q in json.load(handle)["spec"]}
    with open(os.path.join(REPO, "awx", "surveys", "unmapped.md"), encoding="utf-8") as handle:
        notes = handle.read()
    for role, entries in specs.items():
        for name, option in ((entries.get("main") or {}).get("options") or {}).items():
            source = gen.derived_from((option or {}).get("default"))
            if source is not None:
                # The collection-wide input is asked, or (a list: not a survey answer) named with its reason.
                assert source[0] in asked or f"`{name}`: asked as {source[0]}: " in notes, \
                    f"{role}: {name} derives from {source[0]}, which is neither asked nor listed"
            else:
                assert name in asked or f"`{name}`" in notes, f"{role}: {name} is neither asked nor listed"


def test_collection_wide_inputs_come_first_and_follow_the_roles(gen):
    with open(os.path.join(REPO, "awx", "surveys", "site.json"), encoding="utf-8") as handle:
        spec = json.load(handle)["spec"]
    variables = [q["variable"] for q in spec]
    collection = [v for v in variables if v.startswith("iser_ofed_")]
    assert variables[:len(collection)] == collection
    assert {"iser_ofed_flavor", "iser_ofed_state_dir", "iser_ofed_target_kernel"} <= set(collection)
    state_dir = next(q for q in spec if q["variable"] == "iser_ofed_state_dir")
    # The roles derive their state dir as "{{ iser_ofed_state_dir | default('/var/lib/iser-ofed') }}".
    assert state_dir["default"] == "/var/lib/iser-ofed" and state_dir["required"] is True


def test_playbook_variables_and_wrappers_exist(gen):
    """Each survey's playbook variables are read by the playbook named, and each job template whose playbook
    exists has its AWX wrapper, which imports it."""
    for template, config in gen.TEMPLATES.items():
        for variable, (playbook, _description, _option) in config["playbook_variables"].items():
            assert gen.playbook_default(REPO, playbook, variable) is not None
        if os.path.isfile(os.path.join(REPO, config["playbook"])):
            wrapper = os.path.join(REPO, "awx", f"{template}.yml")
            assert os.path.isfile(wrapper), f"playbooks/{template}.yml exists: add awx/{template}.yml"
            with open(wrapper, encoding="utf-8") as handle:
                assert re.search(rf"import_playbook:\s*iser\.ofed\.{template}\s*$", handle.read(), re.M)


def test_the_site_survey_asks_the_site_playbook_variables_with_their_types_and_defaults(gen):
    """The site playbook's own inputs (not role options) are asked with the playbook's defaults, typed as the
    playbook checks them; the serial list cannot be a survey answer and unmapped.md says so."""
    with open(os.path.join(REPO, "awx", "surveys", "site.json"), encoding="utf-8") as handle:
        spec = {q["variable"]: q for q in json.load(handle)["spec"]}
    assert spec["iser_ofed_site_fast_path"]["type"] == "multiplechoice"
    assert spec["iser_ofed_site_fast_path"]["default"] == "true"
    assert spec["iser_ofed_site_keep_failed"]["default"] == "false"
    assert spec["iser_ofed_site_detach"]["choices"] == ["auto", "always", "never"]
    assert spec["iser_ofed_site_detach"]["default"] == "auto"
    assert spec["iser_ofed_site_max_fail_percentage"]["type"] == "integer"
    assert spec["iser_ofed_site_max_fail_percentage"]["default"] == 0
    assert spec["iser_ofed_site_lock_stale_after"]["default"] == 86400
    assert spec["iser_ofed_site_report_dir"]["default"] == "iser-ofed-reports"
    assert "iser_ofed_site_serial" not in spec
    with open(os.path.join(REPO, "awx", "surveys", "unmapped.md"), encoding="utf-8") as handle:
        assert "`playbooks/site.yml`: `iser_ofed_site_serial`: list without choices" in handle.read()


@pytest.mark.parametrize("expression, default", [
    ("x | default('auto', true)", "auto"),
    ("x | default(true)", True),
    ("(x | default(False)) | bool", False),
    ("x | default(90) | int", 90),
    ("x | default([1, '25%', '100%'], true)", [1, "25%", "100%"]),
    ("x | default(none)", None),
    ("y | default(1) and x\n  | default(\n    'two' )", "two"),
])
def test_playbook_default_reads_the_literal_the_playbook_gives(gen, tmp_path, expression, default):
    (tmp_path / "p.yml").write_text(f"- debug:\n    msg: \"{{{{ {expression} }}}}\"\n", encoding="utf-8")
    assert gen.playbook_default(str(tmp_path), "p.yml", "x") == default


def test_playbook_default_refuses_a_template_default(gen, tmp_path):
    (tmp_path / "p.yml").write_text("- debug:\n    msg: \"{{ x | default(y) }}\"\n", encoding="utf-8")
    with pytest.raises(gen.SurveyError, match=r"does not read x \| default\(<literal>\)"):
        gen.playbook_default(str(tmp_path), "p.yml", "x")


def test_check_mode_reports_a_changed_spec_and_how_to_regenerate(gen, tmp_path, capsys):
    root = tmp_path / "repo"
    shutil.copytree(os.path.join(REPO, "roles"), root / "roles")
    shutil.copytree(os.path.join(REPO, "playbooks"), root / "playbooks")
    assert gen.main(["--check", "--root", str(root)]) == 1  # nothing generated yet
    assert gen.main(["--root", str(root)]) == 0
    assert gen.main(["--check", "--root", str(root)]) == 0
    spec = root / "roles" / "rollback" / "meta" / "argument_specs.yml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("default: auto", "default: never"), encoding="utf-8")
    capsys.readouterr()
    assert gen.main(["--check", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "awx/surveys/rollback.json" in err and "awx/surveys/site.json" in err
    assert "python scripts/gen_surveys.py" in err
    assert gen.main(["--root", str(root)]) == 0
    assert gen.main(["--check", "--root", str(root)]) == 0
    with open(root / "awx" / "surveys" / "rollback.json", encoding="utf-8") as handle:
        initramfs = next(q for q in json.load(handle)["spec"] if q["variable"] == "rollback_initramfs")
    assert initramfs["default"] == "never"


# --- mapping rules (constructed role trees) -------------------------------------------------------------------

CONSTRUCTED_SPEC = """\
---
argument_specs:
  main:
    short_description: constructed
    options:
      preflight_flavor:
        type: str
        description:
          - Wanted stack, C(mlnx_ofed) or C(ofed).
          - Derived from C(iser_ofed_flavor).
        default: "{{ iser_ofed_flavor | default('') }}"
      preflight_dir:
        type: str
        description: Absolute O(preflight_flavor) dir.
        default: "{{ iser_ofed_state_dir | default('/var/lib/x', true) }}"
      preflight_mode:
        type: str
        choices: [fast, slow]
        description: Mode.
        default: fast
      preflight_force:
        type: bool
        description: Force.
        default: false
      preflight_count:
        type: int
        description: Count.
        default: 3
      preflight_ratio:
        type: float
        description: Ratio.
      preflight_secret:
        type: str
        no_log: true
        required: true
        description: Secret.
      preflight_scope:
        type: list
        elements: str
        choices: [a, b, c]
        description: Scope.
        default: [a, c]
      preflight_names:
        type: list
        elements: str
        description: Names.
        default: []
      preflight_map:
        type: dict
        description: Map.
      preflight_templated:
        type: str
        description: Templated.
        default: "{{ iser_ofed_state_dir }}/sub"
      preflight_defer:
        type: bool
        description: Set by the playbook.
        default: false
  other:
    short_description: internal
    options: {}
"""

CONSTRUCTED_PLAYBOOK = """\
---
- name: Constructed
  hosts: all
  tasks:
    - name: Role
      ansible.builtin.include_role:
        name: iser.ofed.preflight
      vars:
        preflight_defer: true
    - name: Report
      ansible.builtin.debug:
        msg: "{{ iser_ofed_preflight_report_dir | default('iser-ofed-reports') }}"
"""


def _tree(tmp_path, spec_text=CONSTRUCTED_SPEC, extra_roles=()):
    root = tmp_path / "repo"
    for role, text in (("preflight", spec_text),) + tuple(extra_roles):
        (root / "roles" / role / "meta").mkdir(parents=True)
        (root / "roles" / role / "meta" / "argument_specs.yml").write_text(text, encoding="utf-8")
    (root / "playbooks").mkdir()
    (root / "playbooks" / "preflight.yml").write_text(CONSTRUCTED_PLAYBOOK, encoding="utf-8")
    (root / "playbooks" / "rollback.yml").write_text("---\n[]\n", encoding="utf-8")
    rollback = textwrap.dedent("""\
        ---
        argument_specs:
          main:
            short_description: constructed
            options:
              rollback_state_dir:
                type: str
                description: Dir. Derived from C(iser_ofed_state_dir).
                default: "{{ iser_ofed_state_dir | default('/var/lib/other') }}"
        """)
    if not (root / "roles" / "rollback").exists():
        (root / "roles" / "rollback" / "meta").mkdir(parents=True)
        (root / "roles" / "rollback" / "meta" / "argument_specs.yml").write_text(rollback, encoding="utf-8")
    return root


def test_mapping_rules_on_a_constructed_spec(gen, tmp_path):
    surveys, notes = gen.build(str(_tree(tmp_path)))
    spec = {q["variable"]: q for q in surveys["preflight.json"]["spec"]}
    order = [q["variable"] for q in surveys["preflight.json"]["spec"]]
    # collection-wide inputs first, then the playbook variable, then the role options in spec order
    assert order[:3] == ["iser_ofed_flavor", "iser_ofed_state_dir", "iser_ofed_preflight_report_dir"]
    assert "preflight_flavor" not in spec and "preflight_dir" not in spec
    assert spec["iser_ofed_flavor"] == {
        "question_name": "iser_ofed_flavor",
        "question_description": "Wanted stack, mlnx_ofed or ofed. Collection-wide input; the survey answer sets "
                                "preflight_flavor.",
        "variable": "iser_ofed_flavor", "type": "text", "default": "", "required": False,
    }
    assert spec["iser_ofed_state_dir"]["default"] == "/var/lib/x"
    assert spec["iser_ofed_state_dir"]["required"] is True
    assert spec["iser_ofed_preflight_report_dir"]["default"] == "iser-ofed-reports"
    assert spec["preflight_mode"]["type"] == "multiplechoice"
    assert spec["preflight_mode"]["choices"] == ["fast", "slow"]
    assert spec["preflight_force"]["choices"] == ["true", "false"]
    assert spec["preflight_force"]["default"] == "false"
    assert spec["preflight_count"]["type"] == "integer" and spec["preflight_count"]["default"] == 3
    assert spec["preflight_ratio"]["type"] == "float" and "default" not in spec["preflight_ratio"]
    assert spec["preflight_ratio"]["required"] is False
    assert spec["preflight_secret"]["type"] == "password" and spec["preflight_secret"]["required"] is True
    assert spec["preflight_scope"]["type"] == "multiselect"
    assert spec["preflight_scope"]["default"] == "a\nc"
    # an option's description names the collection-wide input the survey asks instead of the derived option
    assert spec["iser_ofed_state_dir"]["question_description"].startswith("Absolute iser_ofed_flavor dir.")
    for name in ("preflight_names", "preflight_map", "preflight_templated", "preflight_defer"):
        assert name not in spec
        assert f"`{name}`" in notes
    assert "`preflight` entry point `other`" in notes
    assert "`playbooks/site.yml` does not exist yet" in notes
    # rollback derives the same input with another default: the first role's wins and the conflict is listed
    assert "`iser_ofed_state_dir`: `rollback_state_dir`" in notes
    assert [q["variable"] for q in surveys["rollback.json"]["spec"]] == ["iser_ofed_state_dir"]
    assert [q["default"] for q in surveys["rollback.json"]["spec"]] == ["/var/lib/other"]
    for survey in surveys.values():
        assert gen.validate_survey(survey) == []


def test_roles_added_later_are_picked_up_by_the_site_survey(gen, tmp_path):
    later = textwrap.dedent("""\
        ---
        argument_specs:
          main:
            short_description: constructed
            options:
              zz_later_enabled:
                type: bool
                description: From a role added later.
                default: true
        """)
    surveys = gen.build(str(_tree(tmp_path, extra_roles=(("zz_later", later), ("finalize", later.replace(
        "zz_later_enabled", "finalize_enabled"))))))[0]
    variables = [q["variable"] for q in surveys["site.json"]["spec"]]
    # pipeline order (finalize before rollback), then unknown roles alphabetically
    assert variables.index("finalize_enabled") < variables.index("zz_later_enabled")
    assert "zz_later_enabled" not in [q["variable"] for q in surveys["preflight.json"]["spec"]]


def test_a_template_role_without_spec_or_a_missing_playbook_default_is_refused(gen, tmp_path):
    root = _tree(tmp_path)
    (root / "playbooks" / "preflight.yml").write_text("---\n[]\n", encoding="utf-8")
    with pytest.raises(gen.SurveyError, match="does not read iser_ofed_preflight_report_dir"):
        gen.build(str(root))
    shutil.rmtree(root / "roles" / "preflight")
    with pytest.raises(gen.SurveyError, match="no argument spec for role"):
        gen.build(str(root))


@pytest.mark.parametrize("question, problem", [
    ({"question_name": "x", "variable": "x", "type": "checkbox", "required": False}, "is not one of"),
    ({"question_name": "x", "variable": "x", "type": "text", "required": "no"}, "not a boolean"),
    ({"question_name": "x", "variable": "1x", "type": "text", "required": False}, "not a variable name"),
    ({"question_name": "x", "variable": "x", "type": "integer", "required": True, "default": "3"}, "integer"),
    ({"question_name": "x", "variable": "x", "type": "multiplechoice", "required": True, "choices": ["a"],
      "default": "b"}, "not one of the choices"),
    ({"question_name": "x", "variable": "x", "type": "multiselect", "required": True, "choices": "a\nb"},
     "non-empty list"),
    ({"question_name": "x", "variable": "x", "type": "text", "required": True, "default": ""}, "empty default"),
    ({"variable": "x", "type": "text", "required": False}, "'question_name' is missing"),
])
def test_validate_survey_finds_what_awx_would_refuse(gen, question, problem):
    problems = gen.validate_survey({"name": "n", "description": "", "spec": [question]})
    assert any(problem in p for p in problems), problems


def test_validate_survey_refuses_a_variable_asked_twice(gen):
    question = {"question_name": "x", "variable": "x", "type": "text", "required": False}
    assert any("asked twice" in p for p in gen.validate_survey(
        {"name": "n", "description": "", "spec": [question, dict(question)]}))


@pytest.mark.parametrize("default, expected", [
    ("{{ iser_ofed_flavor | default('') }}", ("iser_ofed_flavor", "")),
    ("{{ iser_ofed_state_dir | default('/var/lib/iser-ofed', true) }}", ("iser_ofed_state_dir", "/var/lib/iser-ofed")),
    ("{{iser_ofed_n|default(3)}}", ("iser_ofed_n", 3)),
    ("{{ iser_ofed_state_dir | default('/x') }}/bundles", None),
    ("{{ other_var | default('') }}", None),
    ("{{ iser_ofed_x | default(lookup('env', 'HOME')) }}", None),
    ("plain", None),
    (False, None),
])
def test_derived_from(gen, default, expected):
    assert gen.derived_from(default) == expected
