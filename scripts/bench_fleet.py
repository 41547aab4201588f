# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Inventory and result helper shared by scripts/demo.sh, scripts/demo-vm.sh and scripts/bench.sh.

    bench_fleet.py inventory --out FILE --host NAME [--host NAME ...] [--vm-info JSON] [--bundle-url URL
        --bundle-checksum SUM --controller-cache DIR] [--podman-executable SHIM]
    bench_fleet.py fixtures                                              (build the fixture bundle + SCST source)
    bench_fleet.py podman-calls --log FILE --prefix PREFIX               (podman calls per container, from the shim)
    bench_fleet.py summary --callback JSON --calls JSON                 (one results row, JSON)
    bench_fleet.py notes JOURNAL.json...                                 (what unload/purge did per host)
    bench_fleet.py serve --dir DIR --port PORT --log FILE                (HTTP server counting bytes sent)

The inventory reuses the site scenario's own variables (molecule/site/molecule.yml, group iser_ofed_site):
flavor, version, target kernel read from the container's /lib/modules, the fixture bundle and SCST source
under MOLECULE_EPHEMERAL_DIRECTORY (the callers point it at their work directory), the container-only
settings. Only the connection, the report directory and (for the bench) the bundle source are changed here;
for the VM the container-only settings are dropped: the VM targets its running kernel and unloads for real.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from typing import Any, Dict, List

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SITE_SCENARIO = os.path.join(REPO, "molecule", "site", "molecule.yml")
GROUP = "iser_ofed_site"
# Settings of the site scenario that only make sense in a container (or only in the scenario).
CONTAINER_ONLY = ("iser_ofed_target_kernel", "ib_unload_when_unmanageable", "stock_purge_initramfs")
SCENARIO_ONLY = ("site_evidence",)


def site_vars() -> Dict[str, Any]:
    """The site scenario's group variables for iser_ofed_site."""
    with open(SITE_SCENARIO, encoding="utf-8") as handle:
        scenario = yaml.safe_load(handle)
    try:
        found = scenario["provisioner"]["inventory"]["group_vars"][GROUP]
    except (KeyError, TypeError):
        sys.exit("bench_fleet: %s has no provisioner.inventory.group_vars.%s" % (SITE_SCENARIO, GROUP))
    return {k: v for k, v in found.items() if k not in SCENARIO_ONLY}


def inventory(args: argparse.Namespace) -> Dict[str, Any]:
    group_vars = site_vars()
    hosts: Dict[str, Dict[str, Any]] = {}
    if args.vm_info:
        with open(args.vm_info, encoding="utf-8") as handle:
            info = json.load(handle)
        for key in CONTAINER_ONLY:
            group_vars.pop(key, None)
        group_vars.update({
            "ansible_connection": "ssh",
            "ansible_user": info["user"],
            "ansible_ssh_private_key_file": info["identity_file"],
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            "ansible_ssh_pipelining": True,
            "ansible_python_interpreter": "/usr/bin/python3",
        })
        hosts[args.host[0]] = {"ansible_host": info["address"], "ansible_port": info["port"]}
    else:
        group_vars.update({
            "ansible_connection": "containers.podman.podman",
            "ansible_python_interpreter": "/usr/bin/python3",
        })
        hosts = {name: {} for name in args.host}
        if args.podman_executable:
            group_vars["ansible_podman_executable"] = args.podman_executable
    if args.kernel and not args.vm_info:
        # The scenario reads it with `podman exec` at every templating; the callers read it once.
        group_vars["iser_ofed_target_kernel"] = args.kernel
    if args.report_dir:
        group_vars["iser_ofed_site_report_dir"] = args.report_dir
    if args.bundle_url:
        group_vars.pop("iser_ofed_bundle_path", None)
        group_vars.update({
            "iser_ofed_bundle_url": args.bundle_url,
            "iser_ofed_bundle_checksum": args.bundle_checksum,
            "validate_controller_cache": args.controller_cache,
        })
    return {"all": {"children": {GROUP: {"hosts": hosts, "vars": group_vars}}}}


