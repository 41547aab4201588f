# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared helpers for the unit tests.

* Puts the repository on ``sys.path`` as ``ansible_collections.iser.ofed`` (a symlink under
  ``.collections/``), so tests import the collection exactly as Ansible does.
* ``set_module_args``: pass module arguments with a context manager on both ansible-core 2.18 and 2.19.
* ``run_module``: run a module's ``main()`` and return the JSON it printed, with ``failed`` set when it
  called ``fail_json``.
* ``fixture_path`` / ``read_fixture``: captured real data, copied from ``../shared/fixtures`` into
  ``tests/unit/fixtures`` (same relative paths; provenance in that folder's README).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def _ensure_collection_path() -> None:
    root = os.path.join(REPO, ".collections")
    link = os.path.join(root, "ansible_collections", "iser", "ofed")
    if not os.path.islink(link) and not os.path.isdir(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(REPO, link)
    if root not in sys.path:
        sys.path.insert(0, root)


_ensure_collection_path()


@contextlib.contextmanager
def set_module_args(args: dict):
    """Expose ``args`` to AnsibleModule instances created inside the block."""
    try:  # ansible-core >= 2.19
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core 2.18
        from unittest import mock

        from ansible.module_utils import basic
        from ansible.module_utils.common.text.converters import to_bytes

        payload = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
            yield
        return
    with patch_module_args(args):
        yield


@contextlib.contextmanager
def _as_target():
    """Run module code as it runs on a target host.

    ansible-core 2.19 routes ``module.warn()`` to the controller's display, instead of the result's
    ``warnings``, once any test has imported controller code (``ansible.module_utils._internal.is_controller``
    turns true for the rest of the process). A module never runs in the controller process, so undo that
    for the duration of the run.
    """
    try:
        from ansible.module_utils import _internal
    except ImportError:  # ansible-core 2.18
        yield
        return
    if not hasattr(_internal, "is_controller"):
        yield
        return
    saved = _internal.is_controller
    _internal.is_controller = False
    try:
        yield
    finally:
        _internal.is_controller = saved


def run_module(main, args: dict) -> dict:
    """Run ``main()`` of a module with ``args``; return its result dict."""
    out = io.StringIO()
    with set_module_args(args), _as_target(), contextlib.redirect_stdout(out):
        with pytest.raises(SystemExit) as exc:
            main()
    result = json.loads(out.getvalue())
    result["_exit_code"] = exc.value.code
    return result


def fixture_path(*parts: str) -> str:
    return os.path.join(FIXTURES, *parts)


def read_fixture(*parts: str) -> str:
    with open(fixture_path(*parts), encoding="utf-8", errors="surrogateescape") as handle:
        return handle.read()


def write_file(root, path: str, text: str = "", mode: int = 0o644) -> str:
    """Write ``text`` to ``path`` under the directory ``root`` (a host tree built in tmp_path), making the
    parent directories; returns the full path."""
    full = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(full, mode)
    return full
