# SPDX-License-Identifier: GPL-3.0-or-later
"""DOCA-era recognition in _ofed_info (and what _scst makes of it).

No DOCA host was captured by this project. The ``ofed_info`` first lines and ``/etc/mlnx-release`` lines
in PUBLIC are quoted verbatim from public documents (source named on each line); everything else is
marked constructed.
"""
from __future__ import annotations

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _ofed_info as oi
from ansible_collections.iser.ofed.plugins.module_utils import _pkgquery as pq
from ansible_collections.iser.ofed.plugins.module_utils import _scst

# (first line, kind, version) quoted from public documents
PUBLIC_FIRST_LINES = [
    # NVIDIA Aerial cuBB guide, DGX Spark: `ofed_info -s` after `apt-get install doca-ofed` (DOCA-Host 3.2.1)
    ("OFED-internal-25.10-1.7.1:", "ofed_internal", "25.10-1.7.1"),
    # DDN EXA client notes, DGX OS: `ofed_info -s` after `apt-get install -y doca-ofed`
    ("OFED-internal-24.10-1.1.4.0.200:", "ofed_internal", "24.10-1.1.4.0.200"),
    # DDN upgrade notes (Rocky 8.10)
    ("OFED-internal-24.10-2.1.8:", "ofed_internal", "24.10-2.1.8"),
    # NVIDIA network operator docs: `ofed_info -s` in the DOCA driver container
    ("OFED-internal-24.07-0.6.1:", "ofed_internal", "24.07-0.6.1"),
    # Mellanox/doca-driver-build release manifest: the last standalone MLNX_OFED
    ("MLNX_OFED_LINUX-24.10-2.1.8.0", "mlnx_ofed_linux", "24.10-2.1.8.0"),
]

# (line, expected classification) quoted from public documents
PUBLIC_MLNX_RELEASE = [
    # NVIDIA/doca-platform source comment: `cat /etc/mlnx-release` on a BlueField Arm
    ("bf-bundle-2.7.0-33_24.04_ubuntu-22.04_prod",
     {"kind": "bf_bundle", "doca_version": "2.7.0", "build": "33", "bsp_version": "24.04", "os": "ubuntu-22.04",
      "variant": "prod"}),
    # public DPU cheat sheet: `cat /etc/mlnx-release` on an older BlueField-2 image
    ("DOCA_1.3.0_BSP_3.9.0_Ubuntu_20.04-6.signed",
     {"kind": "doca_bsp", "doca_version": "1.3.0", "build": "6", "bsp_version": "3.9.0", "os": "Ubuntu_20.04",
      "variant": "signed"}),
]

# Constructed: `dpkg-query -W -f='${Package}\t${Version}\t${db:Status-Abbrev}\n'` rows as on a host that installed
# doca-ofed from tests/fixture_builders/build_doca_repo.py (names/versions: the vendor's, see its README).
DOCA_DPKG_ROWS = (
    "doca-ofed\t2.9.1-018000\tii \n"
    "doca-ofed-userspace\t2.9.1-018000\tii \n"
    "mlnx-ofed-kernel-dkms\t24.10.OFED.24.10.1.1.4.1-1\tii \n"
    "mlnx-ofed-kernel-utils\t24.10.OFED.24.10.1.1.4.1-1\tii \n"
    "ofed-scripts\t24.10.OFED.24.10.1.1.4-1\tii \n"
)


def dpkg_packages(rows: str):
    packages, error = pq.parse_dpkg_query(1, rows, "dpkg-query: no packages found matching compat-rdma*\n")
    assert error is None
    return packages


@pytest.mark.parametrize("line, kind, version", PUBLIC_FIRST_LINES)
def test_public_doca_era_first_lines_are_mlnx_ofed_and_mofed(line, kind, version):
    cls = oi.classify_first_line(line)
    assert (cls["kind"], cls["flavor"], cls["version"]) == (kind, "mlnx_ofed", version)
    assert oi.scst_flavor(line) == "MOFED"
    assert _scst.makefile_flavor(True, line) == "MOFED"


@pytest.mark.parametrize("line, expected", PUBLIC_MLNX_RELEASE)
def test_public_mlnx_release_lines(line, expected):
    assert oi.classify_mlnx_release(oi.parse_mlnx_release(line + "\n")) == expected


@pytest.mark.parametrize("line", [
    "DOCA-OFED 24.10-1.1.4",        # constructed free text
    "bf-bundle-2.7.0",              # constructed: truncated
    "MLNX_OFED_LINUX-24.10-2.1.8.0",  # an ofed_info line, not a BlueField release
])
def test_other_mlnx_release_text_has_no_kind(line):
    assert oi.classify_mlnx_release(line)["kind"] is None


def test_no_mlnx_release():
    assert oi.classify_mlnx_release(None) is None
    assert oi.classify_mlnx_release(oi.parse_mlnx_release("\n\n")) is None