def _render(value: str, variables: Dict[str, Any]) -> str:
    """Render one of the scenario's variables: its env lookups and references to the other variables."""
    import jinja2  # shipped with ansible-core

    def lookup(kind: str, name: str) -> str:
        if kind not in ("env", "ansible.builtin.env"):
            raise ValueError("bench_fleet: cannot render lookup('%s') in %r" % (kind, value))
        return os.environ.get(name, "")

    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(value).render(
        dict(variables, lookup=lookup)).strip()


def fixtures() -> List[str]:
    """Build the fixture bundle and SCST source where the site scenario's variables put them (once).

    The same builder calls as molecule/site/prepare.yml, whose fixture play cannot be imported alone (the
    scenario's own tests follow it in that playbook).
    """
    variables = site_vars()
    bundle = _render(variables["iser_ofed_bundle_path"], variables)
    source = _render(variables["iscsi_scst_source_path"], variables)
    distro = os.path.basename(bundle).split("-")[-2]  # MLNX_OFED_LINUX-<version>-<distro>-<arch>.tgz
    scst_version = os.path.basename(source)[len("scst-"):-len(".tar.bz2")]
    builders = os.path.join(REPO, "tests", "fixture_builders")
    done = []
    if not os.path.exists(bundle):
        subprocess.run([sys.executable, os.path.join(builders, "build_mlnx_bundle.py"), "--out",
                        os.path.dirname(bundle), "--version", str(variables["iser_ofed_version"]),
                        "--distro", distro], check=True)
        done.append(bundle)
    if not os.path.exists(source):
        subprocess.run([sys.executable, os.path.join(builders, "build_scst_source.py"), "--out",
                        os.path.dirname(source), "--version", scst_version], check=True)
        done.append(source)
    print("fixtures: %s, %s (%s)" % (bundle, source, "built now" if done else "already built"))
    return [bundle, source]


