# SPDX-License-Identifier: GPL-3.0-or-later
"""main() of iser.ofed.ib_modules on constructed roots (tmp_path), with modprobe/rmmod/ip patched.

The fake ``modprobe -r`` edits the constructed ``/proc/modules`` the way the kernel and kmod do: it refuses a
module that still has holders or other references ("is in use"), and removes dependencies that became unused
(kmod's documented ``-r`` behaviour). ``ip -j`` answers with the REAL captures of the build machine.
"""
from __future__ import annotations

import os

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils._proc_modules import parse_proc_modules
from ansible_collections.iser.ofed.plugins.modules import ib_modules
from conftest import read_fixture, run_module

KVER = "6.1.0-50-amd64"
NET = "captured/build-host-net"
# Constructed: SCST's modules and an out-of-tree ib_register_client user under extra/ (as depmod lists them).
EXTRA_DEP = ("extra/isert_scst.ko: extra/iscsi_scst.ko extra/scst.ko kernel/drivers/infiniband/core/rdma_cm.ko "
             "kernel/drivers/infiniband/core/ib_core.ko\nextra/iscsi_scst.ko: extra/scst.ko\nextra/scst.ko:\n"
             "extra/ibclient.ko: kernel/drivers/infiniband/core/ib_core.ko\n")


def render(modules):
    lines = []
    for m in modules:
        holders = ",".join(m["holders"]) + "," if m["holders"] else "-"
        lines.append("%s %d %d %s Live 0x0000000000000000" % (m["name"], m["size"], m["refcount"], holders))
    return "\n".join(lines) + "\n"


class FakeHost:
    def __init__(self, root, proc_fixture):
        self.root = root
        self.calls = []
        self.fail_on = set()
        self.tools = {"modprobe", "rmmod", "ip"}
        self.route_json = read_fixture(NET, "ip_-j_route_show_default.json")
        self.addr_json = read_fixture(NET, "ip_-j_addr.json")
        self.write(read_fixture("constructed", "proc_modules", proc_fixture))
        dep = root / "lib" / "modules" / KVER / "modules.dep"
        dep.parent.mkdir(parents=True)
        dep.write_text(read_fixture("captured", "debian12-kernel", "modules.dep_grep_infiniband_mellanox.txt")
                       + EXTRA_DEP)

    def write(self, text):
        path = self.root / "proc" / "modules"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def modules(self):
        return parse_proc_modules((self.root / "proc" / "modules").read_text())[0]

    def names(self):
        return [m["name"] for m in self.modules()]

    def remove(self, name, collateral):
        mods = self.modules()
        byname = {m["name"]: m for m in mods}
        mod = byname.get(name)
        if mod is None:
            return 1, "", "modprobe: FATAL: Module %s is not in kernel.\n" % name
        if mod["refcount"] or name in self.fail_on:
            return 1, "", "modprobe: FATAL: Module %s is in use.\n" % name
        released = [m for m in mods if name in m["holders"]]
        for m in released:
            m["holders"].remove(name)
            m["refcount"] -= 1
        mods = [m for m in mods if m["name"] != name]
        self.write(render(mods))
        if collateral:
            for m in released:
                if m["refcount"] == 0:
                    self.remove(m["name"], collateral)
        return 0, "", ""

    def run_command(self, args, **kwargs):
        assert kwargs.get("environ_update") == {"LC_ALL": "C"}
        self.calls.append(list(args))
        tool, rest = os.path.basename(args[0]), list(args[1:])
        if tool == "ip":
            if rest == ["-j", "route", "show", "default"] or rest == ["-j", "-6", "route", "show", "default"]:
                return 0, self.route_json, ""
            if rest == ["-j", "addr"]:
                return 0, self.addr_json, ""
        if tool == "modprobe" and rest[0] == "-r":
            return self.remove(rest[1], collateral=True)
        if tool == "rmmod":
            return self.remove(rest[0], collateral=False)
        if tool == "modprobe":
            mods = self.modules()
            mods.insert(0, {"name": rest[0].replace("-", "_"), "size": 4096, "refcount": 0, "holders": []})
            self.write(render(mods))
            return 0, "", ""
        raise AssertionError("unexpected command %r" % (args,))


@pytest.fixture
def host_factory(tmp_path, monkeypatch):
    monkeypatch.setattr(ib_modules, "ROOT", str(tmp_path))
    monkeypatch.delenv("SSH_CONNECTION", raising=False)

    def make(proc_fixture="vm_softroce_isert.txt"):
        host = FakeHost(tmp_path, proc_fixture)

        def get_bin_path(self, name, required=False, opt_dirs=None):
            if name in host.tools:
                return "/usr/sbin/" + name
            if required:
                self.fail_json(msg="Failed to find required executable %s" % name)
            return None

        monkeypatch.setattr(AnsibleModule, "get_bin_path", get_bin_path)
        monkeypatch.setattr(AnsibleModule, "run_command", lambda self, args, **kw: host.run_command(args, **kw))
        return host
    return make


def run(args):
    return run_module(ib_modules.main, dict({"kernel": KVER}, **args))