def test_doca_host_with_ofed_info_keeps_flavor_and_ofed_version():
    info = dict(oi.classify_first_line("OFED-internal-24.10-1.1.4:"), source="ofed_info -s")
    stack = oi.decide_stack(info, dpkg_packages(DOCA_DPKG_ROWS), None)
    assert (stack["installed"], stack["flavor"], stack["version"], stack["version_source"]) == (
        True, "mlnx_ofed", "24.10-1.1.4", "ofed_info -s")
    assert stack["doca"] == {"detected": True, "version": "2.9.1", "version_source": "dpkg package doca-ofed",
                             "packages": ["doca-ofed", "doca-ofed-userspace"], "mlnx_release": None}


def test_userspace_only_doca_without_ofed_info_is_mlnx_ofed_from_packages():
    rows = "doca-ofed-userspace\t3.2.3-019000\tii \n"  # version as pinned in a public Dockerfile
    stack = oi.decide_stack({"kind": None}, dpkg_packages(rows), None)
    assert (stack["installed"], stack["flavor"], stack["version_source"]) == (
        True, "mlnx_ofed", "dpkg package doca-ofed-userspace")
    assert (stack["doca"]["detected"], stack["doca"]["version"]) == (True, "3.2.3")


def test_removed_doca_package_is_not_detected():
    rows = "doca-ofed\t2.9.1-018000\trc \n"  # constructed: removed, config files left
    stack = oi.decide_stack({"kind": None}, dpkg_packages(rows), None)
    assert stack["installed"] is False
    assert stack["doca"]["detected"] is False and stack["doca"]["packages"] == []


def test_rpm_doca_host_package_gives_doca_version_from_upstream_version():
    # constructed rpm -q row; NVRA from the public file name doca-host-3.1.0-091000_25.07_ol96.x86_64.rpm
    packages, error = pq.parse_rpm_query(0, "doca-host\t3.1.0\t091000_25.07_ol96\tx86_64\n", "")
    assert error is None
    doca = oi.doca_facts(packages, None)
    assert doca == {"detected": True, "version": "3.1.0", "version_source": "rpm package doca-host",
                    "packages": ["doca-host"], "mlnx_release": None}


def test_other_doca_package_detects_without_version():
    rows = "doca-runtime\t2.7.0-1\tii \n"  # constructed: a BlueField runtime package, not a metapackage
    doca = oi.doca_facts(dpkg_packages(rows), None)
    assert (doca["detected"], doca["version"], doca["packages"]) == (True, None, ["doca-runtime"])


def test_bluefield_mlnx_release_alone():
    line = PUBLIC_MLNX_RELEASE[0][0]
    stack = oi.decide_stack({"kind": None}, [], line)
    assert (stack["installed"], stack["flavor"], stack["version"], stack["version_source"]) == (
        True, "mlnx_ofed", line, "/etc/mlnx-release")
    assert stack["doca"]["detected"] is True
    assert (stack["doca"]["version"], stack["doca"]["version_source"]) == ("2.7.0", "/etc/mlnx-release")


def test_mlnx_ofed_bundle_host_is_not_doca():
    rows = "mlnx-ofed-kernel-dkms\t24.10.OFED.24.10.2.1.8.1-1\tii \nofed-scripts\t24.10.OFED.24.10.2.1.8-1\tii \n"
    info = dict(oi.classify_first_line("MLNX_OFED_LINUX-24.10-2.1.8.0:"), source="ofed_info -s")  # constructed
    stack = oi.decide_stack(info, dpkg_packages(rows), None)
    assert stack["flavor"] == "mlnx_ofed" and stack["doca"]["detected"] is False


def test_scst_build_on_a_doca_host():
    packages = dpkg_packages(DOCA_DPKG_ROWS)
    present = {"/usr/src/ofa_kernel/default/include", "/usr/src/ofa_kernel/default/include/linux/compat-2.6.h",
               "/usr/src/ofa_kernel/default/Module.symvers"}
    build = _scst.compute(True, "OFED-internal-24.10-1.1.4:", packages, "6.1.0-50-amd64", "6.1.0-50-amd64",
                          exists=present.__contains__)
    assert (build["flavor"], build["ready"], build["reasons"]) == ("MOFED", True, [])
    assert build["devel_package"]["name"] == "mlnx-ofed-kernel-dkms"
    assert (build["mofed_major"], build["mofed_minor"]) == (24, 10)
    # dkms module version as in a public `dkms build -m mlnx-ofed-kernel -v 24.10.OFED.24.10.1.1.4.1`
    assert build["dkms_build_dir"] == "/var/lib/dkms/mlnx-ofed-kernel/24.10.OFED.24.10.1.1.4.1/build"


def test_scst_build_on_userspace_only_doca_is_not_ready():
    packages = dpkg_packages("doca-ofed-userspace\t2.9.1-018000\tii \nofed-scripts\t24.10.OFED.24.10.1.1.4-1\tii \n")
    build = _scst.compute(True, "OFED-internal-24.10-1.1.4:", packages, "6.1.0-50-amd64", "6.1.0-50-amd64",
                          exists=lambda path: False)
    assert build["flavor"] == "MOFED" and build["ready"] is False
    assert build["reasons"][0].startswith("MLNX OFED has not been installed: none of mlnx-ofed-kernel-dkms")


def test_rpm_query_names_cover_the_doca_metapackages():
    argv = pq.rpm_argv()
    for name in oi.DOCA_PACKAGES:
        assert name in argv
    assert "doca-*" in pq.dpkg_argv()