def podman_calls(log_file: str, prefix: str) -> Dict[str, Dict[str, int]]:
    """Per container, the podman calls the connection made, by subcommand (``exec``: one command run in the
    container, a round trip), from the log scripts/bench_podman_shim.sh writes (one argv per line)."""
    counts: Dict[str, Dict[str, int]] = {}
    try:
        with open(log_file, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        words = line.split()
        sub = next((w for w in words if not w.startswith("-")), "")
        name = next((w for w in words if w.startswith(prefix)), None)
        if name is None:
            continue
        per = counts.setdefault(name, {})
        per[sub] = per.get(sub, 0) + 1
    return counts


def notes(journal_files: List[str]) -> List[str]:
    """What each host's journal says the stages a container cannot do for real (unload, purge) really did."""
    lines = ["What unload, purge and finalize really did on each host (its journal, /var/lib/iser-ofed/journal.json):"]
    for path in journal_files:
        host = os.path.basename(path)[:-len(".json")]
        try:
            with open(path, encoding="utf-8") as handle:
                stages = json.load(handle).get("stages", {})
        except (OSError, ValueError) as exc:
            lines.append("- %s: no journal (%s)" % (host, exc))
            continue
        unload = stages.get("ib_unload") or {}
        data = unload.get("data") or {}
        running = data.get("kernel") or (stages.get("finalize") or {}).get("data", {}).get("kernel")
        if not unload:
            lines.append("- %s: ib_unload did not run" % host)
        elif data.get("unload_skipped"):
            lines.append("- %s: ib_unload %s, but NOTHING WAS UNLOADED: %s" % (
                host, unload.get("status"), data["unload_skipped"]))
        else:
            lines.append("- %s: ib_unload %s, unloaded from the running kernel %s: %s" % (
                host, unload.get("status"), running,
                ", ".join(data.get("unloaded") or []) or "nothing (nothing was loaded)"))
        for name in sorted(n for n in stages if n.startswith("stock_purge@")):
            rec = stages[name]
            pdata = rec.get("data") or {}
            kernel = pdata.get("kernel") or name.split("@", 1)[1]
            where = ("the running kernel" if kernel == running else
                     "not the running kernel (%s): no module in use was touched" % running)
            lines.append("- %s: %s %s: %d stock directories of %s moved into the quarantine (%s); initramfs "
                         "rebuilt: %s" % (host, name, rec.get("status"), len(pdata.get("moved") or []), kernel,
                                          where, "yes" if pdata.get("initramfs_rebuilt") else "no"))
        skipped = ((stages.get("finalize") or {}).get("data") or {}).get("services_skipped")
        if skipped:
            lines.append("- %s: finalize started no service: %s" % (host, skipped))
    return lines


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files and logs, per request, the bytes of the body it really wrote to the socket."""

    log_file = ""
    lock = threading.Lock()

    def copyfile(self, source, outputfile):
        sent = 0
        while True:
            chunk = source.read(64 * 1024)
            if not chunk:
                break
            outputfile.write(chunk)
            sent += len(chunk)
        self._sent = sent

    def log_request(self, code="-", size="-"):
        pass

    def do_GET(self):
        self._sent = 0
        try:
            super().do_GET()
        finally:
            with self.lock, open(self.log_file, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"client": self.client_address[0], "path": self.path,
                                         "bytes": self._sent}) + "\n")


def serve(directory: str, port: int, log_file: str) -> None:
    CountingHandler.log_file = log_file
    handler = functools.partial(CountingHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.serve_forever()


def served_bytes(log_file: str) -> Dict[str, int]:
    total = {"requests": 0, "bytes": 0}
    if os.path.exists(log_file):
        with open(log_file, encoding="utf-8") as handle:
            for line in handle:
                rec = json.loads(line)
                total["requests"] += 1
                total["bytes"] += int(rec.get("bytes") or 0)
    return total


def _spread(values: List[int]) -> Dict[str, Any]:
    if not values:
        return {"min": None, "max": None, "mean": None}
    return {"min": min(values), "max": max(values), "mean": round(sum(values) / len(values), 1)}


def summary(callback_file: str, calls_file: str) -> Dict[str, Any]:
    with open(callback_file, encoding="utf-8") as handle:
        cb = json.load(handle)
    with open(calls_file, encoding="utf-8") as handle:
        ev = json.load(handle)
    hosts = sorted(cb.get("hosts", {}))
    return {
        "hosts": len(hosts),
        "modules_per_host": _spread([cb["hosts"][h]["modules"] for h in hosts]),
        "exec_per_host": _spread([ev.get(h, {}).get("exec", 0) for h in hosts]),
        "installer_runs": sum(cb["hosts"][h]["by_action"].get("iser.ofed.ofed_installer", 0) for h in hosts),
        "roles": cb.get("roles", {}),
        "tasks": cb.get("tasks", [])[:10],
        "by_action_first_host": cb["hosts"][hosts[0]]["by_action"] if hosts else {},
    }


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    inv = sub.add_parser("inventory")
    inv.add_argument("--out", required=True)
    inv.add_argument("--host", action="append", required=True)
    inv.add_argument("--vm-info")
    inv.add_argument("--kernel", help="target kernel of the containers (literal)")
    inv.add_argument("--report-dir")
    inv.add_argument("--bundle-url")
    inv.add_argument("--bundle-checksum", default="")
    inv.add_argument("--controller-cache", default="")
    inv.add_argument("--podman-executable", help="the podman the connection runs (bench: the counting shim)")
    ntp = sub.add_parser("notes")
    ntp.add_argument("journal", nargs="*")
    sub.add_parser("fixtures")
    svp = sub.add_parser("serve")
    svp.add_argument("--dir", required=True)
    svp.add_argument("--port", type=int, required=True)
    svp.add_argument("--log", required=True)
    sbp = sub.add_parser("served")
    sbp.add_argument("--log", required=True)
    pcp = sub.add_parser("podman-calls")
    pcp.add_argument("--log", required=True)
    pcp.add_argument("--prefix", required=True)
    smp = sub.add_parser("summary")
    smp.add_argument("--callback", required=True)
    smp.add_argument("--calls", required=True)
    args = parser.parse_args(argv)
    if args.cmd == "inventory":
        data = inventory(args)
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write("# Written by scripts/bench_fleet.py (variables: molecule/site/molecule.yml)\n")
            yaml.safe_dump(data, handle, default_flow_style=False, sort_keys=True, width=120)
    elif args.cmd == "notes":
        print("\n".join(notes(args.journal)))
    elif args.cmd == "fixtures":
        fixtures()
    elif args.cmd == "serve":
        serve(args.dir, args.port, args.log)
    elif args.cmd == "served":
        json.dump(served_bytes(args.log), sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
    elif args.cmd == "podman-calls":
        json.dump(podman_calls(args.log, args.prefix), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        json.dump(summary(args.callback, args.calls), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
