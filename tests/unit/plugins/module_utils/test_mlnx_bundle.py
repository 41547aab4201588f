# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Tests for ``_mlnx_bundle`` on the two real MLNX_OFED DEB bundles (4.1 ubuntu16.04 aarch64, 5.0 ubuntu20.04
x86_64) and, for the RPM and prebuilt-modules paths, on constructed data (marked)."""
from __future__ import annotations

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _mlnx_bundle as mb

from conftest import read_fixture

B41 = ("mlnx-ofed", "MLNX_OFED_LINUX-4.1-1.0.2.0-ubuntu16.04-aarch64", "bundle")
B50 = ("mlnx-ofed", "MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64", "bundle")


@pytest.mark.parametrize("distribution, version, expected", [
    ("Ubuntu", "20.04", "ubuntu20.04"),
    ("Ubuntu", "16.04", "ubuntu16.04"),
    ("Debian", "10", "debian10.0"),
    ("Debian", "10.3", "debian10.3"),
    ("RedHat", "7.6", "rhel7.6"),
    ("CentOS", "7.6.1810", "rhel7.6"),
    ("Rocky", "8.6", "rhel8.6"),
    ("OracleLinux", "8.4", "ol8.4"),
    ("SLES", "12.3", "sles12sp3"),
    ("SLES", "15", "sles15sp0"),
    ("SLES_SAP", "15.1", "sles15sp1"),
    ("Fedora", "31", "fc31"),
    ("openEuler", "20.03", "openeuler20.03"),
])
def test_mlnx_distro_id(distribution, version, expected):
    assert mb.mlnx_distro_id(distribution, version) == expected


def test_mlnx_distro_id_empty():
    with pytest.raises(mb.MlnxBundleError, match="distribution is empty"):
        mb.mlnx_distro_id("", "20.04")


# The 5.0 DEB installer's id is ID + VERSION_ID (debian12: the fixture bundle's distro file); the host id
# from Ansible facts carries Debian's point release. Constructed pairs, rule in mlnx_distro_matches.
@pytest.mark.parametrize("bundle, host, expected", [
    ("debian12", "debian12.12", True),
    ("debian12", "debian12.0", True),
    ("debian12", "debian12", True),
    ("Debian12", "debian12.4", True),
    ("debian12", "debian11.9", False),
    ("debian12", "debian120.1", False),
    ("debian12.1", "debian12.12", False),
    ("debian12.1", "debian12.1", True),
    ("ubuntu20.04", "ubuntu20.04", True),
    ("ubuntu20.04", "ubuntu22.04", False),
    ("ubuntu20", "ubuntu20.04", False),
    ("", "debian12.0", False),
])
def test_mlnx_distro_matches(bundle, host, expected):
    assert mb.mlnx_distro_matches(bundle, host) is expected


@pytest.mark.parametrize("arch, expected", [("amd64", "x86_64"), ("x86_64", "x86_64"), ("arm64", "aarch64"),
                                            ("aarch64", "aarch64"), ("i686", "x86"), ("ppc64el", "ppc64le")])
def test_normalize_arch(arch, expected):
    assert mb.normalize_arch(arch) == expected


@pytest.mark.parametrize("parts, version, arch, distro", [
    (B41, "4.1-1.0.2.0", "aarch64", "ubuntu16.04"),
    (B50, "5.0-2.1.8.0", "x86_64", "ubuntu20.04"),
])
def test_read_metadata_real(parts, version, arch, distro):
    texts = {rel: read_fixture(*parts, rel) for rel in (".mlnx", ".arch", "distro")}
    assert mb.read_metadata(texts) == {"version": version, "arch": arch, "distro": distro}


def test_read_metadata_without_mlnx():
    with pytest.raises(mb.MlnxBundleError, match=r"\.mlnx is missing or empty"):
        mb.read_metadata({".arch": "x86_64\n", ".mlnx": "\n"}, "/b")


def test_packages_index_real_4_1():
    stanzas = mb.parse_packages_index(read_fixture(*B41, "DEBS", "Packages"))
    names = {s["Package"]: s for s in stanzas}
    assert names["mlnx-ofed-kernel-dkms"]["Version"] == "4.1-OFED.4.1.1.0.2.1.gc22af88"
    assert names["ofed-scripts"]["Architecture"] == "arm64"
    assert len(stanzas) > 50


@pytest.mark.parametrize("parts, packages", [
    (B41, ["DEBS/Packages"]),
    (B50, ["DEBS/MLNX_LIBS/Packages", "DEBS/UPSTREAM_LIBS/Packages"]),
])
def test_real_deb_bundles_are_dkms_only(parts, packages):
    texts = {rel: read_fixture(*parts, *rel.split("/")) for rel in packages}
    inventory = mb.deb_inventory([], texts)
    assert inventory["module_packages"] == []
    assert inventory["dkms_packages"] == ["mlnx-ofed-kernel-dkms"]


@pytest.mark.parametrize("headers, supported, phrase", [
    (True, True, "against its installed headers"),
    (None, True, "supported via DKMS"),
    (False, False, "which are not installed"),
])
def test_check_kernel_dkms_real_5_0(headers, supported, phrase):
    texts = {"DEBS/MLNX_LIBS/Packages": read_fixture(*B50, "DEBS", "MLNX_LIBS", "Packages")}
    verdict = mb.check_kernel("5.4.0-26-generic", [], texts, headers)
    assert verdict["supported"] is supported
    assert verdict["match"] == ("dkms" if supported else "none")
    assert phrase in verdict["reason"]
    assert verdict["detail"] == "mlnx-ofed-kernel-dkms"


def test_check_kernel_from_deb_file_names_only():
    names = read_fixture("mlnx-ofed", "MLNX_OFED_LINUX-4.1-1.0.2.0-ubuntu16.04-aarch64", "deb-file-names.txt").split()
    verdict = mb.check_kernel("4.4.0-21-generic", ["DEBS/" + n for n in names], {}, True)
    assert verdict["match"] == "dkms" and verdict["supported"] is True


# constructed: a DEB bundle rebuilt with mlnx_add_kernel_support.sh --without-dkms ships prebuilt module
# packages whose version carries ".kver.<kernel>"; no such real bundle was available.
CONSTRUCTED_PACKAGES = """Package: mlnx-ofed-kernel-modules
Architecture: amd64
Version: 5.0-OFED.5.0.2.1.8.1.kver.5.4.0-26-generic
Filename: ./mlnx-ofed-kernel-modules_5.0-OFED.5.0.2.1.8.1.kver.5.4.0-26-generic_amd64.deb

