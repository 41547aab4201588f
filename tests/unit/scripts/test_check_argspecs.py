# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of scripts/check_argspecs.py on role trees built in tmp_path (all cases constructed)."""
from __future__ import annotations

import importlib.util
import os
import textwrap

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "scripts", "check_argspecs.py")


@pytest.fixture(scope="module")
def checker():
    spec = importlib.util.spec_from_file_location("check_argspecs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SPEC = """\
---
argument_specs:
  main:
    short_description: constructed
    options:
      demo_name:
        type: str
        default: "{{ iser_ofed_name | default('x') }}"
      demo_enabled:
        type: bool
        default: false
      demo_count:
        type: int
        default: 3
      demo_list:
        type: list
        elements: str
        default: [a, b]
      demo_record:
        type: dict
        required: true
  other:
    options:
      demo_only_here:
        type: str
        default: elsewhere
"""

DEFAULTS = """\
---
demo_name: "{{ iser_ofed_name | default('x') }}"
demo_enabled: false
demo_count: 3
demo_list:
  - a
  - b
"""


def make_role(root, name="demo", spec=SPEC, defaults=DEFAULTS):
    role = root / name
    (role / "meta").mkdir(parents=True)
    if spec is not None:
        (role / "meta" / "argument_specs.yml").write_text(textwrap.dedent(spec), encoding="utf-8")
    if defaults is not None:
        (role / "defaults").mkdir()
        (role / "defaults" / "main.yml").write_text(textwrap.dedent(defaults), encoding="utf-8")
    return role


def run(checker, roles_dir, capsys):
    rc = checker.main([str(roles_dir)])
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def test_agreeing_role_passes(checker, tmp_path, capsys):
    make_role(tmp_path)
    rc, out = run(checker, tmp_path, capsys)
    assert rc == 0, out
    assert "OK: 1 role(s), 5 option(s)" in out


@pytest.mark.parametrize(
    ("defaults", "expected"),
    [
        pytest.param(DEFAULTS.replace("demo_count: 3\n", ""),
                     "option 'demo_count' has default 3 in demo/meta/argument_specs.yml but is missing",
                     id="default-missing-from-defaults"),
        pytest.param(DEFAULTS + "demo_extra: 1\n",
                     "demo/defaults/main.yml sets 'demo_extra' but demo/meta/argument_specs.yml entry point "
                     "'main' has no such option",
                     id="extra-key-in-defaults"),
        pytest.param(DEFAULTS + "demo_record: {}\n",
                     "option 'demo_record' has no default in demo/meta/argument_specs.yml but "
                     "demo/defaults/main.yml sets it to {}",
                     id="defaults-sets-option-without-spec-default"),
        pytest.param(DEFAULTS.replace("demo_count: 3", "demo_count: 4"),
                     "option 'demo_count' default differs: demo/meta/argument_specs.yml says 3, "
                     "demo/defaults/main.yml says 4",
                     id="value-differs"),
        pytest.param(DEFAULTS.replace("demo_enabled: false", 'demo_enabled: "false"'),
                     "option 'demo_enabled' default differs",
                     id="bool-vs-string"),
        pytest.param(DEFAULTS.replace("demo_enabled: false", "demo_enabled: 0"),
                     "option 'demo_enabled' default differs: demo/meta/argument_specs.yml says False, "
                     "demo/defaults/main.yml says 0",
                     id="int-vs-bool"),
        pytest.param(DEFAULTS.replace("  - b\n", "  - c\n"),
                     "option 'demo_list' default differs",
                     id="list-differs"),
        pytest.param(DEFAULTS.replace("default('x')", "default('y')"),
                     "option 'demo_name' default differs",
                     id="template-string-differs"),
    ],
)
def test_disagreement_fails_with_clear_message(checker, tmp_path, capsys, defaults, expected):
    make_role(tmp_path, defaults=defaults)
    rc, out = run(checker, tmp_path, capsys)
    assert rc == 1
    assert "argument specs and defaults disagree" in out
    assert expected in out


def test_other_entry_points_are_not_compared(checker, tmp_path, capsys):
    # demo_only_here belongs to entry point 'other' and is absent from defaults: fine.
    make_role(tmp_path)
    rc, out = run(checker, tmp_path, capsys)
    assert rc == 0, out
    assert "demo_only_here" not in out


def test_every_role_is_checked(checker, tmp_path, capsys):
    make_role(tmp_path, "good")
    make_role(tmp_path, "bad", defaults=DEFAULTS.replace("demo_count: 3", "demo_count: 5"))
    rc, out = run(checker, tmp_path, capsys)
    assert rc == 1
    assert "bad: option 'demo_count' default differs" in out
    assert "good:" not in out


def test_role_without_defaults_file(checker, tmp_path, capsys):
    spec = "argument_specs:\n  main:\n    options:\n      demo_x:\n        type: str\n        required: true\n"
    make_role(tmp_path, spec=spec, defaults=None)
    rc, out = run(checker, tmp_path, capsys)
    assert rc == 0, out
    make_role(tmp_path, "second", spec=spec.replace("required: true", "default: y"), defaults=None)
    rc, out = run(checker, tmp_path, capsys)
    assert rc == 1
    assert "second: option 'demo_x' has default 'y'" in out


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(None, "demo: meta/argument_specs.yml is missing", id="no-spec-file"),
        pytest.param("argument_specs:\n  other:\n    options: {}\n",
                     "demo/meta/argument_specs.yml: no argument_specs.main entry point", id="no-main"),
        pytest.param("argument_specs: [\n", "demo/meta/argument_specs.yml: not valid YAML", id="bad-yaml"),
        pytest.param("", "no argument_specs.main entry point", id="empty-file"),
    ],
)
def test_broken_spec_files(checker, tmp_path, capsys, spec, expected):
    make_role(tmp_path, spec=spec)
    rc, out = run(checker, tmp_path, capsys)
    assert rc == 1
    assert expected in out


def test_defaults_not_a_mapping(checker, tmp_path, capsys):
    make_role(tmp_path, defaults="- a\n- b\n")
    rc, out = run(checker, tmp_path, capsys)
    assert rc == 1
    assert "demo/defaults/main.yml: top level is not a mapping" in out


def test_ansible_tags_are_compared_not_rejected(checker, tmp_path, capsys):
    spec = SPEC.replace("default: 3", "default: !unsafe '{{ raw }}'")
    make_role(tmp_path, spec=spec, defaults=DEFAULTS.replace("demo_count: 3", "demo_count: !unsafe '{{ raw }}'"))
    rc, out = run(checker, tmp_path, capsys)
    assert rc == 0, out
    make_role(tmp_path, "plain", spec=spec, defaults=DEFAULTS.replace("demo_count: 3", "demo_count: '{{ raw }}'"))
    rc, out = run(checker, tmp_path, capsys)
    assert rc == 1
    assert "plain: option 'demo_count' default differs" in out


def test_no_roles_is_an_error(checker, tmp_path, capsys):
    rc, out = run(checker, tmp_path, capsys)
    assert rc == 1
    assert "no roles under" in out
    rc, out = run(checker, tmp_path / "missing", capsys)
    assert rc == 1
    assert "is not a directory" in out


def test_repository_roles_agree(checker, capsys):
    # The real roles/ of this repository: the same check `make argspecs` runs.
    rc, out = checker.main([]), capsys.readouterr()
    assert rc == 0, out.err
