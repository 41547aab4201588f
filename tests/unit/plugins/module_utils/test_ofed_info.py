# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests for _ofed_info on the real ofed_info captures (tests/unit/fixtures/captured/ofed_info)."""
from __future__ import annotations

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _ofed_info as oi
from conftest import read_fixture


def capture(name):
    return read_fixture("captured", "ofed_info", name + ".txt")


def rc(name):
    return int(read_fixture("captured", "ofed_info", name + ".rc").strip())


# (capture, kind, flavor, version, scst flavor) for every run and option that prints a first line
REAL_FIRST_LINES = [
    (stack + "_" + opt, kind, flavor, version, scst)
    for stack, kind, flavor, version, scst in [
        ("classic-1.5-rpm", "ofed", "ofed", "1.5", "OFED"),
        ("classic-3.5-rpm", "ofed", "ofed", "3.5", "OFED"),
        ("mlnx-4.1-deb", "ofed_internal", "mlnx_ofed", "4.1-1.0.2", "MOFED"),
        ("mlnx-5.0-deb", "ofed_internal", "mlnx_ofed", "5.0-2.1.8", "MOFED"),
    ]
    for opt in ("noarg", "s", "l")
]


@pytest.mark.parametrize("name, kind, flavor, version, scst", REAL_FIRST_LINES)
def test_real_first_lines(name, kind, flavor, version, scst):
    out = capture(name)
    assert rc(name) == 0
    line = oi.first_line(out)
    result = oi.classify_first_line(line)
    assert (result["kind"], result["flavor"], result["version"]) == (kind, flavor, version)
    assert oi.scst_flavor(line) == scst


@pytest.mark.parametrize("name, expected", [
    ("mlnx-5.0-deb_n", "5.0-2.1.8"),      # MLNX 5.0 knows -n
    ("mlnx-4.1-deb_n", None),             # 4.1 ignores -n and prints the full listing
    ("classic-3.5-rpm_n", None),
    ("classic-1.5-rpm_n", None),          # 1.5 has no options at all
])
def test_real_numeric(name, expected):
    assert oi.parse_numeric(capture(name)) == expected


def test_real_invalid_option_5_0_prints_usage():
    name = "mlnx-5.0-deb_invalid"
    assert rc(name) == 1
    line = oi.first_line(capture(name))
    assert line.startswith("Usage:")
    assert oi.classify_first_line(line)["kind"] is None
    assert oi.scst_flavor(line) == ""


@pytest.mark.parametrize("name", ["classic-1.5-rpm_invalid", "classic-3.5-rpm_invalid", "mlnx-4.1-deb_invalid"])
def test_real_invalid_option_older_print_listing(name):
    assert rc(name) == 0
    assert oi.classify_first_line(oi.first_line(capture(name)))["kind"] is not None


# Constructed first lines: formats from the domain doc (mlnxofedinstall rewrite, YY.MM era, DOCA repo
# install) that no capture holds, plus garbage. Marked constructed.
@pytest.mark.parametrize("line, kind, version, base, scst", [
    ("MLNX_OFED_LINUX-5.0-2.1.8.0:", "mlnx_ofed_linux", "5.0-2.1.8.0", None, "MOFED"),
    ("MLNX_OFED_LINUX-5.0-2.1.8.0 (OFED-5.0-2.1.8):", "mlnx_ofed_linux", "5.0-2.1.8.0", "5.0-2.1.8", "MOFED"),
    ("MLNX_OFED_LINUX-23.10-0.5.5.0:", "mlnx_ofed_linux", "23.10-0.5.5.0", None, "MOFED"),
    ("MLNX_OFED_LINUX-24.10-1.1.4.0:", "mlnx_ofed_linux", "24.10-1.1.4.0", None, "MOFED"),
    ("OFED-internal-24.10-1.1.4:", "ofed_internal", "24.10-1.1.4", None, "MOFED"),   # DOCA host (constructed)
    ("OFED-3.18-2:", "ofed", "3.18-2", None, "OFED"),
    ("OFED-1.5.4.1", "ofed", "1.5.4.1", None, "OFED"),
    ("OFED-4.8:", "ofed", "4.8", None, "OFED"),
    ("hello world", None, None, None, ""),
    ("", None, None, None, ""),
    ("MLNX_EN_LINUX-5.0-2.1.8.0:", None, None, None, ""),
    ("OFED-garbage", None, None, None, "OFED"),          # Makefile says OFED, we cannot read a version
    ("MLNX_OFEDish", None, None, None, "MOFED"),          # prefix rule of the Makefile's sed
    ("  OFED-3.5:", "ofed", "3.5", None, ""),            # sed anchors at column 0; we tolerate blanks
])
def test_constructed_first_lines(line, kind, version, base, scst):
    result = oi.classify_first_line(line)
    assert (result["kind"], result["version"], result["base_version"]) == (kind, version, base)
    assert oi.scst_flavor(line) == scst


