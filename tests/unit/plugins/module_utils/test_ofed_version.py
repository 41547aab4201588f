# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests for _ofed_version: parsing, ordering and the documented match rule."""
from __future__ import annotations

import glob
import os
import random
import re

import pytest

from ansible_collections.iser.ofed.plugins.module_utils._ofed_version import (
    OfedVersion,
    matches,
    normalize,
    parse_version,
)
from conftest import fixture_path, read_fixture


@pytest.mark.parametrize("chain", [
    # classic OFED releases (release-notes headers)
    ["1.5", "1.5.4.1", "3.5", "3.18-2", "4.8"],
    # MLNX_OFED bundles, X.Y and YY.MM eras
    ["4.9-7.1.0.0", "5.0-2.1.8.0", "5.8-3.0.7.0", "23.10-0.5.5.0", "24.10-1.1.4.0"],
    # ofed_info forms mixed with bundle numbers
    ["OFED-internal-4.1-1.0.2:", "MLNX_OFED_LINUX-5.0-2.1.8.0:", "MLNX_OFED_LINUX-23.10-0.5.5.0:",
     "MLNX_OFED_LINUX-24.10-1.1.4.0 (OFED-24.10-1.1.4):"],
    # package versions (real: ofed-scripts captures and mlnx-ofed-kernel changelogs)
    ["1.5-0", "3.5-OFED.3.5", "4.1-OFED.4.1.1.0.2", "4.9-OFED.4.9.7.1.0.1", "5.0-OFED.5.0.2.1.8",
     "5.8-OFED.5.8.4.1.5.1", "23.10.OFED.23.10.2.1.3.1-1", "24.07.OFED.24.07.0.6.0.1-1"],
])
def test_strict_order(chain):
    versions = [OfedVersion(v) for v in chain]
    for low, high in zip(versions, versions[1:]):
        assert low < high and high > low and low != high
    assert sorted(reversed(versions)) == versions


@pytest.mark.parametrize("a, b", [
    ("5.0-2.1.8", "5.0-2.1.8.0"),                     # ofed_info -n vs the bundle's .mlnx
    ("OFED-internal-5.0-2.1.8:", "5.0-OFED.5.0.2.1.8"),  # ofed_info -s vs the ofed-scripts package
    ("MLNX_OFED_LINUX-5.0-2.1.8.0 (OFED-5.0-2.1.8):", "5.0-2.1.8.0"),
    ("OFED-3.5:", "3.5-OFED.3.5"),
    ("OFED-1.5", "1.5-0"),
    ("24.07.OFED.24.07.0.6.0.1-1", "24.07-0.6.0.1"),
    ("1:5.0-OFED.5.0.2.1.8", "5.0-2.1.8"),             # Debian epoch
])
def test_equal_forms(a, b):
    assert OfedVersion(a) == OfedVersion(b)
    assert hash(OfedVersion(a)) == hash(OfedVersion(b))
    assert OfedVersion(a) == b  # comparing with a plain string parses it


def test_git_suffix_sorts_after_its_base():
    base = OfedVersion("5.0-OFED.5.0.2.1.8")
    kernel_pkg = OfedVersion("5.0-OFED.5.0.2.1.8.1.g5f67178")
    assert base < kernel_pkg < OfedVersion("5.0-2.1.9")


@pytest.mark.parametrize("text, normal, release, major, minor", [
    ("MLNX_OFED_LINUX-23.10-0.5.5.0:", "23.10-0.5.5.0", "23.10", 23, 10),
    ("OFED-3.18-2:", "3.18-2", "3.18", 3, 18),
    ("5.0-OFED.5.0.2.1.8", "5.0-2.1.8", "5.0", 5, 0),
    ("3.5-OFED.3.5", "3.5", "3.5", 3, 5),
    ("OFED-1.5.4.1", "1.5.4.1", "1.5", 1, 5),
])
def test_normalize_and_fields(text, normal, release, major, minor):
    assert normalize(text) == normal
    version = OfedVersion(text)
    assert (version.release, version.major, version.minor) == (release, major, minor)
    assert str(version) == normal


