# SPDX-License-Identifier: GPL-3.0-or-later
"""Generate the AWX/Tower survey specs of awx/surveys/ from the roles' argument specs.

AWX does not read ``meta/argument_specs.yml``; a job template asks its questions from a survey spec
(``{"name", "description", "spec": [question, ...]}``). This script derives one survey per job template
(``TEMPLATES`` below) from the entry point ``main`` of each role's ``meta/argument_specs.yml``, plus
``awx/surveys/unmapped.md``: what could not be mapped and why.

Mapping rules (AWX question types: text, textarea, password, integer, float, multiplechoice, multiselect):

* An option whose default is exactly ``{{ iser_ofed_<x> | default(<literal>) }}`` is not asked itself: it is
  asked once, as the collection-wide input ``iser_ofed_<x>`` (type and default from the option), before any
  role option. Every role option derived from it follows the answer.
* ``str`` -> text (password with ``no_log: true``), ``path`` -> text, ``int`` -> integer, ``float`` -> float,
  ``bool`` -> multiplechoice ``true``/``false`` (AWX has no boolean; the roles read the answer with ``| bool``),
  ``str`` with choices -> multiplechoice, ``list`` with choices -> multiselect.
* A question with a non-empty default is ``required``: AWX sends a survey default as an extra variable, and an
  optional question a user clears is sent as ``""`` or ``null`` (depending on the AWX version), which would
  replace the role default instead of falling back to it. A default of ``""`` stays optional.
* Not mapped (listed in unmapped.md): lists without choices and dicts (a survey answer is a string, not YAML),
  defaults that are templates other than a plain ``iser_ofed_*`` derivation (AWX rejects Jinja2 in survey
  answers by default), and entry points other than ``main`` (internal).

Usage: ``python scripts/gen_surveys.py [--check] [--root DIR]``. Without ``--check`` it (re)writes
awx/surveys/; with ``--check`` it writes nothing and exits 1, naming the stale files, when the committed
surveys differ from what the argument specs give.
"""
from __future__ import annotations

import ast
import json
import os
import re
import sys
from typing import Any

import yaml

ENTRY_POINT = "main"
SURVEY_DIR = os.path.join("awx", "surveys")
UNMAPPED = "unmapped.md"
REGENERATE = "python scripts/gen_surveys.py"
QUESTION_TYPES = ("text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect")

# The pipeline order of architecture.md; roles not listed here (added later) follow, alphabetically.
PIPELINE = ("preflight", "validate", "build_prereqs", "ib_unload", "stock_purge", "ofed_install", "iscsi_scst",
            "finalize", "rollback")

