# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the vm scenario's verify: the evidence the steps left on the VM (files/snapshot.py)."""
from __future__ import annotations

import json

import pytest

EVIDENCE = "/root/iser-ofed-evidence"


@pytest.fixture(scope="module")
def evidence(host):
    """evidence(name) -> the text of <EVIDENCE>/<name>; a missing file fails the test that needs it."""

    def read(name: str) -> str:
        path = "%s/%s" % (EVIDENCE, name)
        with host.sudo():
            f = host.file(path)
            assert f.exists, "evidence %s is missing: the step that writes it did not run" % path
            return f.content_string

    return read


@pytest.fixture(scope="module")
def snap(evidence):
    """snap(name) -> the snapshot <name>.json as a dict."""
    cache: dict = {}

    def load(name: str) -> dict:
        if name not in cache:
            cache[name] = json.loads(evidence(name + ".json"))
        return cache[name]

    return load
