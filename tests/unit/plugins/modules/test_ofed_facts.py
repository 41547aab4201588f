# SPDX-License-Identifier: GPL-3.0-or-later
"""main() of iser.ofed.ofed_facts with command results replayed from real captures.

Each host is a constructed tree under ``tmp_path`` (ROOT); the outputs of ``ofed_info``, ``dpkg-query``
and ``rpm`` are the real captures of tests/unit/fixtures/captured, joined where the module asks for several
names at once (the "not installed" / "no packages found" lines keep the real wording).
"""
from __future__ import annotations

import os

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _pkgquery as pq
from ansible_collections.iser.ofed.plugins.modules import ofed_facts
from conftest import read_fixture, run_module, write_file as write

KVER = "6.1.0-50-amd64"


def info_cap(name):
    return read_fixture("captured", "ofed_info", name + ".txt")


def pkg_cap(name):
    return read_fixture("captured", "pkg-query", name + ".txt")


def dpkg_result(stdout):
    """dpkg-query over all DEB_NAMES: real stdout, 'no packages found' for every name not listed."""
    listed = {line.split("\t")[0].split(":")[0] for line in stdout.splitlines() if line}
    missing = [n for n in pq.DEB_NAMES
               if not any(l == n or (n.endswith("*") and l.startswith(n[:-1])) for l in listed)]
    err = "".join("dpkg-query: no packages found matching %s\n" % n for n in missing)
    return (1 if missing else 0, stdout, err)


def rpm_result(stdout):
    """rpm -q over all RPM_NAMES: real stdout, 'package X is not installed' for the rest, rc = missing."""
    listed = {line.split("\t")[0] for line in stdout.splitlines() if line}
    missing = [n for n in pq.RPM_NAMES if n not in listed]
    return (len(missing), stdout + "".join("package %s is not installed\n" % n for n in missing), "")


