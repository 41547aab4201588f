# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""The detached on-host transaction of ``iser.ofed.site`` (module ``iser.ofed.site_detached``).

When unloading the stack takes the management NIC's driver with it, the controller cannot drive the
destructive middle task by task: the SSH connection drops at the unload. The controller prepares everything
that can refuse while connected (inputs, masks, ofed.conf, the plans), then starts this job under ``async``
(``async_wrapper`` daemonizes it, so it outlives the SSH session) and waits with ``wait_for_connection``.

Steps, in order, each journaled on the host before and after (stage ``site_detached``, ``data.steps``), and
each writing the same journal records the connected roles write (``ib_unload``, ``stock_purge@<kernel>``,
``ofed_install``), so resuming, the rollback scope and the fleet report work the same:

``plan``     the plan again from ``/proc/modules`` (nothing changes if it grew, or if a holder is unknown);
             the interfaces whose driver the plan unloads, with their addresses and routes, are recorded
``services`` stop the services that ran, in order
``unload``   unload the plan in order (``_module_ops``, as ``ib_modules`` does); verify nothing is left loaded
             from the stock directories
``purge``    quarantine + manifest + depmod (``_stock_purge``, as ``stock_modules`` does)
``install``  the installer argv ``ofed_installer`` decided, with its log, exit-code meaning (``_installer``)
``load``     the management NIC's driver first, then ``openibd start`` when the install left one
``network``  wait for each recorded address and route to come back on its interface (networkd/ifupdown
             re-configure a re-appearing NIC); when they do not in time, re-add them with ``ip``. Routes of
             the kernel (they come with the address) and of IPv6 router advertisements are not waited for
``verify``   every recorded address and route is back, the NIC drivers are loaded