def test_absent_unloads_the_softroce_stack_in_order_then_is_idempotent(host_factory):
    host = host_factory()
    before = host.names()
    result = run({"state": "absent"})
    assert result["_exit_code"] == 0 and not result.get("failed"), result
    assert result["changed"] is True and result["interlocks"] == []
    plan = result["plan"]
    assert plan[0] == "ib_isert" and plan.index("ib_core") > plan.index("rdma_cm")
    # done: every plan module plus what modprobe -r removed as unused dependencies (kmod may take a plan
    # module early, e.g. rdma_cm with ib_isert); every module went after all that held it
    assert set(plan) <= set(result["done"])
    held = {m["name"]: m["holders"] for m in parse_proc_modules(
        read_fixture("constructed", "proc_modules", "vm_softroce_isert.txt"))[0]}
    pos = {name: i for i, name in enumerate(result["done"])}
    for name in result["done"]:
        assert all(pos[h] < pos[name] for h in held[name]), name
    assert set(result["collateral"]) == {"iscsi_target_mod", "target_core_mod", "udp_tunnel", "ip6_udp_tunnel",
                                         "psample", "pci_hyperv_intf"}
    assert not set(plan) & set(host.names())
    assert set(host.names()) == set(before) - set(result["done"])
    assert "configfs" in host.names()  # still referenced: kmod leaves it
    removes = [c for c in host.calls if c[1:2] == ["-r"]]
    assert [c[2] for c in removes] == [m for m in plan if m in [c[2] for c in removes]]
    assert removes[0][2] == "ib_isert"
    second = run({"state": "absent"})
    assert second["changed"] is False and second["plan"] == [] and second["done"] == []


def test_check_mode_touches_nothing(host_factory):
    host = host_factory()
    before = (host.root / "proc" / "modules").read_text()
    result = run({"state": "absent", "_ansible_check_mode": True})
    assert result["changed"] is True and result["plan"][0] == "ib_isert" and result["done"] == []
    assert (host.root / "proc" / "modules").read_text() == before
    assert not [c for c in host.calls if "modprobe" in c[0] or "rmmod" in c[0]]


def test_unknown_holder_refuses_with_all_findings(host_factory, tmp_path):
    host = host_factory()
    text = "ibclient 16384 0 - Live 0x0000000000000000 (OE)\n" + (tmp_path / "proc/modules").read_text()
    host.write(text.replace("ib_core 405504 9 ", "ib_core 405504 10 ibclient,"))
    make_proc = tmp_path / "proc" / "4242" / "fd"
    make_proc.mkdir(parents=True)
    (tmp_path / "proc" / "4242" / "comm").write_text("rping\n")
    os.symlink("/dev/infiniband/rdma_cm", str(make_proc / "3"))
    before = host.names()
    result = run({"state": "absent"})
    assert result["failed"] and result["_exit_code"] == 1
    assert [i["code"] for i in result["interlocks"]] == ["HOLDER_UNKNOWN", "DEV_INFINIBAND_OPEN"]
    assert all(i["overridden"] is False for i in result["interlocks"])
    assert "ibclient holds ib_core" in result["msg"] and "4242 (rping)" in result["msg"]
    assert host.names() == before and result["done"] == []
    # naming the holder vouches for it; the process still refuses
    named = run({"state": "absent", "modules": ["ib_core", "ibclient"]})
    assert [i["code"] for i in named["interlocks"]] == ["DEV_INFINIBAND_OPEN"]


def test_force_overrides_loudly(host_factory, tmp_path):
    host = host_factory()
    text = "ibclient 16384 0 - Live 0x0000000000000000 (OE)\n" + (tmp_path / "proc/modules").read_text()
    host.write(text.replace("ib_core 405504 9 ", "ib_core 405504 10 ibclient,"))
    result = run({"state": "absent", "force": True})
    assert result["_exit_code"] == 0 and result["changed"] is True
    assert result["interlocks"][0]["code"] == "HOLDER_UNKNOWN" and result["interlocks"][0]["overridden"] is True
    assert any("FORCE overrides interlock HOLDER_UNKNOWN" in str(w) for w in result["warnings"])
    assert "ibclient" in result["done"] and "ib_core" not in host.names()


def test_nic_interlock_through_main(host_factory, tmp_path, monkeypatch):
    # constructed: the management address of the real capture (192.0.2.2 on eth0) on an mlx5 port
    host = host_factory("debian12_storage_ulps.txt")
    net = tmp_path / "sys/class/net/eth0"
    net.mkdir(parents=True)
    (net / "type").write_text("1\n")
    drv = tmp_path / "sys/bus/pci/drivers/mlx5_core"
    drv.mkdir(parents=True)
    (tmp_path / "sys/module/mlx5_core").mkdir(parents=True)
    os.symlink("../../../../module/mlx5_core", str(drv / "module"))
    dev = tmp_path / "sys/devices/pci0000:00/0000:3b:00.0"
    dev.mkdir(parents=True)
    os.symlink("../../../bus/pci/drivers/mlx5_core", str(dev / "driver"))
    os.symlink("../../../devices/pci0000:00/0000:3b:00.0", str(net / "device"))
    monkeypatch.setenv("SSH_CONNECTION", "192.0.2.1 50412 192.0.2.2 22")
    result = run({"state": "absent"})
    assert result["failed"]
    # IPv4 and IPv6 default routes are both on eth0: one finding per interface
    assert [i["code"] for i in result["interlocks"]] == ["NIC_DEFAULT_ROUTE", "NIC_MGMT_CONNECTION"]
    assert "192.0.2.2" in result["interlocks"][1]["msg"]
    # unloading only the iSER target side does not touch the NIC
    ok = run({"state": "absent", "modules": ["ib_isert"]})
    assert ok["_exit_code"] == 0 and ok["done"][0] == "ib_isert" and ok["plan"] == ["ib_isert"]


