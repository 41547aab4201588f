# SPDX-License-Identifier: GPL-3.0-or-later
"""main() of iser.ofed.scst_build_facts on a tree under ``tmp_path`` (ROOT) with commands replayed.

The kernel tree's file contents are the real captures of the test image's linux-headers-6.1.0-56-amd64
(tests/unit/fixtures/captured/debian12-kernel-build), ``ofed_info`` and ``dpkg-query`` outputs are real
captures; the OFED tree layout and the mlnx-ofed-kernel-dkms package row are CONSTRUCTED.
"""
from __future__ import annotations

import os

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _pkgquery as pq
from ansible_collections.iser.ofed.plugins.modules import scst_build_facts
from conftest import read_fixture, run_module, write_file as write

K = "6.1.0-56-amd64"
HEADERS = "/usr/src/linux-headers-%s" % K


def cap(name):
    return read_fixture("captured", "debian12-kernel-build", name + ".txt")


def link(root, path, target):
    full = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.symlink(target, full)


def dpkg_result(stdout):
    """dpkg-query over DEB_NAMES: real stdout, 'no packages found' for every name not listed (rc 1)."""
    listed = {line.split("\t")[0] for line in stdout.splitlines() if line}
    missing = [n for n in pq.DEB_NAMES
               if not any(x == n or (n.endswith("*") and x.startswith(n[:-1])) for x in listed)]
    err = "".join("dpkg-query: no packages found matching %s\n" % n for n in missing)
    return (1 if missing else 0, stdout, err)


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A Debian 12 host with the 6.1.0-56 headers; ``tools`` maps basename -> replay(argv) or a path."""
    root = tmp_path
    write(root, HEADERS + "/.config", cap("config_grep_cc_infiniband"))
    write(root, HEADERS + "/.kernelvariables", cap("kernelvariables"))
    write(root, HEADERS + "/include/config/kernel.release", cap("kernel.release"))
    link(root, "/lib/modules/%s/build" % K, HEADERS)
    write(root, "/lib/modules/%s/modules.symbols" % K, cap("modules.symbols_grep_ib_register_client"))
    write(root, "/lib/modules/%s/modules.dep" % K, cap("modules.dep_grep_ib_core"))
    state = {"root": root, "calls": [], "tools": {
        "gcc-12": None, "make": None, "ld": None, "perl": None, "gcc": None,
        "dpkg-query": lambda argv: dpkg_result(""),
    }}
    monkeypatch.setattr(scst_build_facts, "ROOT", str(root))
    monkeypatch.setattr(scst_build_facts, "uname", lambda: (K, "x86_64"))

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return "/usr/bin/" + name if name in state["tools"] else None

    def run_command(self, args, **kwargs):
        assert isinstance(args, list) and kwargs.get("environ_update") == {"LC_ALL": "C"}
        state["calls"].append(list(args))
        return state["tools"][os.path.basename(args[0])](args)

    monkeypatch.setattr(AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(AnsibleModule, "run_command", run_command)
    return state


def _facts(result):
    assert result["_exit_code"] == 0 and not result.get("failed"), result
    assert result["changed"] is False
    return result["ansible_facts"]["iser_ofed"]["scst_build"]


def install_mofed(host, kver=K):
    root = host["root"]
    write(root, "/usr/bin/ofed_info", "#!/bin/sh\n", 0o755)
    host["tools"]["ofed_info"] = lambda argv: (0, read_fixture("captured", "ofed_info", "mlnx-5.0-deb_noarg.txt"), "")
    real = read_fixture("captured", "pkg-query", "mlnx-5.0-deb_dpkg-query_W_multi_after-kernel-utils.txt")
    host["tools"]["dpkg-query"] = lambda argv: dpkg_result(
        real + "mlnx-ofed-kernel-dkms\t5.0-OFED.5.0.2.1.8.1.g5f67178\tii \n")
    tree = "/usr/src/ofa_kernel/x86_64/%s" % kver
    write(root, tree + "/include/linux/compat-2.6.h", "/* constructed */\n")
    write(root, tree + "/Module.symvers", "0x5b3e3d2a\tib_register_client\tdrivers/infiniband/core/ib_core\t"
                                          "EXPORT_SYMBOL\t\n")
    link(root, "/usr/src/ofa_kernel/default", "x86_64/%s" % kver)


def test_in_tree_defaults(host):
    facts = _facts(run_module(scst_build_facts.main, {}))
    assert (facts["kernel"], facts["kernel_source"], facts["kdir"]) == (K, "uname -r", "/lib/modules/%s/build" % K)
    assert facts["flavor"] == "in-tree" and facts["expected_flavor"] == "" and facts["ready"] is True
    assert facts["toolchain"]["gcc"] == "/usr/bin/gcc-12"
    assert facts["errors"] == []
    # dpkg-query asked for the OFED names; ofed_info absent, so never run
    assert host["calls"] == [["/usr/bin/dpkg-query"] + pq.dpkg_argv()[1:]]


def test_mofed_ready_in_check_mode(host):
    install_mofed(host)
    result = run_module(scst_build_facts.main, {"target_kernel": K, "expected_flavor": "MOFED",
                                                "_ansible_check_mode": True})
    facts = _facts(result)
    assert facts["ready"] is True and facts["reasons"] == [] and facts["flavor_matches"] is True
    assert facts["ofed"]["package"] == "mlnx-ofed-kernel-dkms" and facts["ofed"]["module_symvers_kernel"] == K
    assert ["/usr/bin/dpkg-query"] + pq.dpkg_argv()[1:] in host["calls"]
    assert [os.path.join(str(host["root"]), "usr/bin/ofed_info")] in host["calls"]


def test_mofed_wrong_kernel_and_broken_install(host):
    install_mofed(host, kver="6.1.0-50-amd64")
    facts = _facts(run_module(scst_build_facts.main, {"target_kernel": K, "expected_flavor": "mlnx_ofed"}))
    assert [r["code"] for r in facts["reasons"]] == ["MODULE_SYMVERS_WRONG_KERNEL"]
    # broken install: the kernel package is gone (real capture without it)
    host["tools"]["dpkg-query"] = lambda argv: dpkg_result(
        read_fixture("captured", "pkg-query", "mlnx-5.0-deb_dpkg-query_W_multi_after-kernel-utils.txt"))
    facts = _facts(run_module(scst_build_facts.main, {"target_kernel": K, "expected_flavor": "MOFED"}))
    assert facts["reasons"][0]["code"] == "MOFED_DEVEL_MISSING" and facts["ready"] is False


def test_ofed_info_failing_is_an_error_not_a_crash(host):
    write(host["root"], "/usr/bin/ofed_info", "garbage", 0o755)
    host["tools"]["ofed_info"] = lambda argv: (126, "", "cannot execute binary file")
    facts = _facts(run_module(scst_build_facts.main, {"expected_flavor": "MOFED"}))
    assert facts["flavor"] == ""
    assert [e["code"] for e in facts["errors"]] == ["OFED_INFO_FAILED"]
    assert "exited 126: cannot execute binary file" in facts["errors"][0]["msg"]
    assert {"FLAVOR_MISMATCH", "OFED_INFO_UNRECOGNISED"} <= {r["code"] for r in facts["reasons"]}


def test_kdir_only(host):
    facts = _facts(run_module(scst_build_facts.main, {"kdir": HEADERS, "expected_flavor": "in-tree"}))
    assert facts["kernel"] == "6.1.192" and facts["kdir"] == HEADERS
    assert [r["code"] for r in facts["reasons"]] == ["KVER_MISMATCH"]


def test_bad_expected_flavor_is_refused_by_the_argument_spec(host):
    result = run_module(scst_build_facts.main, {"expected_flavor": "mofed"})
    assert result["failed"] is True and "expected_flavor" in result["msg"]
