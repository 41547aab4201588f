# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests for _scst: what iscsi-scst's Makefile will decide (flavor, devel package, headers)."""
from __future__ import annotations

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _scst
from ansible_collections.iser.ofed.plugins.module_utils._ofed_info import first_line
from ansible_collections.iser.ofed.plugins.module_utils._pkgquery import parse_dpkg_query, parse_rpm_query
from conftest import read_fixture

RUNNING = "5.4.0-26-generic"
MOFED_FILES = {"/usr/src/ofa_kernel/default", "/usr/src/ofa_kernel/default/include",
               "/usr/src/ofa_kernel/default/include/linux/compat-2.6.h",
               "/usr/src/ofa_kernel/default/Module.symvers"}


def exists_in(paths):
    return lambda path: path in paths


def real_first_line(name):
    return first_line(read_fixture("captured", "ofed_info", name + ".txt"))


def dpkg(text):
    packages, problem = parse_dpkg_query(0, text, "")
    assert problem is None
    return packages


@pytest.mark.parametrize("exists, line, flavor", [
    (False, None, "in-tree"),
    (True, "MLNX_OFED_LINUX-5.0-2.1.8.0 (OFED-5.0-2.1.8):", "MOFED"),
    (True, "OFED-internal-5.0-2.1.8:", "MOFED"),
    (True, "OFED-3.5:", "OFED"),
    (True, "hello world", ""),
    (True, None, ""),          # exists but printed nothing (or could not run): sed prints nothing
])
def test_makefile_flavor(exists, line, flavor):
    assert _scst.makefile_flavor(exists, line) == flavor


def test_mofed_deb_ready_real_first_line():
    # real ofed_info first line (5.0 DEB) + constructed dkms package row (version of the 5.0 bundle's deb)
    pkgs = dpkg("mlnx-ofed-kernel-dkms\t5.0-OFED.5.0.2.1.8.1.g5f67178\tii \n")
    build = _scst.compute(True, real_first_line("mlnx-5.0-deb_noarg"), pkgs, RUNNING, RUNNING,
                          exists=exists_in(MOFED_FILES))
    assert build["flavor"] == "MOFED" and build["ready"] is True and build["reasons"] == []
    assert build["devel_package"] == {"name": "mlnx-ofed-kernel-dkms", "manager": "dpkg", "installed": True,
                                      "version": "5.0-OFED.5.0.2.1.8.1.g5f67178"}
    assert (build["mofed_major"], build["mofed_minor"]) == (5, 0)
    assert build["header_dir"] == "/usr/src/ofa_kernel/default"
    assert build["dkms_build_dir"] == "/var/lib/dkms/mlnx-ofed-kernel/5.0/build"


def test_mofed_without_kernel_package_real_captures():
    """MLNX 5.0 DEB capture: ofed-scripts + kernel-utils only, as in the container: not ready."""
    rc_out = read_fixture("captured", "pkg-query", "mlnx-5.0-deb_dpkg-query_W_multi_after-kernel-utils.txt")
    build = _scst.compute(True, real_first_line("mlnx-5.0-deb_noarg"), dpkg(rc_out), RUNNING, RUNNING,
                          exists=exists_in(set()))
    assert build["flavor"] == "MOFED" and build["ready"] is False
    assert build["reasons"][0].startswith("MLNX OFED has not been installed")
    assert any("compat-2.6.h" in r for r in build["reasons"])
    assert any("Module.symvers" in r for r in build["reasons"])


def test_mofed_rpm_uses_upstream_version_for_major_minor():
    packages, _problem = parse_rpm_query(0, "mlnx-ofa_kernel-devel\t23.10\tOFED.23.10.2.1.3.1.rhel9u3\tx86_64\n", "")
    build = _scst.compute(True, "MLNX_OFED_LINUX-23.10-2.1.3.1:", packages, RUNNING, RUNNING,
                          exists=exists_in(MOFED_FILES - {"/usr/src/ofa_kernel/default/Module.symvers"}))
    assert build["version"] == "23.10" and (build["mofed_major"], build["mofed_minor"]) == (23, 10)
    assert build["ready"] is False
    assert build["reasons"] == ["MLNX_OFED Module.symvers /usr/src/ofa_kernel/default/Module.symvers is missing"]