def test_first_line_edge_cases():
    assert oi.first_line(None) is None
    assert oi.first_line("") is None
    assert oi.first_line("\nOFED-3.5:") == ""
    assert oi.first_line("OFED-3.5:\r\nrest") == "OFED-3.5:"


@pytest.mark.parametrize("text, expected", [
    # constructed: /etc/infiniband/info is a shell script printing prefix=, Kernel=, Configure options
    ("#!/bin/bash\n\necho prefix=/usr\necho Kernel=5.4.0-26-generic\necho\necho \"Configure options: --with-core-mod\"\n",
     "/usr"),
    ("#!/bin/bash\necho prefix=/opt/ofed\n", "/opt/ofed"),
    ("prefix=/usr/local/\nKernel=2.6.32\n", "/usr/local"),
    ("#!/bin/sh\necho hello\n", None),
    ("", None),
])
def test_parse_infiniband_info(text, expected):
    assert oi.parse_infiniband_info(text) == expected


def test_looks_binary_and_clean_text():
    junk = "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x03\x00>\x00"
    assert oi.looks_binary(junk)
    assert not oi.looks_binary(capture("mlnx-5.0-deb_l"))
    cleaned = oi.clean_text("\udcff\x1b[0mOK" + "x" * 500)
    assert cleaned.startswith("\ufffd\\x1b[0mOK") and len(cleaned) == 200


def test_decide_stack_prefers_ofed_info_then_packages_then_mlnx_release():
    info = dict(oi.classify_first_line("OFED-internal-5.0-2.1.8:"), source="ofed_info -s")
    assert oi.decide_stack(info, [], None) == {
        "installed": True, "flavor": "mlnx_ofed", "version": "5.0-2.1.8", "version_source": "ofed_info -s",
        "doca": {"detected": False, "version": None, "version_source": None, "packages": [], "mlnx_release": None}}
    # compat-rdma-3.5-OFED.3.5 is the classic OFED 3.5 package name-version (SRPM in the OFED-3.5 tarball)
    pkgs = [{"name": "compat-rdma", "version": "3.5-OFED.3.5", "installed": True, "manager": "rpm"}]
    assert oi.decide_stack({"kind": None}, pkgs, None)["flavor"] == "ofed"
    # constructed: an MLNX_OFED 2.4 kernel-ib RPM (version-release pattern from a public package list)
    kib = [{"name": "kernel-ib", "version": "2.4-2.6.32_431.el6_OFED.2.4.1.0.4", "installed": True,
            "manager": "rpm"}]
    assert oi.decide_stack({"kind": None}, kib, None)["flavor"] == "mlnx_ofed"
    mlnx = [{"name": "mlnx-ofed-kernel-dkms", "version": "5.8-OFED.5.8.4.1.5.1", "installed": True,
             "manager": "dpkg"}] + pkgs
    stack = oi.decide_stack({"kind": None}, mlnx, None)
    assert stack.pop("doca")["detected"] is False
    assert stack == {
        "installed": True, "flavor": "mlnx_ofed", "version": "5.8-OFED.5.8.4.1.5.1",
        "version_source": "dpkg package mlnx-ofed-kernel-dkms"}
    removed = [{"name": "mlnx-ofed-kernel-dkms", "version": "5.8-OFED.5.8.4.1.5.1", "installed": False,
                "manager": "dpkg"}]
    assert oi.decide_stack({"kind": None}, removed, None)["installed"] is False
    assert oi.decide_stack({"kind": None}, [], "DOCA 2.9.1")["version_source"] == "/etc/mlnx-release"