@pytest.mark.parametrize("text", ["", "hello world", "OFED-", "MLNX_OFED_LINUX-:", "x1.2", "1..2", None])
def test_not_versions(text):
    assert parse_version(text) is None
    if text is not None:
        with pytest.raises(ValueError, match="not an OFED version"):
            OfedVersion(text)


@pytest.mark.parametrize("wanted, actual, expected", [
    ("5.8", "5.8-3.0.7.0", True),
    ("5.8-3", "5.8-3.0.7.0", True),
    ("5.8-3.0.7.0", "5.8-3.0.7.0", True),
    ("5.80", "5.8-3.0.7.0", False),
    ("5.8.3", "5.8-3.0.7.0", False),
    ("5.8-3.0.7.0.1", "5.8-3.0.7.0", False),
    ("5.8-4", "5.8-3.0.7.0", False),
    ("5.8", "MLNX_OFED_LINUX-5.8-3.0.7.0:", True),
    ("MLNX_OFED_LINUX-5.8", "5.8-3.0.7.0", True),
    ("5.0-2.1.8", "5.0-OFED.5.0.2.1.8", True),
    ("24.07", "24.07.OFED.24.07.0.6.0.1-1", True),
    ("3.18", "OFED-3.18-2:", True),
    ("3.1", "OFED-3.18-2:", False),
    ("1.5", "1.5.4.1", True),
    ("hello world", "hello world", True),   # an exact string always matches itself
    ("", "5.8-3.0.7.0", False),
])
def test_matches(wanted, actual, expected):
    assert matches(wanted, actual) is expected
    parsed = parse_version(actual)
    if parsed is not None:
        assert parsed.matches(wanted) is expected


CHANGELOG_HEAD = re.compile(r"^mlnx-ofed-kernel \((?P<version>[^)]+)\)")


def _changelog_versions():
    paths = sorted(glob.glob(fixture_path("mlnx-ofa_kernel-source", "*", "debian", "changelog")))
    assert len(paths) == 8
    result = []
    for path in paths:
        rel = os.path.relpath(path, fixture_path())
        match = CHANGELOG_HEAD.match(read_fixture(*rel.split(os.sep)))
        assert match, path
        result.append(match.group("version"))
    return result


def test_real_changelog_versions_order():
    """The mlnx-ofed-kernel package versions of the 4.9 ... 24.07 source trees (real changelogs)."""
    versions = _changelog_versions()
    ordered = sorted(versions, key=OfedVersion)
    assert ordered == [
        "4.9-OFED.4.9.7.1.0.1",
        "5.8-OFED.5.8.4.1.5.1",
        "23.10.OFED.23.10.2.1.3.1-1",
        "24.01.OFED.24.01.0.3.3.1-1",
        "24.04.OFED.24.04.0.6.5.1-1",
        "24.04.OFED.24.04.0.6.6.1-1",
        "24.04.OFED.24.04.0.7.0.1-1",
        "24.07.OFED.24.07.0.6.0.1-1",
    ]
    # each matches its own bundle release and no other
    for version in versions:
        release = OfedVersion(version).release
        assert matches(release, version)
        assert sum(matches(release, other) for other in versions) == sum(
            OfedVersion(other).release == release for other in versions)


def _random_version(rng):
    head = "%d.%d" % (rng.randint(1, 30), rng.randint(0, 12))
    tail = ".".join(str(rng.randint(0, 9)) for _i in range(rng.randint(0, 4)))
    return head + ("-" + tail if tail else "")


def test_properties_random():
    """Seeded property checks: total order is consistent, and every field-prefix of a version matches it."""
    rng = random.Random(20261125)
    pool = [_random_version(rng) for _i in range(300)]
    parsed = [OfedVersion(v) for v in pool]
    ordered = sorted(parsed)
    for low, high in zip(ordered, ordered[1:]):
        assert low <= high and not (high < low)
        assert (low == high) == (low.key == high.key)
    for text in pool:
        fields = re.split(r"([.-])", text)
        for cut in range(1, len(fields) + 1, 2):
            prefix = "".join(fields[:cut])
            assert matches(prefix, text), (prefix, text)
        assert not matches(text + "1", text)
        assert not matches(text + ".1", text)