def _rpm(name, version, release):
    packages, _problem = parse_rpm_query(0, "%s\t%s\t%s\tx86_64\n" % (name, version, release), "")
    return packages


def test_classic_1_5_kernel_ib_devel_matching_running_kernel():
    # constructed: kernel-ib-devel built for 2.6.18-164.el5 ("-" -> "_" in its release)
    pkgs = _rpm("kernel-ib-devel", "1.5", "2.6.18_164.el5")
    ok = {"/usr/src/ofa_kernel/include", "/usr/src/ofa_kernel/config.mk"}
    build = _scst.compute(True, real_first_line("classic-1.5-rpm_noarg"), pkgs, "2.6.18-164.el5",
                          "2.6.18-164.el5", exists=exists_in(ok))
    assert build["flavor"] == "OFED" and build["ready"] is True
    assert build["header_dir"] == "/usr/src/ofa_kernel"
    assert build["kernel_match"] == {"kernel": "2.6.18-164.el5", "pattern": "2.6.18_164.el5",
                                     "kernel_ib_devel": True, "compat_rdma_devel": False}
    # building for another kernel: the Makefile still matches the running one; we say so
    other = _scst.compute(True, "OFED-1.5", pkgs, "2.6.18-164.el5", "2.6.18-194.el5", exists=exists_in(ok))
    assert other["ready"] is True and "not the target 2.6.18-194.el5" in other["reasons"][0]


def test_classic_3_5_compat_rdma_wins_and_mismatch_is_reported():
    pkgs = (_rpm("compat-rdma-devel", "3.5", "OFED.3.5.3.5.0_26_generic")
            + _rpm("kernel-ib-devel", "1.5", "3.5.0_26_generic"))
    build = _scst.compute(True, real_first_line("classic-3.5-rpm_noarg"), pkgs, "3.5.0-26-generic",
                          "3.5.0-26-generic", exists=exists_in({"/usr/src/compat-rdma/include"}))
    assert build["header_dir"] == "/usr/src/compat-rdma"
    assert build["ready"] is False
    assert build["reasons"] == ["/usr/src/compat-rdma/include/linux/compat-2.6.h is missing"]
    mismatch = _scst.compute(True, "OFED-3.5:", pkgs, "5.10.0-1-amd64", "5.10.0-1-amd64",
                             exists=exists_in(set()))
    assert mismatch["ready"] is False and mismatch["header_dir"] is None
    assert "5.10.0_1_amd64" in mismatch["reasons"][-1]


def test_empty_flavor_and_in_tree():
    build = _scst.compute(True, "hello world", [], RUNNING, RUNNING, exists=exists_in(set()))
    assert build["flavor"] == "" and build["ready"] is False and "empty OFED_FLAVOR" in build["reasons"][0]
    tree = _scst.compute(False, None, [], RUNNING, RUNNING, exists=exists_in(set()))
    assert tree["flavor"] == "in-tree" and tree["ready"] is True and "in-tree" in tree["reasons"][0]


def test_header_dir_facts():
    facts = _scst.header_dir_facts(exists_in(MOFED_FILES | {"/usr/src/ofa_kernel", "/usr/src/ofa_kernel/config.mk"}))
    assert facts["/usr/src/ofa_kernel/default"] == {"exists": True, "include": True, "compat_h": True,
                                                    "module_symvers": True, "config_mk": False}
    assert facts["/usr/src/ofa_kernel"]["config_mk"] is True
    assert facts["/usr/src/compat-rdma"]["exists"] is False
