# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests for _pkgquery on real dpkg-query / rpm captures (tests/unit/fixtures/captured/pkg-query)."""
from __future__ import annotations

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _pkgquery as pq
from conftest import fixture_path, read_fixture


def cap(name):
    """(rc, stdout, stderr) of a capture; stderr files exist only when stderr was not empty."""
    import os

    out = read_fixture("captured", "pkg-query", name + ".txt")
    err_path = fixture_path("captured", "pkg-query", name + ".stderr.txt")
    err = read_fixture("captured", "pkg-query", name + ".stderr.txt") if os.path.exists(err_path) else ""
    return int(read_fixture("captured", "pkg-query", name + ".rc").strip()), out, err


@pytest.mark.parametrize("name, expected", [
    ("mlnx-5.0-deb_dpkg-query_W_multi_after-kernel-utils", [
        ("mlnx-ofed-kernel-utils", "5.0-OFED.5.0.2.1.8.1.g5f67178", "ii"),
        ("ofed-scripts", "5.0-OFED.5.0.2.1.8", "ii"),
    ]),
    ("mlnx-4.1-deb_dpkg-query_W_multi_after-kernel-utils", [
        ("mlnx-ofed-kernel-utils", "4.1-OFED.4.1.1.0.2.1.gc22af88", "ii"),
        ("ofed-scripts", "4.1-OFED.4.1.1.0.2", "ii"),
    ]),
])
def test_dpkg_multi_pattern_real(name, expected):
    rc, out, err = cap(name)
    packages, problem = pq.parse_dpkg_query(rc, out, err)
    assert problem is None
    assert [(p["name"], p["version"], p["status"]) for p in packages] == expected
    assert all(p["installed"] and p["manager"] == "dpkg" for p in packages)
    assert pq.find(packages, "ofed-scripts", "dpkg")["version"] == expected[1][1]
    assert pq.find(packages, "ofed-scripts", "rpm") is None


@pytest.mark.parametrize("name", ["mlnx-5.0-deb_dpkg-query_W_f_Version_not-installed",
                                  "mlnx-4.1-deb_dpkg-query_W_not-installed"])
def test_dpkg_not_installed_real_is_not_an_error(name):
    rc, out, err = cap(name)
    assert rc == 1 and "no packages found matching ofed-scripts" in err
    assert pq.parse_dpkg_query(rc, out, err) == ([], None)


def test_dpkg_status_abbrev_real_and_states():
    rc, out, err = cap("mlnx-5.0-deb_dpkg-query_W_f_fields_installed")
    # real capture has Package, Version, Architecture, Status-Abbrev, Status: our format has 3 fields,
    # so parse only the first three columns we ask for (constructed from the real row)
    row = out.splitlines()[0].split("\t")
    assert row[3] == "ii " and row[4] == "install ok installed"
    line = "\t".join([row[0], row[1], row[3]]) + "\n"
    packages, problem = pq.parse_dpkg_query(0, line, "")
    assert problem is None and packages[0]["installed"] and packages[0]["status"] == "ii"
    # constructed: removed with config files left (rc), unpacked only (iU), never installed (un)
    text = ("mlnx-ofed-kernel-dkms\t5.8-OFED.5.8.4.1.5.1\trc \n"
            "mlnx-ofed-kernel-utils\t5.0-OFED.5.0.2.1.8.1.g5f67178\tiU \n"
            "doca-ofed\t\tun \n")
    packages, problem = pq.parse_dpkg_query(0, text, "")
    assert problem is None
    assert [(p["name"], p["installed"], p["status"]) for p in packages] == [
        ("mlnx-ofed-kernel-dkms", False, "rc"), ("mlnx-ofed-kernel-utils", False, "iU")]
    assert pq.find(packages, "mlnx-ofed-kernel-dkms") is None


def test_dpkg_failures():
    packages, problem = pq.parse_dpkg_query(2, "", "dpkg-query: error: failed to open package info file\n")
    assert packages == [] and "failed to open package info file" in problem
    assert "without saying why" in pq.parse_dpkg_query(1, "", "")[1]
    assert "unexpected dpkg-query output" in pq.parse_dpkg_query(0, "garbage-without-tabs\n", "")[1]


def test_dpkg_default_format_real():
    _rc, out, _err = cap("mlnx-4.1-deb_dpkg-query_W_installed")
    assert pq.parse_dpkg_default(out) == {"ofed-scripts": "4.1-OFED.4.1.1.0.2"}  # ":arm64" dropped


@pytest.mark.parametrize("stack, version, release", [
    ("classic-1.5-rpm", "1.5", "0"),
    ("classic-3.5-rpm", "3.5", "OFED.3.5"),
])
def test_rpm_fields_real(stack, version, release):
    rc, out, err = cap(stack + "_rpm_q_qf_fields_installed")
    packages, problem = pq.parse_rpm_query(rc, out, err)
    assert problem is None
    assert len(packages) == 1
    pkg = packages[0]
    assert (pkg["name"], pkg["upstream_version"], pkg["release"], pkg["arch"]) == (
        "ofed-scripts", version, release, "x86_64")
    assert pkg["version"] == "%s-%s" % (version, release)
    # the NVRA we rebuild is what plain "rpm -q" printed in the same container
    _rc, plain, _err = cap(stack + "_rpm_q_installed")
    assert pq.parse_rpm_nvra_lines(plain) == [pkg["nvra"]]


@pytest.mark.parametrize("stack", ["classic-1.5-rpm", "classic-3.5-rpm"])
def test_rpm_not_installed_real(stack):
    rc, out, err = cap(stack + "_rpm_q_qf_version_not-installed")
    assert rc == 1
    assert pq.parse_rpm_query(rc, out, err) == ([], None)
    assert pq.parse_rpm_nvra_lines(out) == []


def test_rpm_mixed_and_failures():
    # constructed from the real lines: one installed, two missing, exit 2
    _rc, out, _err = cap("classic-3.5-rpm_rpm_q_qf_fields_installed")
    text = out + "package kernel-ib-devel is not installed\npackage compat-rdma-devel is not installed\n"
    packages, problem = pq.parse_rpm_query(2, text, "")
    assert problem is None and [p["name"] for p in packages] == ["ofed-scripts"]
    assert "exited 1 but reported 2" in pq.parse_rpm_query(1, text, "")[1]
    assert "error: rpmdb" in pq.parse_rpm_query(1, "", "error: rpmdb: BDB0113 Thread/process failed\n")[1]
    assert "unexpected rpm output" in pq.parse_rpm_query(0, "hello world\n", "")[1]


def test_argv():
    expected = ["dpkg-query", "-W", "-f=${Package}\\t${Version}\\t${db:Status-Abbrev}\\n", "ofed-scripts"]
    assert pq.dpkg_argv(["ofed-scripts"]) == expected
    argv = pq.rpm_argv()
    assert argv[:4] == ["rpm", "-q", "--qf", "%{NAME}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n"]
    assert "mlnx-ofa_kernel-devel" in argv and "compat-rdma-devel" in argv and "kernel-ib-devel" in argv
