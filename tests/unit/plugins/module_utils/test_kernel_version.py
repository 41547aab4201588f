# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Tests for ``_kernel_version``: kernel strings from the real release notes and real hosts."""
from __future__ import annotations

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _kernel_version as kv


@pytest.mark.parametrize("kernel, upstream, build, dist, flavour", [
    ("2.6.18-164.el5", (2, 6, 18), (164,), "el5", ""),
    ("2.6.9-78.ELsmp", (2, 6, 9), (78,), "", "ELsmp"),
    ("2.6.16.60-0.54-smp", (2, 6, 16, 60), (0, 54), "", "smp"),
    ("3.0.13-0.27-default", (3, 0, 13), (0, 27), "", "default"),
    ("2.6.32-220.4.1.el6.x86_64", (2, 6, 32), (220, 4, 1), "el6", "x86_64"),
    ("6.1.0-50-amd64", (6, 1, 0), (50,), "", "amd64"),          # captured/debian12-kernel/kernel-release.txt
    ("5.4.0-26-generic", (5, 4, 0), (26,), "", "generic"),
    ("2.6.31.5-127.fc12", (2, 6, 31, 5), (127,), "fc12", ""),
    ("3.12", (3, 12), (), "", ""),
])
def test_parse_kernel(kernel, upstream, build, dist, flavour):
    parsed = kv.parse_kernel(kernel)
    assert (parsed.upstream, parsed.build, parsed.dist, parsed.flavour) == (upstream, build, dist, flavour)


@pytest.mark.parametrize("text", ["", "garbage", "linux", "5"])
def test_parse_kernel_rejects_garbage(text):
    assert kv.parse_kernel(text) is None


@pytest.mark.parametrize("a, b, same", [
    ("2.6.9-78.ELsmp", "2.6.9-78.EL", True),
    ("3.0.76-0.9.1", "3.0.76-0.9.1-default", True),
    ("3.10.0-693.el7", "3.10.0-693.el7.x86_64", True),
    ("3.10.0-693.el7", "3.10.0-694.el7", False),
    ("2.6.16.60-0.21-smp", "2.6.16.60-0.54-smp", False),
])
def test_same_up_to_flavour(a, b, same):
    assert kv.same_up_to_flavour(a, b) is same


@pytest.mark.parametrize("target, row, same", [
    ("2.6.32-220.4.1.el6", "2.6.32-220.el6", True),
    ("2.6.32-220.4.1.el6.x86_64", "2.6.32-220.el6", True),
    ("2.6.32-279.el6", "2.6.32-220.el6", False),
    ("2.6.32-220.el7", "2.6.32-220.el6", False),
    ("2.6.33-220.el6", "2.6.32-220.el6", False),
    ("3.0.101-63.1-default", "3.0.101-63", True),
    ("3.0.13-0.27.1-default", "3.0.13-0.27-default", True),
    ("3.0.13-0.28-default", "3.0.13-0.27-default", False),
    ("3.12", "3.12", False),  # no build: a kernel.org-style version has no series
])
def test_same_series(target, row, same):
    assert kv.same_series(target, row) is same


def test_kernelorg_list_and_range():
    assert kv.in_kernelorg_list((2, 6, 31, 5), [(2, 6, 29), (2, 6, 31)])
    assert not kv.in_kernelorg_list((2, 6, 33), [(2, 6, 29), (2, 6, 32)])
    assert kv.in_kernelorg_list((3, 5, 7), [(3, 5)])
    assert kv.in_kernelorg_range((3, 0, 4), (2, 6, 30), (3, 0))
    assert kv.in_kernelorg_range((2, 6, 30), (2, 6, 30), (3, 0))
    assert not kv.in_kernelorg_range((2, 6, 29, 9), (2, 6, 30), (3, 0))
    assert not kv.in_kernelorg_range((3, 1), (2, 6, 30), (3, 0))


def test_sort_by_closeness():
    candidates = ["3.10.0-123.el7", "2.6.32-573.el6", "3.10.0-327.el7", "4.4.21-69-default", "3.10.0-327.el7"]
    ordered = kv.sort_by_closeness("3.10.0-514.el7", candidates)
    assert ordered[:2] == ["3.10.0-327.el7", "3.10.0-123.el7"]  # same upstream first, closer build first
    assert sorted(ordered[2:]) == ["2.6.32-573.el6", "4.4.21-69-default"]  # duplicates dropped
