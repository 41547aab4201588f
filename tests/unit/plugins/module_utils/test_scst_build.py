# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests for _scst_build: will the iscsi-scst build produce isert-scst against the intended headers?

The Debian kernel tree is laid out under ``tmp_path`` with the file contents captured from the real
``linux-headers-6.1.0-56-amd64`` of the test image (tests/unit/fixtures/captured/debian12-kernel-build);
the layout (which files exist where) is constructed, and so are the OFED trees and packages that no capture
has (each marked CONSTRUCTED where it is built). ``ofed_info`` first lines and package rows come from the
real captures where they exist.
"""
from __future__ import annotations

import os

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _scst_build as sb
from ansible_collections.iser.ofed.plugins.module_utils._ofed_info import first_line
from ansible_collections.iser.ofed.plugins.module_utils._pkgquery import parse_dpkg_query, parse_rpm_query
from conftest import read_fixture, write_file as write

K = "6.1.0-56-amd64"
OLD = "6.1.0-50-amd64"
HEADERS = "/usr/src/linux-headers-%s" % K
MOFED = "/usr/src/ofa_kernel/default"
# The real `command -v` result in the image: no plain gcc/cc, gcc-12 present.
IMAGE_TOOLS = {"gcc-12": "/usr/bin/gcc-12", "make": "/usr/bin/make", "ld": "/usr/bin/ld", "perl": "/usr/bin/perl"}


def cap(name):
    return read_fixture("captured", "debian12-kernel-build", name + ".txt")


def link(root, path, target):
    full = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.symlink(target, full)


def debian_tree(root, kver=K, symbols=True, config=None):
    """/lib/modules/<kver> + build -> /usr/src/linux-headers-<kver>, contents from the real capture."""
    headers = "/usr/src/linux-headers-%s" % kver
    write(root, headers + "/.config", cap("config_grep_cc_infiniband") if config is None else config)
    write(root, headers + "/.kernelvariables", cap("kernelvariables").replace(K, kver))
    write(root, headers + "/Makefile", cap("build_Makefile"))
    write(root, headers + "/include/config/kernel.release", cap("kernel.release"))
    write(root, headers + "/Module.symvers", cap("Module.symvers_grep_ib_register_client"))
    link(root, "/lib/modules/%s/build" % kver, headers)
    write(root, "/lib/modules/%s/modules.symbols" % kver,
          cap("modules.symbols_grep_ib_register_client") if symbols else "alias symbol:ib_uverbs_x ib_uverbs\n")
    write(root, "/lib/modules/%s/modules.dep" % kver, cap("modules.dep_grep_ib_core"))


def which_from(tools):
    return tools.get


def mofed_tree(root, kver, as_link=True, config_mk=None):
    """CONSTRUCTED: the DKMS layout /usr/src/ofa_kernel/<arch>/<kver> (+ default link) with headers."""
    base = "/usr/src/ofa_kernel/x86_64/%s" % kver if as_link else MOFED
    write(root, base + "/include/linux/compat-2.6.h", "/* constructed */\n")
    write(root, base + "/Module.symvers", "0x5b3e3d2a\tib_register_client\tdrivers/infiniband/core/ib_core"
                                          "\tEXPORT_SYMBOL\t\n")
    if config_mk is not None:
        write(root, base + "/config.mk", config_mk)
    if as_link and not os.path.lexists(os.path.join(str(root), MOFED.lstrip("/"))):
        link(root, MOFED, "x86_64/%s" % kver)


def dkms_packages():
    # real 5.0 DEB capture (ofed-scripts, kernel-utils) + CONSTRUCTED dkms row (the bundle's deb version)
    text = read_fixture("captured", "pkg-query", "mlnx-5.0-deb_dpkg-query_W_multi_after-kernel-utils.txt")
    packages, problem = parse_dpkg_query(0, text + "mlnx-ofed-kernel-dkms\t5.0-OFED.5.0.2.1.8.1.g5f67178\tii \n", "")
    assert problem is None
    return packages


def mlnx_line():
    return first_line(read_fixture("captured", "ofed_info", "mlnx-5.0-deb_noarg.txt"))


def assess(root, running=K, target=K, kdir=None, expected="", ofed_line=None, ofed_exists=None, packages=(),
           tools=None, manager="dpkg"):
    return sb.assess(str(root), running, "x86_64", target, kdir, expected,
                     ofed_line is not None if ofed_exists is None else ofed_exists, ofed_line,
                     list(packages), which_from(IMAGE_TOOLS if tools is None else tools), manager)


def codes(result):
    return [r["code"] for r in result["reasons"]]


# --- parsers on real captures -------------------------------------------------------------------------


def test_kernelvariables_real_capture():
    assert sb.parse_kernelvariables(cap("kernelvariables")) == {"kernelrelease": K, "cc": "gcc-12"}
    assert sb.parse_kernelvariables(None) == {"kernelrelease": None, "cc": None}
    # constructed: a plain CC without make references
    assert sb.parse_kernelvariables("CC := clang-16\n")["cc"] == "clang-16"


def test_cc_from_config_real_capture():
    assert sb.cc_from_config(cap("config_grep_cc_infiniband")) == "gcc-12"
    assert sb.cc_from_config("CONFIG_INFINIBAND=m\n") is None


def test_symbol_providers_and_paths_real_captures():
    assert sb.symbol_providers(cap("modules.symbols_grep_ib_register_client")) == ["ib_core"]
    assert sb.module_paths(cap("modules.dep_grep_ib_core"), ["ib_core"]) == [
        "kernel/drivers/infiniband/core/ib_core.ko"]


@pytest.mark.parametrize("value, expected", [
    ("", ""), (None, ""), ("MOFED", "MOFED"), ("mlnx_ofed", "MOFED"), ("OFED", "OFED"), ("ofed", "OFED"),
    ("in-tree", "in-tree"),
])
def test_normalize_flavor(value, expected):
    assert sb.normalize_flavor(value) == expected


# --- in-tree / kernel / InfiniBand ------------------------------------------------------------------------


def test_debian_in_tree_ready_with_the_image_toolchain(tmp_path):
    debian_tree(tmp_path)
    result = assess(tmp_path, expected="in-tree")
    assert result["ready"] is True and result["reasons"] == [], result["reasons"]
    assert (result["kernel"], result["kdir"], result["kdir_exists"]) == (K, "/lib/modules/%s/build" % K, True)
    assert result["kdir_builds_for"] == K and result["target_is_running"] is True
    assert (result["flavor"], result["expected_flavor"], result["flavor_matches"]) == ("in-tree", "in-tree", True)
    assert result["infiniband"]["enabled"] is True and result["infiniband"]["source"] == "modules.symbols"
    assert result["infiniband"]["symbol_module_paths"] == ["kernel/drivers/infiniband/core/ib_core.ko"]
    assert result["infiniband"]["ofed_modules"] is False
    assert result["isert_will_build"] is True
    tools = result["toolchain"]
    assert (tools["gcc"], tools["kernel_cc"], tools["kernel_cc_source"], tools["cc"]) == (
        "/usr/bin/gcc-12", "gcc-12", ".kernelvariables", None)
    assert [w["code"] for w in result["warnings"]] == ["USERSPACE_CC_MISSING"]
    assert result["ofed"]["header_dir"] is None and result["classic"]["running_kernel_match"] is None


def test_no_expectation_in_tree_is_a_warning_only(tmp_path):
    debian_tree(tmp_path)
    result = assess(tmp_path, tools=dict(IMAGE_TOOLS, gcc="/usr/bin/gcc"))
    assert result["ready"] is True and result["flavor_matches"] is None
    assert [w["code"] for w in result["warnings"]] == ["IN_TREE_HEADERS"]


def test_kdir_alone_takes_debian_kernel_release_and_is_refused(tmp_path):
    """Real Debian content: kernel.release says 6.1.192, .kernelvariables builds for 6.1.0-56-amd64."""
    debian_tree(tmp_path)
    result = assess(tmp_path, target=None, kdir=HEADERS, expected="in-tree")
    assert result["kernel"] == "6.1.192" and result["kernel_source"] == "kdir include/config/kernel.release"
    assert result["kdir_kernel_release"] == "6.1.192" and result["kdir_builds_for"] == K
    assert codes(result) == ["KVER_MISMATCH"]
    assert "target_kernel=%s" % K in result["reasons"][0]["msg"]
    # /lib/modules/6.1.192/modules.symbols does not exist: the .config decides, as in the Makefile
    assert result["infiniband"]["modules_symbols_exists"] is False
    assert (result["infiniband"]["enabled"], result["infiniband"]["source"]) == (True, "config")
    assert result["ready"] is False


def test_kdir_alone_without_kernel_release(tmp_path):
    write(tmp_path, "/opt/kbuild/.config", "CONFIG_INFINIBAND=y\n")  # CONSTRUCTED
    result = assess(tmp_path, target=None, kdir="/opt/kbuild", expected="in-tree")
    assert result["kernel"] is None and "TARGET_KERNEL_UNKNOWN" in codes(result)
    assert result["infiniband"]["source"] == "config" and result["ready"] is False


def test_default_is_running_kernel(tmp_path):
    debian_tree(tmp_path)
    result = assess(tmp_path, target=None, expected="in-tree")
    assert result["kernel"] == K and result["kernel_source"] == "uname -r"


@pytest.mark.parametrize("dangling", [True, False])
def test_kdir_missing_names_the_headers_package(tmp_path, dangling):
    write(tmp_path, "/lib/modules/%s/modules.symbols" % K, cap("modules.symbols_grep_ib_register_client"))
    if dangling:
        link(tmp_path, "/lib/modules/%s/build" % K, HEADERS)
    result = assess(tmp_path, expected="in-tree")
    # without the tree nothing says which compiler it wants: plain gcc, absent in the image
    assert codes(result) == ["KDIR_MISSING", "TOOLCHAIN_MISSING"]
    assert result["toolchain"]["kernel_cc"] == "gcc" and result["toolchain"]["kernel_cc_source"] is None
    msg = result["reasons"][0]["msg"]
    assert "linux-headers-%s" % K in msg and "build_prereqs" in msg
    assert ("dangling symlink" in msg) is dangling
    rpm = assess(tmp_path, expected="in-tree", manager="rpm")
    assert "kernel-devel-%s" % K in rpm["reasons"][0]["msg"]


def test_purged_stock_modules_and_no_infiniband_in_config(tmp_path):
    """CONSTRUCTED: modules.symbols after the purge + depmod (no ib_register_client), IB off in .config."""
    debian_tree(tmp_path, symbols=False, config="# CONFIG_INFINIBAND is not set\n")
    result = assess(tmp_path, expected="in-tree")
    assert result["infiniband"]["enabled"] is False and result["isert_will_build"] is False
    assert codes(result) == ["IB_DISABLED"] and result["ready"] is False
    msg = result["reasons"][0]["msg"]
    assert "purge removes ib_register_client" in msg and "updates/" in msg and "depmod -a %s" % K in msg


def test_purged_stock_modules_debian_config_still_enables(tmp_path):
    debian_tree(tmp_path, symbols=False)  # the real Debian .config: CONFIG_INFINIBAND=m
    result = assess(tmp_path, expected="in-tree")
    assert result["infiniband"]["symbol_listed"] is False and result["infiniband"]["source"] == "config"
    assert result["isert_will_build"] is True


def test_ofed_modules_under_updates_count(tmp_path):
    debian_tree(tmp_path, config="# CONFIG_INFINIBAND is not set\n")
    write(tmp_path, "/lib/modules/%s/modules.dep" % K, "updates/dkms/ib_core.ko:\n")  # CONSTRUCTED (depmod'ed)
    result = assess(tmp_path, expected="in-tree")
    assert result["infiniband"]["source"] == "modules.symbols" and result["infiniband"]["ofed_modules"] is True
    assert result["ready"] is True


def test_toolchain_missing_names_tools_and_packages(tmp_path):
    debian_tree(tmp_path)
    result = assess(tmp_path, expected="in-tree", tools={"ld": "/usr/bin/ld"})
    assert codes(result) == ["TOOLCHAIN_MISSING"]
    msg = result["reasons"][0]["msg"]
    assert msg.startswith("gcc-12, make, perl not found") and ".kernelvariables" in msg
    assert "install gcc-12, make, perl" in msg


def test_toolchain_from_config_without_kernelvariables(tmp_path):
    debian_tree(tmp_path)
    os.unlink(os.path.join(str(tmp_path), HEADERS.lstrip("/"), ".kernelvariables"))
    result = assess(tmp_path, expected="in-tree")
    assert result["toolchain"]["kernel_cc_source"] == "CONFIG_CC_VERSION_TEXT"
    assert result["kdir_builds_for"] is None and result["ready"] is True


# --- flavor expectation -------------------------------------------------------------------------------------


def test_expected_mofed_but_no_ofed_info(tmp_path):
    debian_tree(tmp_path)
    result = assess(tmp_path, expected="mlnx_ofed")
    assert result["expected_flavor"] == "MOFED" and result["flavor_matches"] is False
    assert codes(result) == ["FLAVOR_MISMATCH"]
    assert "OFED_FLAVOR=in-tree" in result["reasons"][0]["msg"] and "ofed_install" in result["reasons"][0]["msg"]


def test_unrecognised_ofed_info_first_line(tmp_path):
    debian_tree(tmp_path)
    result = assess(tmp_path, ofed_line="hello world", expected="")
    assert result["flavor"] == "" and "OFED_INFO_UNRECOGNISED" in codes(result) and result["ready"] is False


# --- MLNX_OFED ---------------------------------------------------------------------------------------------


def test_mofed_dkms_layout_for_the_target_is_ready(tmp_path):
    debian_tree(tmp_path)
    mofed_tree(tmp_path, K)
    result = assess(tmp_path, expected="MOFED", ofed_line=mlnx_line(), packages=dkms_packages())
    assert result["reasons"] == [] and result["ready"] is True
    ofed = result["ofed"]
    assert (ofed["package"], ofed["version"], ofed["mofed_major"], ofed["mofed_minor"]) == (
        "mlnx-ofed-kernel-dkms", "5.0-OFED.5.0.2.1.8.1.g5f67178", 5, 0)
    assert (ofed["header_dir"], ofed["compat_header_exists"], ofed["module_symvers_exists"]) == (MOFED, True, True)
    assert (ofed["module_symvers_kernel"], ofed["module_symvers_kernel_source"]) == (K, "default symlink")
    assert ofed["default_link"] == "x86_64/%s" % K and ofed["trees"] == [K]
    assert ofed["ofed_info_first_line"] == "OFED-internal-5.0-2.1.8:"


def test_mofed_default_link_to_another_kernel(tmp_path):
    debian_tree(tmp_path)
    mofed_tree(tmp_path, OLD)
    result = assess(tmp_path, expected="MOFED", ofed_line=mlnx_line(), packages=dkms_packages())
    assert codes(result) == ["MODULE_SYMVERS_WRONG_KERNEL"] and result["ready"] is False
    msg = result["reasons"][0]["msg"]
    assert msg.startswith("Module.symvers of the wrong kernel: %s -> x86_64/%s was built for %s" % (MOFED, OLD, OLD))
    assert "dkms autoinstall -k %s" % K in msg
    # the target's tree exists too: the fix is to repoint the link
    mofed_tree(tmp_path, K)
    again = assess(tmp_path, expected="MOFED", ofed_line=mlnx_line(), packages=dkms_packages())
    assert "ln -sfn x86_64/%s %s" % (K, MOFED) in again["reasons"][0]["msg"]
    assert again["ofed"]["trees"] == [OLD, K]


def test_mofed_default_through_the_alternatives_link(tmp_path):
    """CONSTRUCTED, as mlnx-ofed-kernel-dkms sets it up: default -> /etc/alternatives/ofa_kernel_headers -> tree."""
    debian_tree(tmp_path)
    link(tmp_path, MOFED, "/etc/alternatives/ofa_kernel_headers")
    link(tmp_path, "/etc/alternatives/ofa_kernel_headers", "/usr/src/ofa_kernel/x86_64/%s" % OLD)
    mofed_tree(tmp_path, OLD)
    result = assess(tmp_path, expected="MOFED", ofed_line=mlnx_line(), packages=dkms_packages())
    assert result["ofed"]["default_link"] == "/etc/alternatives/ofa_kernel_headers"
    assert result["ofed"]["default_resolved"] == "/usr/src/ofa_kernel/x86_64/%s" % OLD
    assert result["ofed"]["module_symvers_kernel"] == OLD
    assert codes(result) == ["MODULE_SYMVERS_WRONG_KERNEL"]
    assert "/etc/alternatives/ofa_kernel_headers" in result["reasons"][0]["msg"]
    mofed_tree(tmp_path, K)
    both = assess(tmp_path, expected="MOFED", ofed_line=mlnx_line(), packages=dkms_packages())
    assert ("update-alternatives --set ofa_kernel_headers /usr/src/ofa_kernel/x86_64/%s" % K
            in both["reasons"][0]["msg"])
    # repointed at the target's tree: ready
    os.unlink(os.path.join(str(tmp_path), "etc/alternatives/ofa_kernel_headers"))
    link(tmp_path, "/etc/alternatives/ofa_kernel_headers", "/usr/src/ofa_kernel/x86_64/%s" % K)
    again = assess(tmp_path, expected="MOFED", ofed_line=mlnx_line(), packages=dkms_packages())
    assert again["ready"] is True and again["ofed"]["module_symvers_kernel"] == K


def test_mofed_plain_directory_dated_by_config_mk(tmp_path):
    debian_tree(tmp_path)
    # CONSTRUCTED, in the format mlnx-ofa_kernel's configure writes (KVERSION=... first line of config.mk)
    mofed_tree(tmp_path, OLD, as_link=False, config_mk="KVERSION=%s\nARCH=x86_64\n" % OLD)
    result = assess(tmp_path, expected="MOFED", ofed_line=mlnx_line(), packages=dkms_packages())
    assert codes(result) == ["MODULE_SYMVERS_WRONG_KERNEL"]
    assert result["ofed"]["module_symvers_kernel_source"] == "config.mk KVERSION"


def test_mofed_plain_directory_undated_is_a_warning(tmp_path):
    """The layout the fixture mlnx-ofed-kernel-dkms ships: a plain default/ with compat-2.6.h + Module.symvers."""
    debian_tree(tmp_path)
    mofed_tree(tmp_path, K, as_link=False)
    result = assess(tmp_path, expected="MOFED", ofed_line=mlnx_line(), packages=dkms_packages())
    assert result["ready"] is True and result["ofed"]["module_symvers_kernel"] is None
    assert [w["code"] for w in result["warnings"]] == ["MODULE_SYMVERS_KERNEL_UNKNOWN", "USERSPACE_CC_MISSING"]


def test_mofed_devel_package_missing_real_capture(tmp_path):
    """Real 5.0 DEB capture: ofed-scripts + kernel-utils, no kernel package: the broken-install case."""
    debian_tree(tmp_path)
    text = read_fixture("captured", "pkg-query", "mlnx-5.0-deb_dpkg-query_W_multi_after-kernel-utils.txt")
    packages, _problem = parse_dpkg_query(0, text, "")
    result = assess(tmp_path, expected="MOFED", ofed_line=mlnx_line(), packages=packages)
    assert result["flavor_matches"] is True
    assert codes(result) == ["MOFED_DEVEL_MISSING", "HEADER_DIR_MISSING", "COMPAT_HEADER_MISSING",
                             "MODULE_SYMVERS_MISSING"]
    assert "install mlnx-ofed-kernel-dkms" in result["reasons"][0]["msg"]
    assert result["ofed"]["package"] is None and result["ready"] is False


def test_mofed_compat_header_missing(tmp_path):
    debian_tree(tmp_path)
    mofed_tree(tmp_path, K)
    os.unlink(os.path.join(str(tmp_path), "usr/src/ofa_kernel/x86_64", K, "include/linux/compat-2.6.h"))
    result = assess(tmp_path, expected="MOFED", ofed_line=mlnx_line(), packages=dkms_packages())
    assert codes(result) == ["COMPAT_HEADER_MISSING"] and result["ofed"]["compat_header_exists"] is False


# --- classic OFED -------------------------------------------------------------------------------------------

RUNNING_EL = "2.6.18-164.el5"


def _rpm(name, version, release):
    packages, problem = parse_rpm_query(0, "%s\t%s\t%s\tx86_64\n" % (name, version, release), "")
    assert problem is None
    return packages


def classic_tree(root, kver=RUNNING_EL):
    """CONSTRUCTED: an RPM host's kernel tree and OFED 1.5's /usr/src/ofa_kernel (include + config.mk)."""
    write(root, "/usr/src/kernels/%s/.config" % kver, "CONFIG_INFINIBAND=m\n")
    link(root, "/lib/modules/%s/build" % kver, "/usr/src/kernels/%s" % kver)
    write(root, "/usr/src/ofa_kernel/include/rdma/ib_verbs.h", "/* constructed */\n")
    write(root, "/usr/src/ofa_kernel/config.mk", "BACKPORT_INCLUDES=\n")


def classic_line():
    return first_line(read_fixture("captured", "ofed_info", "classic-1.5-rpm_noarg.txt"))


RPM_TOOLS = {"gcc": "/usr/bin/gcc", "make": "/usr/bin/make", "ld": "/usr/bin/ld", "perl": "/usr/bin/perl"}


def classic(root, running=RUNNING_EL, target=RUNNING_EL, packages=None):
    return assess(root, running=running, target=target, expected="ofed", ofed_line=classic_line(),
                  packages=_rpm("kernel-ib-devel", "1.5", "2.6.18_164.el5") if packages is None else packages,
                  tools=RPM_TOOLS, manager="rpm")


def test_classic_1_5_matching_running_kernel_is_ready(tmp_path):
    classic_tree(tmp_path)
    result = classic(tmp_path)
    assert result["flavor"] == "OFED" and result["reasons"] == [] and result["ready"] is True
    assert result["classic"]["running_kernel_match"] is True and result["classic"]["pattern"] == "2.6.18_164.el5"
    assert result["ofed"]["header_dir"] == "/usr/src/ofa_kernel"
    assert result["ofed"]["config_mk"] == "/usr/src/ofa_kernel/config.mk"
    assert result["infiniband"]["source"] == "config"


def test_classic_build_for_a_non_running_kernel_is_refused(tmp_path):
    classic_tree(tmp_path, "2.6.18-194.el5")
    result = classic(tmp_path, target="2.6.18-194.el5")
    assert codes(result) == ["CLASSIC_TARGET_NOT_RUNNING"] and result["ready"] is False
    assert "RUNNING kernel (uname -r = %s)" % RUNNING_EL in result["reasons"][0]["msg"]


def test_classic_devel_for_another_kernel(tmp_path):
    classic_tree(tmp_path, "3.10.0-1160.el7")
    result = classic(tmp_path, running="3.10.0-1160.el7", target="3.10.0-1160.el7")
    assert codes(result) == ["CLASSIC_DEVEL_KERNEL_MISMATCH"]
    assert result["classic"]["running_kernel_match"] is False
    assert "kernel-ib-devel-1.5-2.6.18_164.el5.x86_64" in result["reasons"][0]["msg"]


def test_classic_without_devel_package(tmp_path):
    classic_tree(tmp_path)
    result = classic(tmp_path, packages=[])
    assert codes(result) == ["CLASSIC_DEVEL_MISSING"]


def test_classic_config_mk_missing(tmp_path):
    classic_tree(tmp_path)
    os.unlink(os.path.join(str(tmp_path), "usr/src/ofa_kernel/config.mk"))
    assert codes(classic(tmp_path)) == ["CONFIG_MK_MISSING"]


def test_classic_3_5_compat_rdma_without_compat_header(tmp_path):
    classic_tree(tmp_path)
    write(tmp_path, "/usr/src/compat-rdma/include/rdma/ib_verbs.h", "/* constructed */\n")
    result = classic(tmp_path, packages=_rpm("compat-rdma-devel", "3.5", "OFED.3.5.2.6.18_164.el5"))
    assert result["ofed"]["header_dir"] == "/usr/src/compat-rdma"
    assert codes(result) == ["COMPAT_HEADER_MISSING"]