@pytest.fixture
def host(tmp_path, monkeypatch):
    """``tools`` maps a tool basename to a function(argv) -> (rc, out, err); absent -> not installed."""
    state = {"tools": {}, "calls": [], "root": tmp_path}
    monkeypatch.setattr(ofed_facts, "ROOT", str(tmp_path))
    monkeypatch.setattr(ofed_facts, "uname_release", lambda: KVER)

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return "/usr/bin/" + name if name in state["tools"] else None

    def run_command(self, args, **kwargs):
        assert isinstance(args, list) and kwargs.get("environ_update") == {"LC_ALL": "C"}
        state["calls"].append(list(args))
        tool = os.path.basename(args[0])
        if tool == "ofed_info" and tool not in state["tools"]:
            raise AssertionError("ofed_info run but no replay given: %r" % args)
        return state["tools"][tool](args)

    monkeypatch.setattr(AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(AnsibleModule, "run_command", run_command)
    return state


def ofed_info_replay(stack):
    """Replay ofed_info <noarg|-s|-n> from the captures of ``stack``."""
    def run(argv):
        opt = {1: "noarg"}.get(len(argv)) or {"-s": "s", "-n": "n"}[argv[1]]
        name = "%s_%s" % (stack, opt)
        return int(read_fixture("captured", "ofed_info", name + ".rc")), info_cap(name), ""
    return run


def _ofed(result):
    assert result["_exit_code"] == 0 and not result.get("failed"), result
    assert result["changed"] is False
    return result["ansible_facts"]["iser_ofed"]["ofed"]


def test_no_ofed(host):
    host["tools"]["dpkg-query"] = lambda argv: dpkg_result("")
    facts = _ofed(run_module(ofed_facts.main, {}))
    assert (facts["installed"], facts["flavor"], facts["version"]) == (False, None, None)
    assert facts["ofed_info"]["present"] is False
    assert facts["ofed_scripts"] == {"installed": False, "version": None, "manager": None, "managers": []}
    assert facts["scst_build_flavor"] == "in-tree" and facts["scst_build"]["ready"] is True
    assert facts["hardware"] == [] and facts["systemd"] is False
    assert facts["errors"] == []
    assert facts["target_kernel"] == facts["running_kernel"] == KVER


def test_mlnx_5_0_deb(host):
    write(host["root"], "/usr/bin/ofed_info", "#!/bin/bash\n", 0o755)
    host["tools"]["ofed_info"] = ofed_info_replay("mlnx-5.0-deb")
    host["tools"]["dpkg-query"] = lambda argv: dpkg_result(pkg_cap("mlnx-5.0-deb_dpkg-query_W_multi_after-kernel-utils"))
    facts = _ofed(run_module(ofed_facts.main, {"target_kernel": "6.1.0-99-amd64"}))
    assert (facts["installed"], facts["flavor"], facts["version"], facts["version_source"]) == (
        True, "mlnx_ofed", "5.0-2.1.8", "ofed_info -s")
    assert facts["ofed_info"]["first_line"] == "OFED-internal-5.0-2.1.8:"
    assert facts["ofed_info"]["kind"] == "ofed_internal" and facts["ofed_info"]["numeric"] == "5.0-2.1.8"
    assert facts["ofed_scripts"] == {"installed": True, "version": "5.0-OFED.5.0.2.1.8", "manager": "dpkg",
                                     "managers": ["dpkg"]}
    assert [p["name"] for p in facts["packages"]] == ["mlnx-ofed-kernel-utils", "ofed-scripts"]
    assert facts["scst_build_flavor"] == "MOFED"
    assert facts["scst_build"]["ready"] is False
    assert facts["scst_build"]["reasons"][0].startswith("MLNX OFED has not been installed")
    assert facts["target_kernel"] == "6.1.0-99-amd64"
    assert facts["errors"] == []
    assert [c[1:] for c in host["calls"] if c[0].endswith("ofed_info")] == [[], ["-s"], ["-n"]]
    assert all(c[0] == os.path.join(str(host["root"]), "usr/bin/ofed_info")
               for c in host["calls"] if c[0].endswith("ofed_info"))


def test_mlnx_4_1_deb_minus_n_prints_listing(host):
    write(host["root"], "/usr/bin/ofed_info", "#!/bin/bash\n", 0o755)
    host["tools"]["ofed_info"] = ofed_info_replay("mlnx-4.1-deb")
    host["tools"]["dpkg-query"] = lambda argv: dpkg_result(pkg_cap("mlnx-4.1-deb_dpkg-query_W_multi_after-kernel-utils"))
    facts = _ofed(run_module(ofed_facts.main, {}))
    assert (facts["flavor"], facts["version"]) == ("mlnx_ofed", "4.1-1.0.2")
    assert facts["ofed_info"]["numeric"] is None
    assert facts["ofed_scripts"]["version"] == "4.1-OFED.4.1.1.0.2"
    assert facts["scst_build_flavor"] == "MOFED" and facts["errors"] == []


@pytest.mark.parametrize("stack, version, scripts_version", [
    ("classic-1.5-rpm", "1.5", "1.5-0"),
    ("classic-3.5-rpm", "3.5", "3.5-OFED.3.5"),
])
def test_classic_rpm_on_debian(host, stack, version, scripts_version):
    """Classic OFED installs RPMs on Debian (--force-debian): rpm and dpkg-query both exist."""
    write(host["root"], "/usr/bin/ofed_info", "#!/bin/bash\n", 0o755)
    host["tools"]["ofed_info"] = ofed_info_replay(stack)
    host["tools"]["dpkg-query"] = lambda argv: dpkg_result("")
    host["tools"]["rpm"] = lambda argv: rpm_result(pkg_cap(stack + "_rpm_q_qf_fields_installed"))
    facts = _ofed(run_module(ofed_facts.main, {}))
    assert (facts["installed"], facts["flavor"], facts["version"]) == (True, "ofed", version)
    assert facts["ofed_scripts"] == {"installed": True, "version": scripts_version, "manager": "rpm",
                                     "managers": ["rpm"]}
    assert facts["scst_build_flavor"] == "OFED"
    assert facts["scst_build"]["ready"] is False
    assert "kernel-ib-devel/compat-rdma-devel" in facts["scst_build"]["reasons"][-1]
    assert facts["errors"] == []
    # classic ofed_info has no -n: it is not asked
    assert not any(c[1:] == ["-n"] for c in host["calls"])


BINARY_JUNK = "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00\x01\x00\x00\x00\udcff\udcfe"


@pytest.mark.parametrize("replay, code, scst", [
    (lambda argv: (0, "hello world\n", ""), "OFED_INFO_UNPARSEABLE", ""),
    (lambda argv: (0, BINARY_JUNK, ""), "OFED_INFO_UNPARSEABLE", ""),
    (lambda argv: (0, "", ""), "OFED_INFO_FAILED", ""),
    (lambda argv: (2, "", "/usr/bin/ofed_info: line 3: syntax error near unexpected token\n"), "OFED_INFO_FAILED", ""),
    (lambda argv: (None, "", "[Errno 13] Permission denied: '/usr/bin/ofed_info'"), "OFED_INFO_FAILED", ""),
])
def test_garbage_ofed_info(host, replay, code, scst):
    """Constructed broken ofed_info scripts: the module stays ok and says what is wrong."""
    write(host["root"], "/usr/bin/ofed_info", "#!/bin/sh\necho hello world\n", 0o755)
    host["tools"]["ofed_info"] = replay
    facts = _ofed(run_module(ofed_facts.main, {}))
    assert [e["code"] for e in facts["errors"]] == [code]
    assert facts["installed"] is False and facts["flavor"] is None
    assert facts["ofed_info"]["present"] is True and facts["ofed_info"]["kind"] is None
    assert facts["scst_build_flavor"] == scst and facts["scst_build"]["ready"] is False
    first = facts["ofed_info"]["first_line"]
    assert first is None or "\x00" not in first


def test_mlnxofedinstall_rewritten_ofed_info(host):
    """Constructed from the domain doc: after mlnxofedinstall, -s/-n/listing print the MLNX_OFED_LINUX forms."""
    write(host["root"], "/usr/bin/ofed_info", "#!/bin/bash\n", 0o755)
    outputs = {"-s": "MLNX_OFED_LINUX-23.10-0.5.5.0:\n", "-n": "23.10-0.5.5.0\n",
               None: "MLNX_OFED_LINUX-23.10-0.5.5.0 (OFED-23.10-0.5.5):\n\nar_mgr:\n"}
    host["tools"]["ofed_info"] = lambda argv: (0, outputs[argv[1] if len(argv) > 1 else None], "")
    facts = _ofed(run_module(ofed_facts.main, {}))
    info = facts["ofed_info"]
    assert (info["kind"], info["version"], info["numeric"], info["base_version"]) == (
        "mlnx_ofed_linux", "23.10-0.5.5.0", "23.10-0.5.5.0", "23.10-0.5.5")
    assert info["makefile_first_line"] == "MLNX_OFED_LINUX-23.10-0.5.5.0 (OFED-23.10-0.5.5):"
    assert facts["scst_build_flavor"] == "MOFED" and facts["flavor"] == "mlnx_ofed"


def test_run_command_oserror_is_caught(host, monkeypatch):
    write(host["root"], "/usr/bin/ofed_info", "not executable", 0o644)

    def raising(argv):
        raise OSError(13, "Permission denied")
    host["tools"]["ofed_info"] = raising
    facts = _ofed(run_module(ofed_facts.main, {}))
    assert [e["code"] for e in facts["errors"]] == ["OFED_INFO_FAILED"]
    assert "could not be run" in facts["errors"][0]["msg"] and "Permission denied" in facts["errors"][0]["msg"]


def test_prefix_from_etc_infiniband_info_and_package_query_failure(host):
    # constructed: classic OFED installed under /opt/ofed; rpm database broken
    write(host["root"], "/etc/infiniband/info", "#!/bin/bash\necho prefix=/opt/ofed\necho Kernel=%s\n" % KVER, 0o755)
    write(host["root"], "/opt/ofed/bin/ofed_info", "#!/bin/bash\n", 0o755)
    host["tools"]["ofed_info"] = ofed_info_replay("classic-3.5-rpm")
    host["tools"]["rpm"] = lambda argv: (1, "", "error: cannot open Packages database in /var/lib/rpm\n")
    facts = _ofed(run_module(ofed_facts.main, {}))
    assert facts["ofed_info"]["path"] == "/opt/ofed/bin/ofed_info" and facts["ofed_info"]["prefix"] == "/opt/ofed"
    assert (facts["flavor"], facts["version"]) == ("ofed", "3.5")
    assert facts["scst_build_flavor"] == "in-tree"   # the Makefile reads only /usr/bin/ofed_info
    assert "the Makefile reads only /usr/bin/ofed_info" in facts["scst_build"]["reasons"][-1]
    assert [e["code"] for e in facts["errors"]] == ["PKG_QUERY_FAILED"]
    assert "cannot open Packages database" in facts["errors"][0]["msg"]


def test_systemd_services_hardware_and_mlnx_release(host):
    root = host["root"]
    os.makedirs(os.path.join(str(root), "run/systemd/system"))
    write(root, "/etc/init.d/openibd", "#!/bin/sh\n", 0o755)
    write(root, "/etc/mlnx-release", "DOCA-OFED 24.10-1.1.4\n")  # constructed: format not captured
    dev = os.path.join(str(root), "sys/bus/pci/devices/0000:81:00.0")
    os.makedirs(dev)
    for name, value in (("vendor", "0x15b3"), ("device", "0x1011"), ("class", "0x020700")):
        write(root, "/sys/bus/pci/devices/0000:81:00.0/" + name, value + "\n")
    show = ("Id=openibd.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\n"
            "Id=opensm.service\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n")
    host["tools"]["systemctl"] = lambda argv: (0, show, "")
    host["tools"]["dpkg-query"] = lambda argv: dpkg_result("")
    facts = _ofed(run_module(ofed_facts.main, {}))
    assert facts["systemd"] is True
    assert facts["services"]["openibd"]["kind"] == "systemd+sysv" and facts["services"]["openibd"]["active"]
    assert facts["services"]["opensm"]["present"] is False
    assert facts["hardware"][0]["name"] == "Connect-IB" and facts["hardware_dropped"] == ["0000:81:00.0"]
    assert (facts["installed"], facts["flavor"], facts["version_source"]) == (True, "mlnx_ofed", "/etc/mlnx-release")
    assert facts["errors"] == []


def test_systemctl_failure_is_an_error_entry(host):
    os.makedirs(os.path.join(str(host["root"]), "run/systemd/system"))
    host["tools"]["systemctl"] = lambda argv: (1, "", "Failed to connect to bus: No such file or directory\n")
    facts = _ofed(run_module(ofed_facts.main, {}))
    assert [e["code"] for e in facts["errors"]] == ["SERVICE_QUERY_FAILED"]
    assert facts["systemd"] is True and facts["services"]["openibd"]["load_state"] is None
