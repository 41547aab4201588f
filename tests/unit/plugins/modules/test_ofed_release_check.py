# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Tests of ``iser.ofed.ofed_release_check`` ``main()`` and of the bundle reader, on bundles built in tmp_path
from the real fixture files (directories and .tgz archives)."""
from __future__ import annotations

import os
import tarfile

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _bundle
from ansible_collections.iser.ofed.plugins.modules import ofed_release_check as mod

from conftest import run_module
from ofed_bundle_builders import (MLNX_41, MLNX_50, build_classic_dir, build_mlnx_dir, build_notes_only_dir,
                                  make_tgz, truncate)


@pytest.fixture
def mlnx50_dir(tmp_path):
    return build_mlnx_dir(tmp_path, MLNX_50)


@pytest.fixture
def mlnx50_tgz(tmp_path):
    src = build_mlnx_dir(tmp_path / "src", MLNX_50)
    return make_tgz(src, str(tmp_path / (MLNX_50 + ".tgz")))


# --- bundle reader ------------------------------------------------------------------------------------

@pytest.mark.parametrize("as_archive", [False, True])
@pytest.mark.parametrize("name", [MLNX_41, MLNX_50])
def test_read_bundle_mlnx(tmp_path, name, as_archive):
    path = build_mlnx_dir(tmp_path / "src", name)
    if as_archive:
        path = make_tgz(path, str(tmp_path / (name + ".tgz")))
    bundle = _bundle.read_bundle(path)
    assert bundle.kind == ("archive" if as_archive else "directory")
    assert bundle.root == (name if as_archive else "")
    assert bundle.text(".mlnx").strip() == name.split("-", 1)[1].rsplit("-", 2)[0]
    assert "mlnxofedinstall" in bundle.files
    assert any(f.startswith("DEBS/") and f.endswith("Packages") for f in bundle.texts)
    assert any("mlnx-ofed-kernel-dkms_" in f for f in bundle.files)


def test_read_bundle_parent_directory_finds_root(tmp_path):
    build_classic_dir(tmp_path, "1.5")
    bundle = _bundle.read_bundle(str(tmp_path))
    assert bundle.root == "OFED-1.5"
    assert bundle.text("BUILD_ID").startswith("OFED-1.5\n")


def test_read_bundle_truncated_tgz(tmp_path, mlnx50_tgz):
    truncate(mlnx50_tgz, 0.5)
    with pytest.raises(_bundle.BundleError, match="truncated or corrupt|not a readable tar archive"):
        _bundle.read_bundle(mlnx50_tgz)


def test_read_bundle_garbage_and_iso_and_missing(tmp_path):
    garbage = tmp_path / "bundle.tgz"
    garbage.write_bytes(b"this is not a tarball\n" * 50)
    with pytest.raises(_bundle.BundleError, match="not a readable tar archive"):
        _bundle.read_bundle(str(garbage))
    iso = tmp_path / "MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64.iso"
    iso.write_bytes(b"\0" * 4096)
    with pytest.raises(_bundle.BundleError, match="is not an ISO 9660 image"):
        _bundle.read_bundle(str(iso))
    with pytest.raises(_bundle.BundleError, match="does not exist.*delegate_to: localhost"):
        _bundle.read_bundle(str(tmp_path / "nope.tgz"))


def test_read_bundle_empty_archive(tmp_path):
    empty = str(tmp_path / "empty.tgz")
    with tarfile.open(empty, "w:gz"):
        pass
    with pytest.raises(_bundle.BundleError, match="empty archive"):
        _bundle.read_bundle(empty)


def warning_text(warning) -> str:
    """ansible-core 2.18 returns warnings as strings, 2.19 as WarningSummary dicts."""
    if isinstance(warning, dict):
        return str(warning.get("event", {}).get("msg", warning))
    return warning


# --- main(): MLNX_OFED --------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def fixed_host_arch(monkeypatch):
    monkeypatch.setattr(mod, "host_arch", lambda: "x86_64")


@pytest.mark.parametrize("which", ["dir", "tgz"])
def test_mlnx_supported_via_dkms(request, which):
    path = request.getfixturevalue("mlnx50_dir" if which == "dir" else "mlnx50_tgz")
    result = run_module(mod.main, {"bundle": path, "kernel": "5.4.0-26-generic", "distribution": "Ubuntu",
                                   "distribution_version": "20.04", "headers_present": True})
    assert result["_exit_code"] == 0 and not result.get("failed")
    assert result["changed"] is False
    assert result["supported"] is True and result["match"] == "dkms"
    assert result["release"] == {"flavor": "mlnx_ofed", "version": "5.0-2.1.8.0", "source": ".mlnx",
                                 "name": "MLNX_OFED_LINUX-5.0-2.1.8.0"}
    assert result["distro_ok"] is True and result["arch_ok"] is True
    assert result["bundle_distro"] == "ubuntu20.04"
    assert result["target"] == {"kernel": "5.4.0-26-generic", "distro": "ubuntu20.04", "arch": "x86_64"}
    assert result["row"] == {"package": "mlnx-ofed-kernel-dkms", "packaging": "deb"}


def test_mlnx_headers_unknown_is_supported_with_reason(mlnx50_dir):
    result = run_module(mod.main, {"bundle": mlnx50_dir, "kernel": "5.4.0-26-generic", "distro": "ubuntu20.04"})
    assert result["supported"] is True
    assert "supported via DKMS" in result["reason"] and "needs the kernel headers" in result["reason"]


def test_mlnx_headers_missing_fails_with_remedy(mlnx50_dir):
    result = run_module(mod.main, {"bundle": mlnx50_dir, "kernel": "5.4.0-26-generic", "distro": "ubuntu20.04",
                                   "headers_present": False})
    assert result["failed"] is True and result["_exit_code"] == 1
    assert "Kernel 5.4.0-26-generic is not supported by MLNX_OFED_LINUX-5.0-2.1.8.0" in result["msg"]
    assert "mlnx_add_kernel_support.sh -k 5.4.0-26-generic" in result["msg"]
    assert result["supported"] is False


def test_mlnx_distro_mismatch(mlnx50_dir):
    result = run_module(mod.main, {"bundle": mlnx50_dir, "kernel": "5.4.0-26-generic", "distribution": "Ubuntu",
                                   "distribution_version": "18.04", "headers_present": True})
    assert result["failed"] is True
    assert result["distro_ok"] is False and result["arch_ok"] is True
    assert "intended for ubuntu20.04, the host runs ubuntu18.04" in result["msg"]
    assert "bundle built for ubuntu18.04" in result["msg"]


def test_mlnx_arch_mismatch_4_1_aarch64(tmp_path):
    path = build_mlnx_dir(tmp_path, MLNX_41)
    result = run_module(mod.main, {"bundle": path, "kernel": "4.4.0-21-generic", "distro": "ubuntu16.04",
                                   "headers_present": True})  # host arch patched to x86_64
    assert result["failed"] is True
    assert result["arch_ok"] is False and result["distro_ok"] is True
    assert "built for aarch64, the host is x86_64" in result["msg"]
    ok = run_module(mod.main, {"bundle": path, "kernel": "4.4.0-21-generic", "distro": "ubuntu16.04",
                               "arch": "arm64", "headers_present": True})
    assert ok["supported"] is True and ok["release"]["version"] == "4.1-1.0.2.0"


def test_mlnx_allow_unsupported_warns(mlnx50_tgz):
    result = run_module(mod.main, {"bundle": mlnx50_tgz, "kernel": "5.4.0-26-generic", "distro": "debian10.0",
                                   "headers_present": True, "allow_unsupported": True})
    assert result["_exit_code"] == 0 and not result.get("failed")
    assert result["supported"] is False and result["distro_ok"] is False
    assert any("is not supported by MLNX_OFED_LINUX-5.0-2.1.8.0" in warning_text(w) for w in result["warnings"])


def test_truncated_tgz_fails_cleanly(mlnx50_tgz):
    truncate(mlnx50_tgz, 0.4)
    result = run_module(mod.main, {"bundle": mlnx50_tgz, "kernel": "5.4.0-26-generic", "distro": "ubuntu20.04"})
    assert result["failed"] is True
    assert mlnx50_tgz in result["msg"]
    assert "Traceback" not in result["msg"]


# --- main(): classic OFED -----------------------------------------------------------------------------

@pytest.mark.parametrize("as_archive", [False, True])
def test_classic_1_5_exact(tmp_path, as_archive):
    path = build_classic_dir(tmp_path / "src", "1.5")
    if as_archive:
        path = make_tgz(path, str(tmp_path / "OFED-1.5.tgz"))
    result = run_module(mod.main, {"bundle": path, "kernel": "2.6.18-164.el5", "distro": "rhel5.4"})
    assert result["supported"] is True and result["match"] == "exact" and result["minimal_qa"] is False
    assert result["row"]["distro_name"] == "RedHat EL5 up4"
    assert result["release"] == {"flavor": "ofed", "version": "1.5", "source": "BUILD_ID", "name": "OFED-1.5"}
    assert result["arch_ok"] is True and result["distro_ok"] is True
    assert result["nearest"] == []


def test_classic_1_5_kernelorg_minimal_qa(tmp_path):
    path = build_classic_dir(tmp_path, "1.5")
    result = run_module(mod.main, {"bundle": path, "kernel": "2.6.30.10", "arch": "i686"})
    assert result["supported"] is True and result["match"] == "kernelorg_range"
    assert result["minimal_qa"] is True and "minimal qa" in result["reason"]
    assert result["arch_ok"] is True  # i686 is the release notes' x86


def test_classic_3_5_series_and_unsupported(tmp_path):
    path = build_classic_dir(tmp_path, "3.5")
    ok = run_module(mod.main, {"bundle": path, "kernel": "2.6.32-220.4.1.el6.x86_64"})
    assert ok["match"] == "series" and ok["row"]["kernel"] == "2.6.32-220.el6"
    assert ok["release"]["version"] == "3.5" and ok["release"]["source"] == "BUILD_ID"
    bad = run_module(mod.main, {"bundle": path, "kernel": "3.10.0-693.el7.x86_64"})
    assert bad["failed"] is True and bad["supported"] is False and bad["match"] == "none"
    assert "Kernel 3.10.0-693.el7.x86_64 is not supported by OFED-3.5" in bad["msg"]
    assert "Nearest supported kernels: " in bad["msg"] and bad["nearest"]
    assert "allow_unsupported" in bad["msg"]


def test_classic_arch_not_listed(tmp_path):
    path = build_notes_only_dir(tmp_path, "4.8-2")
    result = run_module(mod.main, {"bundle": path, "kernel": "3.10.0-693.el7.aarch64", "arch": "aarch64"})
    assert result["failed"] is True and result["arch_ok"] is False
    assert "architecture aarch64 is not among x86_64, x86, ppc64" in result["msg"]


def test_classic_version_from_header_without_build_id(tmp_path):
    path = build_notes_only_dir(tmp_path, "4.17")
    result = run_module(mod.main, {"bundle": path, "kernel": "4.12.14-23.1-default", "distro": "sles15sp0"})
    assert result["supported"] is True and result["row"]["distro_name"] == "SLES15"
    assert result["release"]["version"] == "4.17 RC1"
    assert result["release"]["source"] == "docs/OFED_release_notes.txt"


def test_directory_without_release_notes(tmp_path):
    path = build_classic_dir(tmp_path, "1.5")
    os.remove(os.path.join(path, "docs", "OFED_release_notes.txt"))
    result = run_module(mod.main, {"bundle": path, "kernel": "2.6.18-164.el5"})
    assert result["failed"] is True
    assert "has no docs/OFED_release_notes.txt" in result["msg"] and path in result["msg"]


def test_release_notes_without_section(tmp_path):
    path = build_classic_dir(tmp_path, "1.5")
    with open(os.path.join(path, "docs", "OFED_release_notes.txt"), "w") as handle:
        handle.write("Open Fabrics Enterprise Distribution (OFED)\n  Version 1.5\n")  # constructed
    result = run_module(mod.main, {"bundle": path, "kernel": "2.6.18-164.el5"})
    assert result["failed"] is True
    assert "no section '1.2 Supported Platforms and Operating Systems'" in result["msg"]
    assert "OFED_release_notes.txt" in result["msg"]


def test_not_an_ofed_bundle(tmp_path):
    (tmp_path / "README").write_text("hello\n")
    result = run_module(mod.main, {"bundle": str(tmp_path), "kernel": "5.4.0-26-generic"})
    assert result["failed"] is True and "is not an OFED bundle" in result["msg"]


def test_check_mode_is_supported(mlnx50_dir):
    result = run_module(mod.main, {"bundle": mlnx50_dir, "kernel": "5.4.0-26-generic", "distro": "ubuntu20.04",
                                   "headers_present": True, "_ansible_check_mode": True})
    assert result["supported"] is True and result["changed"] is False