# One survey per job template: the playbook it runs (a role option that playbook sets itself, as a `name:` key,
# is not asked: an extra variable would override it), the roles whose options it asks (None: every role under
# roles/), and the playbook variables it asks, each as (the playbook that reads it, its description, its
# argument-spec-like type: {"type": "bool"}, {"type": "str", "choices": [...]}...). The default is read from
# that playbook, where it is written as `<variable> | default(<literal>[, true])`; the same mapping rules as a
# role option's apply (a list without choices is not asked: unmapped.md says so).
TEMPLATES: dict[str, dict[str, Any]] = {
    "preflight": {
        "title": "iser.ofed preflight (read-only)",
        "playbook": "playbooks/preflight.yml",
        "roles": ["preflight"],
        "playbook_variables": {
            "iser_ofed_preflight_report_dir": (
                "playbooks/preflight.yml",
                "Controller directory for the fleet report (one JSON per host, fleet-report.md and .html). "
                "In an execution environment the job's filesystem is discarded: give a directory on a volume "
                "exposed to the job, or rely on the set_stats artifact (iser_ofed_preflight).",
                {"type": "str"},
            ),
        },
    },
    "rollback": {
        "title": "iser.ofed rollback",
        "playbook": "playbooks/rollback.yml",
        "roles": ["rollback"],
        "playbook_variables": {},
    },
    "site": {
        "title": "iser.ofed site (every stage)",
        "playbook": "playbooks/site.yml",
        "roles": None,
        "playbook_variables": {
            "iser_ofed_site_report_dir": (
                "playbooks/site.yml",
                "Controller directory for the fleet report (site-report.md and .html, one JSON per host). In an "
                "execution environment the job's filesystem is discarded: give a directory on a volume exposed "
                "to the job, or rely on the set_stats artifact (iser_ofed_site).",
                {"type": "str"},
            ),
            "iser_ofed_site_serial": (
                "playbooks/site.yml",
                "The batches: a canary host, then percentages of the fleet (the play's serial).",
                {"type": "list"},
            ),
            "iser_ofed_site_max_fail_percentage": (
                "playbooks/site.yml",
                "Percentage of a batch's hosts that may fail before the run stops (0: the first failed host "
                "stops the run after its batch, so a bad bundle stops after the canary).",
                {"type": "int"},
            ),
            "iser_ofed_site_fast_path": (
                "playbooks/site.yml",
                "Only read the hosts that are already converged (one read-only module each); false sends every "
                "host through the whole pipeline.",
                {"type": "bool"},
            ),
            "iser_ofed_site_detach": (
                "playbooks/site.yml",
                "Run unload, purge and install as a detached on-host job when the unload takes the management "
                "NIC's driver along (auto), always, or never (the interlock then refuses such a host).",
                {"type": "str", "choices": ["auto", "always", "never"]},
            ),
            "iser_ofed_site_detach_address_timeout": (
                "playbooks/site.yml",
                "Seconds the detached job waits for the management address to come back by itself before it "
                "adds it again with ip.",
                {"type": "int"},
            ),
            "iser_ofed_site_keep_failed": (
                "playbooks/site.yml",
                "Leave a failed host as it failed for inspection instead of rolling it back.",
                {"type": "bool"},
            ),
            "iser_ofed_site_break_lock": (
                "playbooks/site.yml",
                "Take over the host's run lock even when its holder may still run (only when you know it is "
                "gone).",
                {"type": "bool"},
            ),
            "iser_ofed_site_lock_stale_after": (
                "playbooks/site.yml",
                "Seconds after which another run's lock counts as stale (0: never stale by age).",
                {"type": "int"},
            ),
        },
    },
}

_DERIVED = re.compile(r"^\{\{\s*(iser_ofed_[a-z0-9_]+)\s*\|\s*default\((.*)\)\s*\}\}$", re.S)
_MARKUP = re.compile(r"\b[CIOVBMEP]\(([^()]*)\)")


class SurveyError(Exception):
    """The argument specs or the playbooks cannot give a survey."""