def test_ip_missing_falls_back_to_proc_net_route(host_factory, tmp_path):
    host = host_factory("debian12_storage_ulps.txt")
    host.tools = {"modprobe", "rmmod"}
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "proc/net/route").write_text(read_fixture(NET, "proc_net_route.txt"))
    net = tmp_path / "sys/class/net/eth0"
    net.mkdir(parents=True)
    (net / "type").write_text("32\n")  # constructed: the default route on IPoIB
    result = run({"state": "absent", "_ansible_check_mode": True})
    assert [i["code"] for i in result["interlocks"]] == ["NIC_DEFAULT_ROUTE"]
    assert "ib_ipoib" in result["interlocks"][0]["msg"]


def test_failure_stops_and_reports_what_was_done(host_factory):
    host = host_factory()
    host.fail_on = {"rdma_cm"}
    result = run({"state": "absent"})
    assert result["failed"] and result["failed_module"] == "rdma_cm"
    assert result["done"][:4] == ["ib_isert", "iscsi_target_mod", "target_core_mod", "ib_ipoib"]
    assert "rdma_cm" not in result["done"] and "rdma_cm" in host.names()
    assert "is in use" in result["stderr"]
    assert [os.path.basename(c) for c in result["cmd"]] == ["modprobe -r rdma_cm", "rmmod rdma_cm"] or \
        result["cmd"] == ["/usr/sbin/modprobe -r rdma_cm", "/usr/sbin/rmmod rdma_cm"]


def test_non_module_refs_warn(host_factory, tmp_path):
    host = host_factory()
    host.write((tmp_path / "proc/modules").read_text().replace("ib_uverbs 180224 3 ", "ib_uverbs 180224 5 "))
    result = run({"state": "absent", "_ansible_check_mode": True})
    assert result["non_module_refs"] == {"ib_uverbs": 2}
    # 2.18 returns warnings as strings, 2.19 as structured dicts
    assert any("ib_uverbs has 2 reference(s)" in str(w) for w in result["warnings"])


def test_present_loads_missing_in_order(host_factory):
    host = host_factory()
    host.write("ib_core 405504 0 - Live 0x0000000000000000\n")
    check = run({"state": "present", "modules": ["rdma_rxe", "ib_core", "ib-isert"], "_ansible_check_mode": True})
    assert check["changed"] is True and check["plan"] == ["rdma_rxe", "ib_isert"] and check["done"] == []
    result = run({"state": "present", "modules": ["rdma_rxe", "ib_core", "ib-isert"]})
    assert result["done"] == ["rdma_rxe", "ib_isert"] and result["changed"] is True
    assert [c[1:] for c in host.calls if "modprobe" in c[0]] == [["rdma_rxe"], ["ib_isert"]]
    again = run({"state": "present", "modules": ["rdma_rxe", "ib_isert"]})
    assert again["changed"] is False and again["plan"] == []


def test_present_requires_modules(host_factory):
    host_factory()
    result = run({"state": "present"})
    assert result["failed"] and "modules" in result["msg"]


@pytest.mark.parametrize("setup, reason", [
    ("no_proc", "/proc/modules is absent"),
    ("container", "running in a container (podman)"),
])
def test_unmanageable_fails_or_skips(tmp_path, monkeypatch, setup, reason):
    monkeypatch.setattr(ib_modules, "ROOT", str(tmp_path))
    if setup == "container":
        (tmp_path / "run").mkdir()
        (tmp_path / "run/.containerenv").write_text("")
        (tmp_path / "proc").mkdir()
        (tmp_path / "proc/modules").write_text("ib_core 405504 0 - Live 0x0000000000000000\n")
    failed = run({"state": "absent"})
    assert failed["failed"] and reason in failed["msg"] and "cannot manage kernel modules here" in failed["msg"]
    skipped = run({"state": "absent", "when_unmanageable": "skip"})
    assert skipped["_exit_code"] == 0 and not skipped.get("failed") and skipped["changed"] is False
    assert reason in skipped["skipped_reason"] and skipped["plan"] == []


def test_missing_modules_dep_fails_clearly(host_factory, tmp_path):
    host_factory()
    result = run_module(ib_modules.main, {"state": "absent", "kernel": "9.9.9-none"})
    assert result["failed"] and "/lib/modules/9.9.9-none/modules.dep" in result["msg"]
