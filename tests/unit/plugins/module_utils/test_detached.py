# SPDX-License-Identifier: GPL-3.0-or-later
"""The detached on-host transaction (``_detached``) on a simulated host built from REAL captures of the test-bed
VM (``captured/vm-detach-6.1.0-57``: ``/proc/modules`` with the soft-RoCE stack loaded, ``ip -j addr``/``route``
of its virtio_net eth0, its modules.dep lines) and the Debian 12 module tree of the stock_modules tests.

Constructed (marked): the sysfs links of eth0 to its driver, and the host's behaviour: ``modprobe -r`` removes a
module nobody holds plus the dependencies it leaves unused, ``modprobe`` loads one (and what it needs) when its
file is in the tree, eth0 vanishes with virtio_net and comes back with a new ifindex, networkd gives the
address back after a delay (or never). The quarantine, the journal and the installer (a real shell script run
through ``/bin/sh``) are real.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _detached as dt
from ansible_collections.iser.ofed.plugins.module_utils import _journal as jn
from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import parse_modules_dep
from ansible_collections.iser.ofed.plugins.module_utils._proc_modules import parse_proc_modules
from conftest import read_fixture

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from kernel_tree_builder import DEBIAN12_KVER, symlink, write  # noqa: E402
from stock_tree import build, digest  # noqa: E402

CAP = ("captured", "vm-detach-6.1.0-57")
STOCK_DIRS = ["kernel/drivers/infiniband", "kernel/drivers/net/mlx4", "kernel/drivers/net/ethernet/mellanox/mlx4",
              "kernel/drivers/net/ethernet/mellanox/mlx5"]
ROOTS = ["ib_core", "mlx4_core", "mlx5_core", "virtio_net"]


class SimHost:
    """A constructed host over the captured data (see the module docstring)."""

    def __init__(self, tmp_path, dhcp_delay=3):
        self.root = str(tmp_path / "root")
        self.modules_dir = build(self.root)
        write(self.modules_dir, "modules.dep", read_fixture(*CAP, "modules.dep.loaded.txt"))
        self.dep = parse_modules_dep(read_fixture(*CAP, "modules.dep.loaded.txt"))[0]
        for name, entry in self.dep.items():  # the non-IB files (the tree only has IB/Mellanox ones)
            if not os.path.exists(os.path.join(self.modules_dir, entry["path"])):
                write(self.modules_dir, entry["path"], "constructed %s\n" % entry["path"])
        # constructed: eth0's sysfs links to its driver module, as on the VM
        os.makedirs(os.path.join(self.root, "sys/bus/virtio/drivers/virtio_net"))
        symlink(self.root, "sys/bus/virtio/drivers/virtio_net/module", "../../../../module/virtio_net")
        os.makedirs(os.path.join(self.root, "sys/class/net/eth0/device"))
        symlink(self.root, "sys/class/net/eth0/device/driver", "../../../../bus/virtio/drivers/virtio_net")
        self.mods = {m["name"]: m for m in parse_proc_modules(read_fixture(*CAP, "proc_modules.txt"))[0]}
        self.order = list(self.mods)
        self.links = json.loads(read_fixture(*CAP, "ip_-j_addr.json"))
        self.eth0 = next(l for l in self.links if l["ifname"] == "eth0")
        self.addr_info = list(self.eth0["addr_info"])
        self.routes = json.loads(read_fixture(*CAP, "ip_-j_route_show_dev_eth0.json"))
        self.routes6 = json.loads(read_fixture(*CAP, "ip_-j_-6_route_show_dev_eth0.json"))
        self.route_state = {"4": list(self.routes), "6": list(self.routes6)}
        self.ifindex = self.eth0["ifindex"]
        self.dhcp_delay = dhcp_delay
        self.dhcp_at = None
        self.t = 0.0
        self.calls = []
        self.check_mode = False
        self.diff = False
        self.environ = {"SSH_CONNECTION": "10.0.2.2 35958 10.0.2.15 22"}
        self.state_dir = str(tmp_path / "state")

    # -- the host interface of _detached
    def warn(self, msg):
        self.calls.append(["warn", msg])

    def which(self, tool):
        return None if tool in ("update-initramfs", "dracut", "lsinitramfs") else "/usr/sbin/" + tool

    def now(self):
        return "2026-12-06T15:%02d:%02dZ" % divmod(int(self.t), 60)

    def sleep(self, seconds):
        self.t += seconds
        self._tick()

    def clock(self):
        return self.t

    def read(self, path):
        if path == "/proc/modules":
            return "".join("%s %d %d %s Live 0x0000000000000000\n" % (
                n, self.mods[n]["size"], len(self.mods[n]["holders"]),
                ",".join(self.mods[n]["holders"]) + "," if self.mods[n]["holders"] else "-") for n in self.order)
        full = path if path.startswith(self.root) else os.path.join(self.root, path.lstrip("/"))
        try:
            with open(full, encoding="utf-8") as handle:
                return handle.read()
        except OSError:
            return None

    def run(self, argv, cwd=None, env=None):
        self.calls.append(list(argv))
        tool = os.path.basename(argv[0])
        if tool == "sh":  # the installer, for real
            proc = subprocess.run(argv, cwd=cwd, env=dict(os.environ, **(env or {})), capture_output=True,
                                  text=True, check=False)
            return proc.returncode, proc.stdout, proc.stderr
        if tool == "modprobe":
            return self._modprobe(argv[1:])
        if tool == "rmmod":
            return 1, "", "rmmod: ERROR: Module %s is in use\n" % argv[1]
        if tool == "ip":
            return self._ip(argv[1:])
        if tool == "depmod":
            return 0, "", ""
        if tool == "systemctl":
            return (0, "not-found\n", "") if argv[1] == "show" else (0, "", "")
        raise AssertionError("unexpected command %r" % argv)

    # -- constructed behaviour
    def _tick(self):
        if self.dhcp_at is not None and self.t >= self.dhcp_at and "eth0" in self._ifnames():
            self.addr_info = list(self.eth0["addr_info"])
            self.route_state = {"4": list(self.routes), "6": list(self.routes6)}
            self.dhcp_at = None

    def _ifnames(self):
        return [l["ifname"] for l in self._links()]

    def _links(self):
        links = [l for l in self.links if l["ifname"] != "eth0"]
        if "virtio_net" in self.mods:
            links.append(dict(self.eth0, ifindex=self.ifindex, addr_info=self.addr_info))
        return links

    def _holders_of(self, name):
        return [n for n in self.order if name in self.mods[n]["holders"]]

    def _modprobe(self, args):
        if args[0] == "-r":
            name = args[1]
            if self.mods.get(name, {}).get("holders"):
                return 1, "", "modprobe: FATAL: Module %s is in use.\n" % name
            self._remove(name)
            return 0, "", ""
        return self._load(args[0])

    def _remove(self, name):
        if name not in self.mods:
            return
        del self.mods[name]
        self.order.remove(name)
        for other in self.mods.values():
            other["holders"] = [h for h in other["holders"] if h != name]
        if name == "virtio_net":
            self.addr_info, self.route_state = [], {"4": [], "6": []}
        for dep in self.dep.get(name, {}).get("deps", []):  # modprobe -r also removes unused dependencies
            if dep in self.mods and not self.mods[dep]["holders"] and self.mods[dep]["refcount"] <= 1:
                self._remove(dep)

    def _load(self, name):
        entry = self.dep.get(name)
        if entry is None or not os.path.exists(os.path.join(self.modules_dir, entry["path"])):
            return 1, "", "modprobe: FATAL: Module %s not found in directory %s\n" % (name, self.modules_dir)
        for dep in entry["deps"]:
            if dep not in self.mods:
                rc, out, err = self._load(dep)
                if rc:
                    return rc, out, err
            self.mods[dep]["holders"] = sorted(set(self.mods[dep]["holders"]) | {name})
        if name not in self.mods:
            self.mods[name] = {"name": name, "size": 4096, "refcount": 0, "holders": []}
            self.order.insert(0, name)
        if name == "virtio_net":
            self.ifindex += 1
            self.addr_info = [a for a in self.eth0["addr_info"] if a.get("scope") == "link"]
            if self.dhcp_delay is not None:
                self.dhcp_at = self.t + self.dhcp_delay
        return 0, "", ""

    def _ip(self, args):
        args = [a for a in args if a != "-j"]
        fam = "6" if args[:1] == ["-6"] else "4"
        args = [a for a in args if a != "-6"]
        if args == ["addr"]:
            return 0, json.dumps(self._links()), ""
        if args[:3] == ["route", "show", "dev"]:
            if args[3] not in self._ifnames():
                return 1, "", 'Cannot find device "%s"\n' % args[3]
            return 0, json.dumps(self.route_state[fam]), ""
        if args[:3] == ["link", "set", "eth0"]:
            return 0, "", ""
        if args[:2] == ["addr", "replace"]:
            local, prefix = args[2].split("/")
            self.addr_info.append({"family": "inet", "local": local, "prefixlen": int(prefix), "scope": "global"})
            return 0, "", ""
        if args[:2] == ["route", "replace"]:
            self.route_state[fam].append({"dst": args[2]})
            return 0, "", ""
        raise AssertionError("unexpected ip %r" % args)


def installer(tmp_path, rc):
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    script = bundle / "mlnxofedinstall"
    script.write_text("#!/bin/sh\necho \"Logs dir: /tmp/MLNX_OFED_LINUX.4711.logs\"\n"
                      + ("echo 'Installation passed successfully'\n" if rc == 0 else
                         "echo 'Error: not enough free space in /tmp' >&2\n") + "exit %d\n" % rc)
    script.chmod(0o755)
    return {"bundle_dir": str(bundle), "flavor": "mlnx_ofed", "cmd": ["./mlnxofedinstall", "-q"],
            "log_file": str(tmp_path / "state" / "logs" / "installer.log"), "release": "5.0-2.1.8.0",
            "kernel": DEBIAN12_KVER, "conf": None}


def params(host, plan, install=None):
    return {"state_dir": host.state_dir, "kernel": DEBIAN12_KVER, "modules_root": os.path.join(host.root, "lib/modules"),
            "services": ["openibd"], "services_init": "systemd",
            "unload": {"plan": plan, "roots": ROOTS, "stock_dirs": STOCK_DIRS},
            "purge": {"kernel": DEBIAN12_KVER, "dirs": STOCK_DIRS, "depmod": True, "initramfs": "auto", "force": False},
            "install": install, "address_timeout": 30, "run_id": "run-1"}


def controller_plan(host):
    """The plan ib_modules computes for these roots (the controller's check mode)."""
    from ansible_collections.iser.ofed.plugins.module_utils._unload_plan import build_unload_plan
    loaded = parse_proc_modules(host.read("/proc/modules"))[0]
    return build_unload_plan(loaded, host.dep, {}, ROOTS)["plan"]


def journal(host):
    return jn.load_journal(host.state_dir)


@pytest.fixture
def host(tmp_path):
    return SimHost(tmp_path)


def test_success_drops_and_restores_the_nic_and_journals_like_the_connected_path(host, tmp_path):
    plan = controller_plan(host)
    assert plan.index("rdma_rxe") < plan.index("ib_core") and "virtio_net" in plan
    before_ifindex = host.ifindex
    result = dt.Transaction(host, params(host, plan, installer(tmp_path, 0))).run()
    assert not result.get("failed"), result
    assert [s["step"] for s in result["steps"]] == list(dt.STEPS)
    # the NIC went away and came back: a new ifindex, its address back from "DHCP", nothing re-added by hand
    assert "virtio_net" in result["unloaded"] and "virtio_net" in host.mods
    assert result["network"]["came_back"] and result["network"]["readded"] == []
    assert result["network"]["ifindex"]["eth0"] == before_ifindex + 1
    assert [i["ifname"] for i in result["interfaces"]] == ["eth0"]
    assert result["interfaces"][0]["addresses"] == ["10.0.2.15/24"]  # scope global only (fec0:: is site)
    # waited for and re-added: DHCP's routes; not the kernel's (they come with the address) nor the IPv6 router
    # advertisement's (fec0::/64, default via fe80::2: SLAAC brings them back when the router next speaks)
    assert [(r["dst"], r["protocol"]) for r in result["interfaces"][0]["routes"]] == [
        ("default", "dhcp"), ("10.0.2.2", "dhcp"), ("10.0.2.3", "dhcp")]
    # nothing from the stock dirs is loaded; the stock files sit in the quarantine
    assert not {"ib_core", "rdma_rxe", "mlx5_core"} & set(host.mods)
    assert not os.path.exists(os.path.join(host.modules_dir, "kernel/drivers/infiniband"))
    # the order: services stopped before the first unload, the NIC driver loaded after the installer ran
    cmds = [" ".join(c) for c in host.calls if isinstance(c, list) and c[0] != "warn"]

    def first(prefix):
        return next(i for i, c in enumerate(cmds) if c.startswith(prefix))

    assert first("/usr/sbin/systemctl stop openibd") < first("/usr/sbin/modprobe -r") < first("/bin/sh")
    assert first("/bin/sh") < first("/usr/sbin/modprobe virtio_net")
    stages = journal(host)["stages"]
    assert stages["ib_unload"]["status"] == "done"
    assert stages["ib_unload"]["data"]["unloaded"] == result["unloaded"]
    assert stages["ib_unload"]["data"]["unload_skipped"] is None
    purge = stages["stock_purge@" + DEBIAN12_KVER]
    assert purge["status"] == "done" and purge["data"]["dirs"] == STOCK_DIRS and purge["data"]["depmod_ran"]
    assert purge["data"]["manifest"].endswith("quarantine/%s/manifest.json" % DEBIAN12_KVER)
    inst = stages["ofed_install"]
    assert inst["status"] == "started" and inst["data"]["cmd"] == ["./mlnxofedinstall", "-q"]
    assert result["install"]["rc"] == 0 and "Installation passed successfully" in result["install"]["log_tail"]
    site = stages["site_detached"]
    assert site["status"] == "done"
    assert [(s["step"], s["status"]) for s in site["data"]["steps"]] == [
        (name, status) for name in dt.STEPS for status in ("started", "done")]


def test_address_that_does_not_come_back_is_re_added_with_ip(tmp_path):
    host = SimHost(tmp_path, dhcp_delay=None)
    result = dt.Transaction(host, params(host, controller_plan(host), installer(tmp_path, 0))).run()
    assert not result.get("failed"), result
    net = result["network"]
    assert not net["came_back"] and net["missing"] == []
    cmds = [c["cmd"] for c in net["readded"]]
    assert ["ip", "addr", "replace", "10.0.2.15/24", "dev", "eth0"] in cmds
    assert ["ip", "route", "replace", "default", "via", "10.0.2.2", "dev", "eth0", "src", "10.0.2.15", "metric",
            "1024", "proto", "dhcp"] in cmds
    assert host.t >= 30  # waited address_timeout first


def test_failing_installer_rolls_back_by_itself(host, tmp_path):
    tree = digest(host.modules_dir)
    loaded_before = set(host.mods)
    result = dt.Transaction(host, params(host, controller_plan(host), installer(tmp_path, 28))).run()
    assert result["failed"] and result["failed_step"] == "install" and result["failed_stage"] == "ofed_install"
    assert result["rolled_back"] and result["rollback_errors"] == []
    assert result["install"]["rc"] == 28
    # the stock kernel tree is back byte for byte, every unloaded module loaded again, eth0 has its address
    assert digest(host.modules_dir) == tree
    assert loaded_before <= set(host.mods)
    assert result["rollback_reloaded"][0] == "virtio_net"
    assert "10.0.2.15" in [a["local"] for a in host.addr_info]
    stages = journal(host)["stages"]
    assert stages["ofed_install"]["status"] == "failed"
    assert stages["ofed_install"]["data"]["rc"] == 28
    assert stages["ofed_install"]["data"]["error"].startswith("site_detached install: ./mlnxofedinstall exited 28")
    assert stages["site_detached"]["status"] == "rolled_back"
    assert stages["site_detached"]["data"]["step"] == "install"
    # the stages the job's own rollback undid are open again (failed): the controller's rollback role undoes
    # the rest (masks, services), and a resumed run does them again instead of skipping them as done
    for stage in ("ib_unload", "stock_purge@" + DEBIAN12_KVER):
        assert stages[stage]["status"] == "failed"
        assert stages[stage]["data"]["error"] == "undone by site_detached's own rollback after step install failed"
    assert stages["ib_unload"]["data"]["unloaded"] == result["unloaded"]


def test_grown_plan_refuses_and_changes_nothing(host, tmp_path):
    plan = [m for m in controller_plan(host) if m != "rdma_rxe"]
    tree, loaded = digest(host.modules_dir), host.read("/proc/modules")
    result = dt.Transaction(host, params(host, plan, installer(tmp_path, 0))).run()
    assert result["failed"] and result["failed_step"] == "plan" and not result["changed"]
    assert "rdma_rxe" in result["error"]
    assert digest(host.modules_dir) == tree and host.read("/proc/modules") == loaded
    stages = journal(host)["stages"]
    assert set(stages) == {"site_detached"} and stages["site_detached"]["status"] == "failed"


def test_check_mode_returns_the_plan_and_changes_nothing(host, tmp_path):
    host.check_mode = True
    tree, loaded = digest(host.modules_dir), host.read("/proc/modules")
    result = dt.Transaction(host, params(host, controller_plan(host), installer(tmp_path, 0))).run()
    assert result["changed"] and not result.get("failed")
    assert result["purge"]["moved"] == STOCK_DIRS[:1] + [d for d in STOCK_DIRS[1:] if d in result["purge"]["moved"]]
    assert result["install"]["cmd"] == ["./mlnxofedinstall", "-q"]
    assert [i["ifname"] for i in result["interfaces"]] == ["eth0"]
    assert digest(host.modules_dir) == tree and host.read("/proc/modules") == loaded
    assert not os.path.exists(host.state_dir)
    assert not [c for c in host.calls if c[0] != "warn" and c[:2] != ["/usr/sbin/ip", "-j"]]


def test_route_argv_from_captured_routes():
    routes = json.loads(read_fixture(*CAP, "ip_-j_-6_route_show_dev_eth0.json"))
    default6 = next(r for r in routes if r["dst"] == "default")
    assert dt.route_argv(default6, "eth0") == ["ip", "-6", "route", "replace", "default", "via", "fe80::2", "dev",
                                               "eth0", "metric", "1024", "proto", "ra"]


def test_verify_failure_without_installer_belongs_to_the_purge(tmp_path):
    """Found on the VM: a route that did not come back failed verify; with no installer run, the failure is
    the purge's (the rollback scope must not name an install that never happened)."""
    host = SimHost(tmp_path, dhcp_delay=None)
    host.routes = []  # constructed: nothing re-adds the route below, so verify fails after the re-add
    real_ip = host._ip

    def ip_without_route_replace(args):
        if "replace" in args and "route" in args:
            return 2, "", "RTNETLINK answers: Network is unreachable\n"
        return real_ip(args)

    host._ip = ip_without_route_replace
    p = params(host, controller_plan(host))
    p["address_timeout"] = 2
    # the captured DHCP routes were recorded before the unload; after it only the re-add could bring them back
    host.routes = json.loads(read_fixture(*CAP, "ip_-j_route_show_dev_eth0.json"))
    result = dt.Transaction(host, p).run()
    assert result["failed"] and result["failed_step"] == "network", result.get("msg")
    assert result["failed_stage"] == "stock_purge"
    stages = journal(host)["stages"]
    assert "ofed_install" not in stages
    assert stages["stock_purge@" + DEBIAN12_KVER]["status"] == "failed"
    assert stages["site_detached"]["status"] == "failed"  # its own rollback could not bring the route back
    assert any("routes not back" in e for e in result["rollback_errors"])