def _load_yaml(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def plain(text: Any) -> str:
    """An argument-spec description (str or list) as one line of plain text (C(x), O(x)... unwrapped)."""
    if isinstance(text, list):
        text = " ".join(str(part) for part in text)
    return " ".join(_MARKUP.sub(r"\1", str(text or "")).split())


def derived_from(default: Any) -> tuple[str, Any] | None:
    """``("iser_ofed_x", literal)`` when ``default`` is exactly ``{{ iser_ofed_x | default(literal[, ...]) }}``."""
    if not isinstance(default, str):
        return None
    match = _DERIVED.match(default.strip())
    if not match:
        return None
    try:
        call = ast.parse(f"f({match.group(2)})", mode="eval").body
        if not isinstance(call, ast.Call) or not call.args:
            return None
        return match.group(1), ast.literal_eval(call.args[0])
    except (SyntaxError, ValueError):
        return None


def role_order(roles: list[str]) -> list[str]:
    """Pipeline order first, then any other role alphabetically."""
    known = [role for role in PIPELINE if role in roles]
    return known + sorted(role for role in roles if role not in PIPELINE)


def load_roles(root: str) -> dict[str, dict[str, Any]]:
    """``{role: argument_specs mapping}`` for every role under ``<root>/roles`` with an argument spec."""
    roles_dir = os.path.join(root, "roles")
    if not os.path.isdir(roles_dir):
        raise SurveyError(f"{roles_dir} is not a directory")
    specs: dict[str, dict[str, Any]] = {}
    for role in sorted(os.listdir(roles_dir)):
        path = os.path.join(roles_dir, role, "meta", "argument_specs.yml")
        if not os.path.isfile(path):
            continue
        try:
            doc = _load_yaml(path)
        except yaml.YAMLError as exc:
            raise SurveyError(f"roles/{role}/meta/argument_specs.yml is not valid YAML: {exc}") from exc
        entries = (doc or {}).get("argument_specs") if isinstance(doc, dict) else None
        if not isinstance(entries, dict):
            raise SurveyError(f"roles/{role}/meta/argument_specs.yml has no argument_specs mapping")
        specs[role] = entries
    return specs


class _JinjaConstants(ast.NodeTransformer):
    """Jinja2's ``true``/``false``/``none`` (any case) as Python constants, so literal_eval reads them."""

    NAMES = {"true": True, "false": False, "none": None}

    def visit_Name(self, node: ast.Name) -> ast.AST:  # noqa: N802 (the NodeTransformer protocol)
        if node.id.lower() in self.NAMES:
            return ast.copy_location(ast.Constant(self.NAMES[node.id.lower()]), node)
        return node


def playbook_default(root: str, playbook: str, variable: str) -> Any:
    """The literal default a playbook gives ``variable`` (``variable | default(<literal>[, true])``)."""
    path = os.path.join(root, playbook)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise SurveyError(f"{playbook}: cannot read it for {variable}: {exc}") from exc
    for match in re.finditer(re.escape(variable) + r"\s*\|\s*default\(", text):
        # the argument list: up to the parenthesis that closes default( (literals hold no parentheses here)
        depth, end = 1, match.end()
        while end < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        try:
            call = _JinjaConstants().visit(
                ast.parse(f"f({' '.join(text[match.end():end - 1].split())})", mode="eval")).body
            if isinstance(call, ast.Call) and call.args:
                return ast.literal_eval(call.args[0])
        except (SyntaxError, ValueError):
            continue
    raise SurveyError(f"{playbook} does not read {variable} | default(<literal>): update TEMPLATES in "
                      f"scripts/gen_surveys.py")


def playbook_sets(root: str, playbook: str, names: list[str]) -> list[str]:
    """The names among ``names`` that ``playbook`` sets itself (a ``name:`` key); none when it does not exist."""
    path = os.path.join(root, playbook)
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return [name for name in names if re.search(r"^\s*" + re.escape(name) + r"\s*:", text, re.M)]


def _rename(text: str, names: dict[str, str]) -> str:
    """Name the collection-wide input a survey asks instead of the role option derived from it."""
    for option, variable in names.items():
        text = re.sub(r"\b" + re.escape(option) + r"\b", variable, text)
    return text


def _question(variable: str, description: str, option: dict[str, Any], default: Any,
              has_default: bool) -> tuple[dict[str, Any] | None, str]:
    """One AWX question for an option, or ``(None, reason)`` when it cannot be one."""
    kind = option.get("type", "str")
    choices = option.get("choices")
    question: dict[str, Any] = {
        "question_name": variable,
        "question_description": description,
        "variable": variable,
    }
    if has_default and isinstance(default, str) and "{{" in default:
        return None, (f"default `{default}` is a template (AWX rejects Jinja2 in survey answers): set it in "
                      "inventory or in the job template's extra variables")
    if kind in ("str", "path", "raw") and not choices:
        question["type"] = "password" if option.get("no_log") else "text"
        if has_default and default is not None and not isinstance(default, str):
            return None, f"type {kind} with a non-string default {default!r}"
    elif kind in ("str", "raw") and choices:
        question["type"] = "multiplechoice"
        question["choices"] = [str(choice) for choice in choices]
    elif kind == "bool":
        question["type"] = "multiplechoice"
        question["choices"] = ["true", "false"]
        if has_default and default is not None:
            default = "true" if default else "false"
    elif kind == "int":
        question["type"] = "integer"
    elif kind == "float":
        question["type"] = "float"
    elif kind == "list" and choices:
        question["type"] = "multiselect"
        question["choices"] = [str(choice) for choice in choices]
        if has_default and default is not None:
            if not isinstance(default, list):
                return None, f"list default {default!r} is not a list"
            default = "\n".join(str(item) for item in default)
    elif kind == "list":
        return None, ("list without choices: a survey answer is a string, not a YAML list: set it in inventory "
                      "or in the job template's extra variables")
    else:
        return None, (f"type {kind}: a survey answer is a string: set it in inventory or in the job template's "
                      "extra variables")

    required = bool(option.get("required", False))
    if has_default and default is not None and default != "":
        question["default"] = default
        required = True
    elif has_default and default == "":
        question["default"] = ""
    question["required"] = required
    return question, ""


def build(root: str) -> tuple[dict[str, dict[str, Any]], str]:
    """Every survey (``{file name: survey}``) and the text of unmapped.md."""
    specs = load_roles(root)
    if not specs:
        raise SurveyError(f"no roles with meta/argument_specs.yml under {os.path.join(root, 'roles')}")
    all_roles = role_order(list(specs))
    surveys: dict[str, dict[str, Any]] = {}
    unmapped: dict[str, list[str]] = {}
    derived_notes: dict[str, list[str]] = {}
    conflicts: list[str] = []
    internal: list[str] = []
    playbook_set: list[str] = []
    # Every option derived from a collection-wide input, across all roles: descriptions name the input instead.
    renames: dict[str, str] = {}
    for role in all_roles:
        for name, option in ((specs[role].get(ENTRY_POINT) or {}).get("options") or {}).items():
            source = derived_from((option or {}).get("default"))
            if source is not None:
                renames[name] = source[0]
    for role in all_roles:
        for entry in specs[role]:
            if entry != ENTRY_POINT:
                internal.append(f"`{role}` entry point `{entry}`")
        if ENTRY_POINT not in specs[role]:
            internal.append(f"`{role}` has no entry point `{ENTRY_POINT}`: nothing asked")

    for template, config in TEMPLATES.items():
        roles = all_roles if config["roles"] is None else [r for r in config["roles"] if r in specs]
        missing = [] if config["roles"] is None else [r for r in config["roles"] if r not in specs]
        if missing:
            raise SurveyError(f"template {template}: no argument spec for role(s) {', '.join(missing)}")
        collection: dict[str, dict[str, Any]] = {}
        users: dict[str, list[str]] = {}
        role_questions: list[dict[str, Any]] = []
        if not os.path.isfile(os.path.join(root, config["playbook"])):
            playbook_set.append(f"{template}: `{config['playbook']}` does not exist yet: regenerate once it does "
                                "(options it sets itself must not be asked)")
        for role in roles:
            options = (specs[role].get(ENTRY_POINT) or {}).get("options") or {}
            set_here = playbook_sets(root, config["playbook"], list(options))
            for name in set_here:
                playbook_set.append(f"{template}: `{name}` is set by `{config['playbook']}` itself (an extra "
                                    "variable would override it)")
            for name, option in options.items():
                if name in set_here:
                    continue
                option = option or {}
                has_default = "default" in option
                default = option.get("default")
                description = _rename(plain(option.get("description")), renames)
                source = derived_from(default) if has_default else None
                if source is not None:
                    variable, literal = source
                    users.setdefault(variable, []).append(name)
                    derived_notes.setdefault(variable, [])
                    if name not in derived_notes[variable]:
                        derived_notes[variable].append(name)
                    shared = re.sub(r"\s*Derived from " + re.escape(variable) + r"\.", "", description).strip()
                    question, reason = _question(variable, shared, option, literal, True)
                    if question is None:
                        unmapped.setdefault(f"{role}: {name}", []).append(f"asked as {variable}: {reason}")
                        continue
                    if variable in collection:
                        first = collection[variable]
                        if (first["type"], first.get("default")) != (question["type"], question.get("default")):
                            note = (f"`{variable}`: `{name}` gives type {question['type']} default "
                                    f"{question.get('default')!r}, the survey asks type {first['type']} default "
                                    f"{first.get('default')!r} (from `{users[variable][0]}`)")
                            if note not in conflicts:
                                conflicts.append(note)
                    else:
                        collection[variable] = question
                    continue
                question, reason = _question(name, description, option, default, has_default)
                if question is None:
                    unmapped.setdefault(f"{role}: {name}", [])
                    if reason not in unmapped[f"{role}: {name}"]:
                        unmapped[f"{role}: {name}"].append(reason)
                    continue
                role_questions.append(question)
        for variable, question in collection.items():
            question["question_description"] = (
                f"{question['question_description']} Collection-wide input; the survey answer sets "
                f"{', '.join(users[variable])}.").strip()
        playbook_questions = []
        for variable, (playbook, description, option) in config["playbook_variables"].items():
            if not os.path.isfile(os.path.join(root, playbook)) and playbook == config["playbook"]:
                continue  # the playbook does not exist yet: the note above says to regenerate once it does
            default = playbook_default(root, playbook, variable)
            question, reason = _question(variable, f"{description} (read by {playbook})", option, default, True)
            if question is None:
                unmapped.setdefault(f"{playbook}: {variable}", []).append(reason)
                continue
            playbook_questions.append(question)
        spec = list(collection.values()) + playbook_questions + role_questions
        problems = validate_survey({"name": template, "description": "", "spec": spec})
        if problems:
            raise SurveyError(f"template {template}: " + "; ".join(problems))
        surveys[f"{template}.json"] = {
            "name": config["title"],
            "description": (f"Generated by scripts/gen_surveys.py from the argument specs of "
                            f"{', '.join(roles)}: do not edit, regenerate."),
            "spec": spec,
        }
    return surveys, _unmapped_text(unmapped, derived_notes, conflicts, internal + playbook_set)


def _unmapped_text(unmapped: dict[str, list[str]], derived: dict[str, list[str]], conflicts: list[str],
                   internal: list[str]) -> str:
    lines = [
        "# Survey mapping notes (generated)",
        "",
        f"Generated by `{REGENERATE}` from `roles/*/meta/argument_specs.yml`: do not edit, regenerate.",
        "",
        "## Options no survey asks",
        "",
        "Set them in inventory (group_vars) or in the job template's extra variables (YAML).",
        "",
    ]
    lines += [f"- `{key.split(': ')[0]}`: `{key.split(': ')[1]}`: {'; '.join(reasons)}"
              for key, reasons in sorted(unmapped.items())] or ["- none"]
    lines += ["", "## Asked once, as a collection-wide input", ""]
    lines += [f"- `{variable}` sets {', '.join(f'`{name}`' for name in names)}"
              for variable, names in derived.items()] or ["- none"]
    lines += ["", "## Roles that disagree about a collection-wide input", ""]
    lines += [f"- {note}" for note in conflicts] or ["- none"]
    lines += ["", "## Not surveyed: internal entry points, options the playbook sets itself", ""]
    lines += [f"- {note}" for note in internal] or ["- none"]
    return "\n".join(lines) + "\n"


def validate_survey(survey: Any) -> list[str]:
    """Problems AWX's survey validation would report for ``survey`` (an empty list when it accepts it)."""
    problems: list[str] = []
    if not isinstance(survey, dict):
        return ["the survey is not a mapping"]
    for key in ("name", "description", "spec"):
        if key not in survey:
            problems.append(f"'{key}' is missing")
    spec = survey.get("spec")
    if not isinstance(spec, list):
        return problems + ["'spec' is not a list"]
    seen: set[str] = set()
    for index, question in enumerate(spec):
        where = f"spec[{index}]"
        if not isinstance(question, dict):
            problems.append(f"{where} is not a mapping")
            continue
        variable = question.get("variable")
        where = f"{where} ({variable})"
        for key in ("question_name", "variable", "type", "required"):
            if key not in question:
                problems.append(f"{where}: '{key}' is missing")
        if not isinstance(variable, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", variable or ""):
            problems.append(f"{where}: 'variable' is not a variable name")
        elif variable in seen:
            problems.append(f"{where}: 'variable' is asked twice")
        seen.add(str(variable))
        kind = question.get("type")
        if kind not in QUESTION_TYPES:
            problems.append(f"{where}: 'type' {kind!r} is not one of {', '.join(QUESTION_TYPES)}")
        if not isinstance(question.get("required"), bool):
            problems.append(f"{where}: 'required' is not a boolean")
        has_default = "default" in question
        default = question.get("default")
        if kind in ("multiplechoice", "multiselect"):
            choices = question.get("choices")
            if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
                problems.append(f"{where}: 'choices' must be a non-empty list of strings")
                continue
            if has_default and default not in ("", None):
                picked = default.split("\n") if isinstance(default, str) else [default]
                if kind == "multiplechoice" and len(picked) != 1:
                    problems.append(f"{where}: a multiplechoice default is one choice")
                for value in picked:
                    if value not in choices:
                        problems.append(f"{where}: default {value!r} is not one of the choices")
        elif kind == "integer" and has_default and (isinstance(default, bool) or not isinstance(default, int)):
            problems.append(f"{where}: an integer question needs an integer default")
        elif kind == "float" and has_default and (isinstance(default, bool)
                                                  or not isinstance(default, (int, float))):
            problems.append(f"{where}: a float question needs a number default")
        elif kind in ("text", "textarea", "password") and has_default and not isinstance(default, str):
            problems.append(f"{where}: a {kind} question needs a string default")
        if question.get("required") is True and has_default and default == "":
            problems.append(f"{where}: required with an empty default")
    return problems


def render(survey: dict[str, Any]) -> str:
    """The committed form of a survey: JSON, two-space indent, keys in a stable order, final newline."""
    return json.dumps(survey, indent=2, sort_keys=False) + "\n"


def stale(root: str) -> list[str]:
    """Survey files under awx/surveys/ that differ from what the argument specs give (or are missing/extra)."""
    surveys, notes = build(root)
    expected = {name: render(survey) for name, survey in surveys.items()}
    expected[UNMAPPED] = notes
    out_dir = os.path.join(root, SURVEY_DIR)
    result = []
    for name, text in sorted(expected.items()):
        path = os.path.join(out_dir, name)
        try:
            with open(path, encoding="utf-8") as handle:
                current = handle.read()
        except OSError:
            current = None
        if current != text:
            result.append(os.path.join(SURVEY_DIR, name))
    if os.path.isdir(out_dir):
        result += [os.path.join(SURVEY_DIR, name) for name in sorted(os.listdir(out_dir))
                   if name.endswith(".json") and name not in expected]
    return result


def write(root: str) -> list[str]:
    """(Re)write awx/surveys/; return the files written."""
    surveys, notes = build(root)
    out_dir = os.path.join(root, SURVEY_DIR)
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, text in sorted([(n, render(s)) for n, s in surveys.items()] + [(UNMAPPED, notes)]):
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(os.path.join(SURVEY_DIR, name))
    return written


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    if check:
        args.remove("--check")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if len(args) == 2 and args[0] == "--root":
        root = args[1]
    elif args:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        if check:
            changed = stale(root)
            if changed:
                print("gen_surveys: the AWX surveys disagree with roles/*/meta/argument_specs.yml: "
                      f"{', '.join(changed)}. Regenerate them with `{REGENERATE}` and commit awx/surveys/.",
                      file=sys.stderr)
                return 1
            print("gen_surveys: OK: awx/surveys/ agrees with the argument specs")
            return 0
        for path in write(root):
            print(f"gen_surveys: wrote {path}")
        return 0
    except SurveyError as exc:
        print(f"gen_surveys: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
