# SPDX-License-Identifier: GPL-3.0-or-later
"""Check that every role's argument spec agrees with its defaults.

For each ``roles/<role>/`` the entry point ``main`` of ``meta/argument_specs.yml`` and
``defaults/main.yml`` must agree:

* every option that has a ``default`` is a key of ``defaults/main.yml`` with an equal value
  (equal after YAML parsing, and of the same type: ``1`` is not ``true``, ``"1"`` is not ``1``);
* every key of ``defaults/main.yml`` is an option of the entry point;
* an option without a ``default`` is not in ``defaults/main.yml`` (a default there that the spec does not
  state would be invisible to ``ansible-doc`` and to AWX surveys).

Usage: ``python scripts/check_argspecs.py [ROLES_DIR]`` (default: ``roles`` beside this script's parent).
Exit status 0 when every role agrees, 1 with one line per problem otherwise.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any

import yaml

ENTRY_POINT = "main"


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps Ansible's tagged scalars (``!unsafe``, ``!vault``) as plain values."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return f"!{suffix} {loader.construct_scalar(node)}"
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_Loader.add_multi_constructor("!", _tagged)


def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)  # noqa: S506 - SafeLoader subclass


def _first_existing(*paths: str) -> str | None:
    for path in paths:
        if os.path.isfile(path):
            return path
    return None


def _canonical(value: Any) -> str:
    """Type-preserving comparison key (JSON keeps true/1/"1" apart)."""
    return json.dumps(value, sort_keys=True, default=str)


def check_role(role_dir: str) -> tuple[list[str], int]:
    """Return (problems, number of options checked) for one role directory."""
    role = os.path.basename(os.path.normpath(role_dir))
    problems: list[str] = []
    spec_path = _first_existing(
        os.path.join(role_dir, "meta", "argument_specs.yml"),
        os.path.join(role_dir, "meta", "argument_specs.yaml"),
    )
    if spec_path is None:
        return [f"{role}: meta/argument_specs.yml is missing"], 0
    spec_rel = os.path.relpath(spec_path, os.path.dirname(os.path.normpath(role_dir)))
    try:
        spec_doc = _load(spec_path)
    except yaml.YAMLError as exc:
        return [f"{spec_rel}: not valid YAML: {exc}"], 0
    entry_points = (spec_doc or {}).get("argument_specs") if isinstance(spec_doc, dict) else None
    if not isinstance(entry_points, dict) or ENTRY_POINT not in entry_points:
        return [f"{spec_rel}: no argument_specs.{ENTRY_POINT} entry point"], 0
    entry = entry_points[ENTRY_POINT] or {}
    options = entry.get("options") or {}
    if not isinstance(options, dict):
        return [f"{spec_rel}: argument_specs.{ENTRY_POINT}.options is not a mapping"], 0

    defaults_path = _first_existing(
        os.path.join(role_dir, "defaults", "main.yml"),
        os.path.join(role_dir, "defaults", "main.yaml"),
    )
    defaults: dict[str, Any] = {}
    defaults_rel = f"{role}/defaults/main.yml"
    if defaults_path is not None:
        defaults_rel = os.path.relpath(defaults_path, os.path.dirname(os.path.normpath(role_dir)))
        try:
            loaded = _load(defaults_path)
        except yaml.YAMLError as exc:
            return [f"{defaults_rel}: not valid YAML: {exc}"], 0
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            return [f"{defaults_rel}: top level is not a mapping"], 0
        defaults = loaded

    for name in sorted(options):
        option = options[name] or {}
        if not isinstance(option, dict):
            problems.append(f"{spec_rel}: option {name!r} is not a mapping")
            continue
        has_default = "default" in option
        if has_default and name not in defaults:
            problems.append(
                f"{role}: option {name!r} has default {option['default']!r} in {spec_rel} "
                f"but is missing from {defaults_rel}"
            )
        elif not has_default and name in defaults:
            problems.append(
                f"{role}: option {name!r} has no default in {spec_rel} but {defaults_rel} sets it to "
                f"{defaults[name]!r} (state the default in the spec, or remove it from defaults)"
            )
        elif has_default and _canonical(option["default"]) != _canonical(defaults[name]):
            problems.append(
                f"{role}: option {name!r} default differs: {spec_rel} says {option['default']!r}, "
                f"{defaults_rel} says {defaults[name]!r}"
            )
    for name in sorted(set(defaults) - set(options)):
        problems.append(
            f"{role}: {defaults_rel} sets {name!r} but {spec_rel} entry point {ENTRY_POINT!r} "
            f"has no such option"
        )
    return problems, len(options)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(__doc__.strip())
        return 0 if args and args[0] in ("-h", "--help") else 2
    roles_dir = args[0] if args else os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "roles"
    )
    if not os.path.isdir(roles_dir):
        print(f"check_argspecs: {roles_dir} is not a directory", file=sys.stderr)
        return 1
    roles = sorted(
        entry for entry in os.listdir(roles_dir)
        if os.path.isdir(os.path.join(roles_dir, entry)) and not entry.startswith(".")
    )
    if not roles:
        print(f"check_argspecs: no roles under {roles_dir}", file=sys.stderr)
        return 1
    all_problems: list[str] = []
    checked = 0
    for role in roles:
        problems, count = check_role(os.path.join(roles_dir, role))
        all_problems.extend(problems)
        checked += count
    if all_problems:
        print(f"check_argspecs: {len(all_problems)} problem(s): argument specs and defaults disagree",
              file=sys.stderr)
        for problem in all_problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"check_argspecs: OK: {len(roles)} role(s), {checked} option(s) of entry point "
          f"{ENTRY_POINT!r} agree with defaults/main.yml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