On a failure the job rolls back by itself what connectivity and the stock kernel need (``rollback``):
restore the quarantine (+ depmod), reload what was loaded before (the NIC drivers first), bring the
addresses back. It journals the failed stage (``failed`` with the error, as the role's rescue does) and
``site_detached`` ``rolled_back`` (or ``failed`` when its own rollback failed), with the step and error. The
controller, connected again, runs ``iser.ofed.rollback`` for the rest (services, masks, packages).

Everything touches the host through ``host``: ``root``, ``check_mode``, ``diff``, ``environ``, ``warn(msg)``,
``which(tool)``, ``run(argv, cwd=None, env=None)`` -> ``(rc, out, err)``, ``read(path)``, ``now()`` (ISO
time), ``sleep(seconds)``, ``clock()`` (monotonic seconds). Tests pass a constructed host.
"""
from __future__ import annotations

import json
import os

from ansible_collections.iser.ofed.plugins.module_utils import _installer as inst
from ansible_collections.iser.ofed.plugins.module_utils import _journal as jn
from ansible_collections.iser.ofed.plugins.module_utils import _module_ops as mo
from ansible_collections.iser.ofed.plugins.module_utils import _quarantine as q
from ansible_collections.iser.ofed.plugins.module_utils import _stock_purge as sp
from ansible_collections.iser.ofed.plugins.module_utils._interlocks import interface_modules
from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import parse_modules_dep
from ansible_collections.iser.ofed.plugins.module_utils._proc_modules import parse_proc_modules
from ansible_collections.iser.ofed.plugins.module_utils._unload_plan import build_unload_plan, read_sys_holders

STAGE = "site_detached"
STEPS = ("plan", "services", "unload", "purge", "install", "load", "network", "verify")
# The journal stage a failed step belongs to (the site playbook's rescue rolls back with its scope).
STEP_STAGE = {"plan": "ib_unload", "services": "ib_unload", "unload": "ib_unload", "purge": "stock_purge",
              "install": "ofed_install", "load": "ofed_install", "network": "ofed_install",
              "verify": "ofed_install"}


class StepError(Exception):
    """A step failed; ``details`` go into the result and the journal."""

    def __init__(self, msg: str, **details):
        super().__init__(msg)
        self.details = details


# ---------------------------------------------------------------------------------------------- host reads

def read_loaded(host) -> list | None:
    text = host.read("/proc/modules")
    return None if text is None else parse_proc_modules(text)[0]


def dep_map_of(host, modules_root: str, kernel: str) -> dict:
    text = host.read(os.path.join(modules_root, kernel, "modules.dep"))
    return parse_modules_dep(text or "")[0]


def ip_json(host, args: list):
    """``ip -j <args>`` parsed, or None."""
    path = host.which("ip")
    if not path:
        return None
    rc, out, _err = host.run([path, "-j"] + args)
    if rc != 0:
        return None
    try:
        return json.loads(out or "[]")
    except ValueError:
        return None


def module_ops(host) -> tuple:
    return host.which, host.run, lambda: read_loaded(host)


# ---------------------------------------------------------------------------------------- pure decisions

def affected_interfaces(root: str, links: list, plan: list) -> list:
    """Interfaces whose driver modules (``_interlocks.interface_modules``: sysfs, lower links, IPoIB) are in
    ``plan``: ``[{ifname, mac, drivers}]`` sorted by name. ``links`` is ``ip -j addr`` (or ``link``) output."""
    found = []
    plan_set = set(plan)
    for link in links or []:
        name = link.get("ifname")
        if not name or name == "lo":
            continue
        mods = interface_modules(root, name)[0]
        hit = sorted(plan_set.intersection(mods))
        if hit:
            found.append({"ifname": name, "mac": link.get("address"), "drivers": hit})
    return sorted(found, key=lambda i: i["ifname"])


def global_addresses(link: dict) -> list:
    """``["10.0.2.15/24", ...]`` of one ``ip -j addr`` entry: scope global, not link-local."""
    return sorted("%s/%s" % (a["local"], a["prefixlen"]) for a in link.get("addr_info") or []
                  if a.get("local") and a.get("scope", "global") == "global")


def route_argv(route: dict, dev: str) -> list:
    """``ip route replace`` argv re-creating one ``ip -j route show dev <dev>`` entry."""
    argv = ["ip"] + (["-6"] if ":" in str(route.get("dst", "")) + str(route.get("gateway", "")) else []) + [
        "route", "replace", route.get("dst", "default")]
    if route.get("gateway"):
        argv += ["via", route["gateway"]]
    argv += ["dev", dev]
    for key, word in (("prefsrc", "src"), ("metric", "metric"), ("scope", "scope"), ("protocol", "proto")):
        if route.get(key) not in (None, "", "global", "boot", "unspec") or (key == "metric" and route.get(key)):
            argv += [word, str(route[key])]
    return argv


def restorable_route(route: dict) -> bool:
    """Routes the job waits for and re-adds: not the kernel's own (they come with the address), not those of
    IPv6 router advertisements (SLAAC brings them back when the router next speaks), not link-local."""
    return route.get("protocol") not in ("kernel", "ra") and not str(route.get("dst", "")).startswith("fe80")


def device_routes(host, dev: str) -> list:
    """``ip -j route show dev <dev>`` of both families."""
    return [r for fam in ([], ["-6"]) for r in (ip_json(host, fam + ["route", "show", "dev", dev]) or [])]


def missing_routes(host, recorded: list, links: list) -> list:
    """``["<dst> dev <dev>"]`` of recorded routes that are not there now."""
    missing = []
    for iface in recorded:
        dev = current_name(iface, links)
        have = {r.get("dst") for r in device_routes(host, dev)}
        missing += ["%s dev %s" % (r.get("dst"), dev) for r in iface.get("routes", []) if r.get("dst") not in have]
    return missing


def missing_addresses(recorded: list, links: list) -> list:
    """``[(iface, address)]`` of recorded interfaces whose global addresses are not on the interface with the
    same MAC (the name may change when the NIC comes back) or, without a MAC, the same name."""
    by_mac = {l.get("address"): l for l in links or [] if l.get("address")}
    by_name = {l.get("ifname"): l for l in links or []}
    missing = []
    for iface in recorded:
        link = by_mac.get(iface.get("mac")) or by_name.get(iface["ifname"])
        have = set(global_addresses(link)) if link else set()
        missing.extend((iface["ifname"], a) for a in iface.get("addresses", []) if a not in have)
    return missing


def current_name(iface: dict, links: list) -> str:
    for link in links or []:
        if iface.get("mac") and link.get("address") == iface["mac"]:
            return link["ifname"]
    return iface["ifname"]


def stock_leftovers(loaded: list, dep_map: dict, stock_dirs: list) -> list:
    """Loaded modules whose ``modules.dep`` path lies under one of ``stock_dirs``."""
    prefixes = tuple(d.rstrip("/") + "/" for d in stock_dirs)
    return sorted(m["name"] for m in loaded or []
                  if (dep_map.get(m["name"]) or {}).get("path", "").startswith(prefixes))


# ------------------------------------------------------------------------------------------------ journal

class Journal:
    """Records in ``<state_dir>/journal.json`` (same format and functions as ``iser.ofed.journal``)."""

    def __init__(self, host, state_dir: str):
        self.host = host
        self.state_dir = state_dir

    def record(self, stage: str, status: str, data: dict, keep_existing: bool = False, reset: bool = False):
        if self.host.check_mode:
            return
        journal = jn.load_journal(self.state_dir)
        new, changed = jn.apply_record(journal, stage, status, data, self.host.now(), keep_existing, reset)
        if changed:
            jn.write_journal(self.state_dir, new)

    def read(self, stage: str) -> dict:
        return jn.load_journal(self.state_dir)["stages"].get(stage) or {}

    def step(self, name: str, status: str, **data):
        """``site_detached``: the step's status (before and after) with its time, in ``data.steps``."""
        if self.host.check_mode:
            return
        steps = list((self.read(STAGE).get("data") or {}).get("steps") or [])
        steps.append(dict(data, step=name, status=status, time=self.host.now()))
        self.record(STAGE, "started", {"step": name, "steps": steps})


# ------------------------------------------------------------------------------------------------- runner

class Transaction:
    """The steps and the self-rollback; ``p`` holds the module's parameters."""

    def __init__(self, host, p: dict):
        self.host = host
        self.p = p
        self.journal = Journal(host, p["state_dir"])
        self.result = {"changed": False, "steps": [], "plan": [], "unloaded": [], "collateral": [],
                       "interfaces": [], "purge": {}, "install": {}, "loaded": [], "network": {},
                       "rolled_back": False}
        self.touched = set()  # what this job changed: services, unload, purge, install

    # -- steps
    def step_plan(self):
        p, host = self.p, self.host
        unload = p["unload"]
        loaded = read_loaded(host)
        if loaded is None:
            raise StepError("/proc/modules cannot be read: modules cannot be managed here")
        dep_map = dep_map_of(host, p["modules_root"], p["kernel"])
        roots = unload.get("roots") or None
        built = build_unload_plan(loaded, dep_map, read_sys_holders(host.root, [m["name"] for m in loaded]), roots)
        extra = sorted(set(built["plan"]) - set(unload["plan"]))
        if extra:
            raise StepError("the unload plan grew since the controller checked it: %s (loaded since?); nothing "
                            "was changed, run again" % ", ".join(extra), plan=built["plan"])
        if built["unknown"]:
            raise StepError("unknown holders of the stack: %s; nothing was changed (see iser.ofed.ib_modules)"
                            % ", ".join(u["name"] for u in built["unknown"]), plan=built["plan"])
        # the controller's order (ib_modules' plan), without what is gone already
        names = {m["name"] for m in loaded}
        self.result["plan"] = [m for m in unload["plan"] if m in names]
        links = ip_json(host, ["addr"]) or []
        ifaces = affected_interfaces(host.root, links, self.result["plan"])
        for iface in ifaces:
            link = next(l for l in links if l.get("ifname") == iface["ifname"])
            iface["addresses"] = global_addresses(link)
            iface["routes"] = [r for r in device_routes(host, iface["ifname"]) if restorable_route(r)]
        self.result["interfaces"] = ifaces
        return {"plan": self.result["plan"], "interfaces": [i["ifname"] for i in ifaces]}

    def step_services(self):
        stopped = []
        for name in self.p["services"]:
            if self.p["services_init"] == "systemd":
                argv = [self.host.which("systemctl") or "systemctl", "stop", name + ".service"]
            else:
                argv = ["/etc/init.d/%s" % name, "stop"]
            rc, out, err = self.host.run(argv)
            self.touched.add("services")
            if rc != 0:
                raise StepError("%s failed (rc=%d): %s" % (" ".join(argv), rc, (err or out).strip()),
                                stopped=stopped)
            stopped.append(name)
        return {"stopped": stopped}

    def step_unload(self):
        p = self.p
        dep_map = dep_map_of(self.host, p["modules_root"], p["kernel"])
        done, collateral = self.result["unloaded"], self.result["collateral"]
        self.touched.add("unload")
        failure = mo.unload_in_order(*module_ops(self.host), self.result["plan"], dep_map, done, collateral)
        if failure:
            raise StepError("failed to unload %s after unloading %s; stopped" % (
                failure["failed_module"], ", ".join(done) or "nothing"), **failure)
        left = stock_leftovers(read_loaded(self.host), dep_map, p["unload"]["stock_dirs"])
        if left:
            raise StepError("still loaded from %s: %s" % (", ".join(p["unload"]["stock_dirs"]), ", ".join(left)))
        prior = (self.journal.read("ib_unload").get("data") or {}).get("unloaded") or []
        self.journal.record("ib_unload", "done", {
            "kernel": p["kernel"], "unloaded": prior + [m for m in done if m not in prior], "unload_skipped": None,
            "detached": True})
        self.result["changed"] = True
        return {"unloaded": done, "collateral": collateral}

    def step_purge(self):
        purge = self.p["purge"]
        if not purge:
            return {"skipped": "no purge asked"}
        stage = "stock_purge@%s" % purge["kernel"]
        prior = self.journal.read(stage)
        status = "done" if prior.get("status") == "done" else "started"
        self.journal.record(stage, status, {"kernel": purge["kernel"], "dirs": purge["dirs"]})
        self.touched.add("purge")
        params = dict(purge, state="quarantined", state_dir=self.p["state_dir"],
                      modules_root=self.p["modules_root"])
        try:
            res = sp.apply(self.host, params)
        except q.QuarantineError as exc:
            raise StepError(str(exc), **{k: v for k, v in exc.details.items() if k != "diff"})
        self.result["purge"] = {k: v for k, v in res.items() if k != "diff"}
        self.journal.record(stage, "done", {k: res[k] for k in ("moved", "kept", "manifest", "dependents",
                                                                "depmod_ran", "initramfs_rebuilt")},
                            keep_existing=True)
        self.result["changed"] = self.result["changed"] or res["changed"]
        return {"moved": res["moved"], "files": res["files"], "depmod_ran": res["depmod_ran"]}

    def step_install(self):
        install = self.p["install"]
        if not install:
            return {"skipped": "the installer is not needed"}
        log = install["log_file"]
        os.makedirs(os.path.dirname(log), mode=0o750, exist_ok=True)
        self.journal.record("ofed_install", "started", {
            "flavor": install["flavor"], "release": install.get("release"), "kernel": install.get("kernel"),
            "bundle_dir": install["bundle_dir"], "conf": install.get("conf"), "cmd": install["cmd"], "log": log,
            "detached": True})
        self.touched.add("install")
        rc, output = inst.run_logged(lambda argv, cwd, env: self.host.run(argv, cwd=cwd, env=env),
                                     install["cmd"], install["bundle_dir"], log, self.host.now())
        explained = inst.explain(install["flavor"], rc, output)
        res = {"cmd": install["cmd"], "rc": rc, "meaning": explained["meaning"], "remedy": explained["remedy"],
               "dependants": explained["dependants"], "log": log, "log_tail": inst.tail(output, 40),
               "installer_logs_dir": inst.logs_dir(output)}
        self.result["changed"] = True
        if rc != 0:
            for path in inst.failed_logs(output):
                text = self.host.read(path)
                if text is not None:
                    res["failed_log"] = {"path": path, "tail": inst.tail(text, 40)}
                    break
            self.result["install"] = res
            raise StepError("%s exited %s: %s. What to do: %s. Full output: %s" % (
                install["cmd"][0], rc, explained["meaning"], explained["remedy"], log), **res)
        res.update(inst.after_install(output))
        self.result["install"] = res
        return {"rc": rc, "log": log}

    def load_nic_drivers(self):
        """The recorded interfaces' drivers (in plan order reversed: lowest first), then what they need."""
        wanted = []
        for name in reversed(self.result["plan"]):
            if any(name in i["drivers"] for i in self.result["interfaces"]):
                wanted.append(name)
        done = []
        failure = mo.load_in_order(*module_ops(self.host), wanted, done)
        self.result["loaded"].extend(done)
        return failure

    def step_load(self):
        failure = self.load_nic_drivers()
        if failure:
            raise StepError("cannot load the management NIC's driver %s again (rc=%s): %s" % (
                failure["failed_module"], failure["rc"], (failure["stderr"] or "").strip()), **failure)
        started = None
        if self.p["install"]:
            for argv, present in ((["systemctl", "start", "openibd.service"], self.unit_exists("openibd.service")),
                                  (["/etc/init.d/openibd", "start"],
                                   self.host.read("/etc/init.d/openibd") is not None)):
                if present:
                    rc, out, err = self.host.run([self.host.which(argv[0]) or argv[0]] + argv[1:])
                    if rc != 0:
                        raise StepError("%s failed (rc=%d): %s" % (" ".join(argv), rc, (err or out).strip()))
                    started = " ".join(argv)
                    break
        return {"loaded": self.result["loaded"], "openibd": started}

    def unit_exists(self, unit: str) -> bool:
        if self.p["services_init"] != "systemd":
            return False
        rc, out, _err = self.host.run([self.host.which("systemctl") or "systemctl", "show", "-p", "LoadState",
                                       "--value", unit])
        return rc == 0 and out.strip() not in ("", "not-found")

    def bring_addresses_back(self) -> dict:
        """Wait for the addresses; re-add them (and the routes) with ``ip`` when they do not come back."""
        deadline = self.host.clock() + self.p["address_timeout"]
        ifaces = self.result["interfaces"]
        links = ip_json(self.host, ["addr"]) or []
        while ((missing_addresses(ifaces, links) or missing_routes(self.host, ifaces, links))
               and self.host.clock() < deadline):
            self.host.sleep(1)
            links = ip_json(self.host, ["addr"]) or []
        missing = missing_addresses(ifaces, links)
        routes_gone = missing_routes(self.host, ifaces, links)
        readded = []
        if missing or routes_gone:
            for iface in self.result["interfaces"]:
                dev = current_name(iface, links)
                argvs = [["ip", "link", "set", dev, "up"]]
                argvs += [["ip", "addr", "replace", a, "dev", dev] for n, a in missing if n == iface["ifname"]]
                argvs += [route_argv(r, dev) for r in iface.get("routes", [])]
                for argv in argvs:
                    rc, _out, err = self.host.run([self.host.which("ip") or "ip"] + argv[1:])
                    readded.append({"cmd": argv, "rc": rc, "stderr": (err or "").strip()})
            links = ip_json(self.host, ["addr"]) or []
        return {"came_back": not (missing or routes_gone), "readded": readded,
                "missing": missing_addresses(ifaces, links),
                "missing_routes": missing_routes(self.host, ifaces, links),
                "ifindex": {i["ifname"]: next((l.get("ifindex") for l in links
                                               if l.get("ifname") == current_name(i, links)), None)
                            for i in self.result["interfaces"]}}

    def step_network(self):
        net = self.bring_addresses_back()
        self.result["network"] = net
        if net["missing"] or net["missing_routes"]:
            raise StepError("the management address(es) or route(s) did not come back: %s" % ", ".join(
                ["%s on %s" % (a, n) for n, a in net["missing"]] + net["missing_routes"]), **net)
        return {"came_back": net["came_back"], "readded": len(net["readded"]), "ifindex": net["ifindex"]}

    def step_verify(self):
        names = mo.loaded_names(lambda: read_loaded(self.host))
        drivers = sorted({d for i in self.result["interfaces"] for d in i["drivers"]} - names)
        if drivers:
            raise StepError("the NIC driver(s) %s are not loaded" % ", ".join(drivers))
        links = ip_json(self.host, ["addr"]) or []
        missing = missing_addresses(self.result["interfaces"], links)
        if missing:
            raise StepError("address(es) missing: %s" % ", ".join("%s on %s" % (a, n) for n, a in missing))
        routes_missing = missing_routes(self.host, self.result["interfaces"], links)
        if routes_missing:
            raise StepError("route(s) missing: %s" % ", ".join(routes_missing))
        return {"interfaces": [i["ifname"] for i in self.result["interfaces"]]}

    # -- self-rollback
    def rollback(self) -> list:
        """Quarantine back (+depmod), modules reloaded (NIC drivers first), addresses back; returns errors."""
        errors = []
        purge = self.p["purge"]
        if "purge" in self.touched and purge:
            params = dict(purge, state="restored", state_dir=self.p["state_dir"],
                          modules_root=self.p["modules_root"], depmod=True)
            try:
                res = sp.apply(self.host, params)
                self.result["rollback_restored"] = res["moved"]
            except q.QuarantineError as exc:
                errors.append("restore of the quarantine: %s" % exc)
        if "unload" in self.touched:
            failure = self.load_nic_drivers()
            if failure:
                errors.append("reload of %s: %s" % (failure["failed_module"], (failure["stderr"] or "").strip()))
            again = []
            failure = mo.load_in_order(*module_ops(self.host), list(reversed(self.result["unloaded"])), again)
            self.result["rollback_reloaded"] = self.result["loaded"] + again
            if failure:
                errors.append("reload of %s: %s" % (failure["failed_module"], (failure["stderr"] or "").strip()))
        if self.result["interfaces"] and "unload" in self.touched:
            net = self.bring_addresses_back()
            self.result["rollback_network"] = net
            if net["missing"] or net["missing_routes"]:
                errors.append("addresses or routes not back: %s" % ", ".join(
                    ["%s on %s" % (a, n) for n, a in net["missing"]] + net["missing_routes"]))
        return errors

    def mark_undone(self, failed_stage: str, step: str) -> None:
        """Stages this job finished and its own rollback undid (the quarantine back, the modules loaded again)
        are no longer done: ``failed`` keeps them open, so the controller's rollback still undoes the rest
        (masks, services) and a resumed run does them again instead of skipping them."""
        stages = []
        if "unload" in self.touched:
            stages.append("ib_unload")
        if "purge" in self.touched and self.p["purge"]:
            stages.append("stock_purge@%s" % self.p["purge"]["kernel"])
        for stage in stages:
            if stage != failed_stage and self.journal.read(stage).get("status") == "done":
                self.journal.record(stage, "failed", {"error": "undone by site_detached's own rollback after step "
                                                               "%s failed" % step})

    # -- the whole job
    def check_plan(self) -> dict:
        """Check mode: what would run, nothing changed."""
        self.step_plan()
        purge = {}
        if self.p["purge"]:
            purge = sp.apply(self.host, dict(self.p["purge"], state="quarantined", state_dir=self.p["state_dir"],
                                             modules_root=self.p["modules_root"]))
            purge.pop("diff", None)
        self.result.update(changed=True, steps=[{"step": s, "status": "planned"} for s in STEPS], purge=purge,
                           install={"cmd": self.p["install"]["cmd"]} if self.p["install"] else {},
                           services=self.p["services"])
        return self.result

    def run(self) -> dict:
        if self.host.check_mode:
            try:
                return self.check_plan()
            except (StepError, q.QuarantineError) as exc:
                self.result.update(failed=True, failed_step="plan", error=str(exc),
                                   msg="the detached transaction would refuse: %s" % exc)
                return self.result
        # the pid lets a later run see that this job still runs (tasks/site_detached_running.yml)
        self.journal.record(STAGE, "started", {"run_id": self.p.get("run_id"), "steps": [], "step": None,
                                               "error": None, "pid": os.getpid()}, reset=True)
        for name in STEPS:
            self.journal.step(name, "started")
            try:
                out = getattr(self, "step_" + name)()
            except (StepError, q.QuarantineError, inst.InstallerError, jn.JournalError, OSError) as exc:
                return self.fail(name, exc)
            self.result["steps"].append(dict(out, step=name, status="done"))
            self.journal.step(name, "done")
        self.journal.record(STAGE, "done", {"step": None})
        self.result["msg"] = "detached transaction done: unloaded %d module(s), %s" % (
            len(self.result["unloaded"]),
            "installer ran" if self.p["install"] else "no installer needed")
        return self.result

    def fail(self, name: str, exc: Exception) -> dict:
        details = getattr(exc, "details", {}) or {}
        error = "%s: %s" % (name, exc)
        self.result["steps"].append({"step": name, "status": "failed", "error": str(exc)})
        self.journal.step(name, "failed", error=str(exc))
        stage = STEP_STAGE[name]
        if stage == "ofed_install" and "install" not in self.touched:
            # no installer ran: the failure belongs to the last stage that changed the host
            stage = "stock_purge" if "purge" in self.touched else "ib_unload"
        if stage == "stock_purge" and self.p["purge"]:
            stage = "stock_purge@%s" % self.p["purge"]["kernel"]
        kernel = self.p["kernel"]
        if stage.startswith("stock_purge"):
            kernel = self.p["purge"]["kernel"]
        elif stage == "ofed_install" and self.p["install"]:
            kernel = self.p["install"].get("kernel") or kernel
        data = {"kernel": kernel, "error": "site_detached " + error}
        if stage == "ofed_install":
            data.update({k: details[k] for k in ("rc", "meaning", "remedy", "log", "log_tail", "failed_log")
                         if k in details})
        if name != "plan":
            self.journal.record(stage, "failed", data)
        changed = bool(self.touched)
        errors = self.rollback() if changed else []
        if changed and not errors:
            self.mark_undone(stage, name)
        self.result.update(failed=True, failed_step=name, failed_stage=stage.split("@")[0], error=str(exc),
                           rolled_back=changed and not errors, rollback_errors=errors, changed=changed,
                           **{k: v for k, v in details.items() if k not in self.result})
        self.journal.record(STAGE, "failed" if errors else ("rolled_back" if changed else "failed"), {
            "step": name, "error": str(exc), "rollback_errors": errors,
            "rolled_back": self.result["rolled_back"]})
        self.result["msg"] = "detached transaction failed in step %s: %s%s" % (
            name, exc, (" ; rolled back by itself: quarantine restored, modules reloaded, addresses back"
                        if self.result["rolled_back"] else
                        ("; its own rollback failed: %s" % "; ".join(errors)) if errors else "; nothing was changed"))
        return self.result