Package: mlnx-ofed-kernel-utils
Version: 5.0-OFED.5.0.2.1.8.1
"""


def test_check_kernel_prebuilt_modules_constructed():
    texts = {"DEBS/Packages": CONSTRUCTED_PACKAGES}
    ok = mb.check_kernel("5.4.0-26-generic", [], texts, None)
    assert (ok["supported"], ok["match"], ok["detail"]) == (True, "kernel_modules_package", "mlnx-ofed-kernel-modules")
    bad = mb.check_kernel("5.4.0-42-generic", [], texts, None)
    assert (bad["supported"], bad["match"]) == (False, "none")
    assert bad["nearest"] == ["5.4.0-26-generic"]
    assert "no DKMS package" in bad["reason"]


# constructed: RPM bundle data (no real RPM bundle was available).
RPM_FILES = ["RPMS/mlnx-ofa_kernel-5.0-OFED.5.0.2.1.8.1.rhel7u6.x86_64.rpm",
             "RPMS/mlnx-ofa_kernel-modules-5.0-OFED.5.0.2.1.8.1.kver.3.10.0_957.el7.x86_64.x86_64.rpm"]


def test_check_kernel_rpm_supported_kernels_constructed():
    texts = {".supported_kernels": "3.10.0-957.el7.x86_64\n3.10.0-1062.el7.x86_64\n"}
    ok = mb.check_kernel("3.10.0-1062.el7.x86_64", RPM_FILES, texts, None)
    assert (ok["supported"], ok["match"], ok["packaging"]) == (True, "supported_kernels", "rpm")
    bad = mb.check_kernel("3.10.0-1160.el7.x86_64", RPM_FILES, texts, None)
    assert bad["supported"] is False and bad["nearest"][0] == "3.10.0-1062.el7.x86_64"
    assert "does not have drivers" in bad["reason"]


def test_check_kernel_rpm_module_package_constructed():
    ok = mb.check_kernel("3.10.0-957.el7.x86_64", RPM_FILES, {}, None)
    assert (ok["supported"], ok["match"]) == (True, "kernel_modules_package")
    assert ok["detail"].startswith("mlnx-ofa_kernel-modules-")
