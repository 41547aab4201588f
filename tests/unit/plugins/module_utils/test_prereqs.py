# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of ``_prereqs``: package names per distribution family, apt/rpm lookups, free space.

apt-cache policy and df outputs are real captures (fixtures/captured/debian12-kernel/prereqs/README.md).
RHEL-family and SLES kernel releases below are real release strings of those distributions; the package names
derived from them are what their repositories ship (kernel-devel-<uname -r>, kernel-<flavor>-devel), unit-tested
only: no RHEL or SLES image is reachable here.
"""
from __future__ import annotations

import pytest
from conftest import read_fixture

from ansible_collections.iser.ofed.plugins.module_utils import _prereqs as p
from ansible_collections.iser.ofed.plugins.filter import prereqs as f

CAPTURE = "captured/debian12-kernel/prereqs/"


@pytest.mark.parametrize("dist, expected", [
    ({"id": "debian", "family": "debian"}, "debian"),
    ({"id": "ubuntu", "family": "debian"}, "debian"),
    ({"id": "ubuntu", "family": None}, "debian"),
    ({"id": "rocky", "family": "redhat"}, "redhat"),
    ({"id": "almalinux", "family": None, "like": "rhel centos fedora"}, "redhat"),
    ({"id": "sles", "family": "suse"}, "suse"),
    ({"id": "opensuse-leap", "family": None}, "suse"),
    ({"id": "arch", "family": "archlinux"}, ""),
    (None, ""),
])
def test_family(dist, expected):
    assert p.family(dist) == expected


@pytest.mark.parametrize("fam, kernel, expected", [
    ("debian", "6.1.0-56-amd64", ["linux-headers-6.1.0-56-amd64"]),
    ("debian", "5.4.0-26-generic", ["linux-headers-5.4.0-26-generic"]),
    ("redhat", "4.18.0-513.5.1.el8_9.x86_64",
     ["kernel-devel-4.18.0-513.5.1.el8_9.x86_64", "kernel-devel-uname-r = 4.18.0-513.5.1.el8_9.x86_64"]),
    ("redhat", "5.14.0-427.13.1.el9_4.x86_64+debug",
     ["kernel-debug-devel-5.14.0-427.13.1.el9_4.x86_64",
      "kernel-devel-uname-r = 5.14.0-427.13.1.el9_4.x86_64+debug"]),
    ("redhat", "5.15.0-200.131.27.el9uek.x86_64",
     ["kernel-uek-devel-5.15.0-200.131.27.el9uek.x86_64", "kernel-devel-uname-r = 5.15.0-200.131.27.el9uek.x86_64"]),
    ("suse", "5.14.21-150500.55.39-default", ["kernel-default-devel-5.14.21-150500.55.39", "kernel-default-devel"]),
    ("suse", "4.12.14-122.37-azure", ["kernel-azure-devel-4.12.14-122.37", "kernel-azure-devel"]),
    ("suse", "not-a-suse-kernel", []),
    ("debian", "", []),
    ("", "6.1.0-56-amd64", []),
])
def test_headers_candidates(fam, kernel, expected):
    assert p.headers_candidates(fam, kernel) == expected
    assert f.headers_candidates(kernel, fam) == expected


def test_build_packages_classic_on_debian_needs_rpm_and_lsb_release():
    names = p.build_packages("debian", "ofed")
    assert names[:4] == ["gcc", "binutils", "make", "perl"]
    assert "rpm" in names and "lsb-release" in names
    assert "dkms" not in names


def test_build_packages_mlnx_dkms_and_no_duplicates():
    names = p.build_packages("debian", "mlnx_ofed", dkms=True)
    assert "dkms" in names and "dpkg-dev" in names
    assert len(names) == len(set(names))
    assert "dkms" not in p.build_packages("debian", "ofed", dkms=True)
    assert p.build_packages("redhat", "ofed")[:4] == ["gcc", "binutils", "make", "perl"]
    assert "rpm-build" in p.build_packages("suse", "mlnx_ofed")
    assert p.build_packages("", "ofed") == []
    assert p.build_packages("debian") == ["gcc", "binutils", "make", "perl"]


def test_apt_policy_real_capture():
    got = p.parse_apt_policy(read_fixture(CAPTURE + "apt-cache-policy.txt"))
    assert got["linux-headers-6.1.0-56-amd64"] == {"installed": "6.1.192-2", "candidate": "6.1.192-2"}
    assert got["gcc"] == {"installed": None, "candidate": "4:12.2.0-3"}
    assert got["make"]["installed"] == "4.3-4.1"
    assert "linux-headers-9.9.9-bogus" not in got


def test_pick_headers_installed_and_missing():
    lookup = p.parse_apt_policy(read_fixture(CAPTURE + "apt-cache-policy.txt"))
    ok = p.pick_headers(["linux-headers-6.1.0-56-amd64"], lookup)
    assert ok == {"package": "linux-headers-6.1.0-56-amd64", "installed": True, "installable": True,
                  "tried": ["linux-headers-6.1.0-56-amd64"]}
    missing = p.pick_headers(["linux-headers-9.9.9-bogus"], lookup)
    assert missing["package"] is None and not missing["installable"]
    assert missing["tried"] == ["linux-headers-9.9.9-bogus"]
    # installable but not installed: gcc stands in for a header package with a candidate only
    assert p.pick_headers(["nope", "gcc"], lookup)["package"] == "gcc"


def test_pick_headers_prefers_installed_over_first_installable():
    lookup = {"a": {"installed": None, "candidate": "1"}, "b": {"installed": "2", "candidate": "2"}}
    assert p.pick_headers(["a", "b"], lookup)["package"] == "b"
    assert p.pick_headers(["a", "b"], "garbage")["package"] is None


def test_rpm_lookup_from_loop_results():
    # constructed: the shape of a registered loop of commands (rc per item)
    installed = [{"item": "kernel-devel-x", "rc": 1}, {"item": "kernel-devel-uname-r-x", "rc": 0}]
    available = [{"item": "kernel-devel-x", "rc": 0, "stdout": "kernel-devel-0:x.noarch"},
                 {"item": "kernel-devel-uname-r-x", "rc": 0, "stdout": ""},
                 {"item": "skipped", "skipped": True}]
    got = f.rpm_lookup(["kernel-devel-x", "kernel-devel-uname-r-x", "other"], installed, available)
    assert got == {"kernel-devel-x": {"installed": None, "candidate": "kernel-devel-x"},
                   "kernel-devel-uname-r-x": {"installed": "kernel-devel-uname-r-x",
                                              "candidate": "kernel-devel-uname-r-x"}}
    assert p.pick_headers(["kernel-devel-x", "kernel-devel-uname-r-x"], got)["package"] == "kernel-devel-uname-r-x"


def test_df_real_capture_and_shortfalls():
    rows = p.parse_df(read_fixture(CAPTURE + "df-P-k.txt"))
    assert len(rows) == 2 and rows[0]["mount"] == "/" and rows[0]["avail_mb"] == 75206504 // 1024
    assert p.space_shortfalls(["/var/lib/x", "/tmp"], rows, 3072) == []
    # both on one filesystem: each needs the threshold, so the need is counted twice
    short = p.space_shortfalls(["/var/lib/x", "/tmp"], rows, 40000)
    assert [s["need_mb"] for s in short] == [80000, 80000]
    assert short[0]["dir"] == "/var/lib/x" and short[0]["avail_mb"] == 73443


def test_df_garbage_and_mismatch():
    assert p.parse_df("") == []
    assert p.parse_df("Filesystem 1024-blocks Used Available Capacity Mounted on\ngarbage line\n") == []
    with pytest.raises(ValueError, match="df reported 0 filesystems for 1 directories"):
        p.space_shortfalls(["/tmp"], [], 1)
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError, match="df reported"):
        f.space_shortfalls([], ["/tmp"], 1)


def test_filter_names():
    names = f.FilterModule().filters()
    assert set(names) >= {"distro_family", "headers_candidates", "build_packages", "apt_policy", "rpm_lookup",
                          "pick_headers", "df_rows", "space_shortfalls"}
