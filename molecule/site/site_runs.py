# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side runs of iser.ofed.site for the Molecule site scenario (prepare.yml calls it).

``check``: on the fresh host (nothing staged yet), snapshot the host (file tree with
sizes, modes and mtimes; the package list; the journal; the lock), run ``ansible-playbook --check --diff
iser.ofed.site``, snapshot again, and keep the evidence: rc, output, both snapshots' differences, the report.

``refuse <case>``: a site run with a wrong input of a later stage (REFUSALS): the same snapshots around it, the
journal and the host's report record (it must be refused after validate, before anything destructive).

``interrupt``: start ``ansible-playbook iser.ofed.site`` in its own session, wait until the host's journal shows
the installer's background job, then kill the whole run (SIGKILL to the process group: the controller dies,
the async installer on the host does not) and keep the evidence: the journal and the lock at the kill, the
lock's controller pid (must be the killed ansible-playbook), whether the installer still ran.

Evidence goes to ``<MOLECULE_EPHEMERAL_DIRECTORY>/evidence/<name>.json``; tests/test_site.py reads it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

STATE = "/var/lib/iser-ofed"
# Trees the site run may change on the host (and that check mode must leave alone); /proc, /sys, /run, /tmp,
# the logs and Ansible's own temporary files are left out.
TREES = ["/etc", "/lib/modules", "/usr", "/var/lib", "/opt", "/srv"]
NOISE = ("/var/lib/systemd/", "/var/lib/dpkg/lock", "/var/lib/apt/lists/lock", "/var/lib/apt/lists/partial")


def podman(name: str, *argv: str, check: bool = True) -> str:
    proc = subprocess.run(["podman", "exec", name] + list(argv), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError("podman exec %s %s: rc %d: %s" % (name, " ".join(argv), proc.returncode, proc.stderr))
    return proc.stdout


def snapshot(name: str) -> dict:
    """What check mode must not change: every file's size/mode/mtime under TREES, packages, journal, lock."""
    listing = podman(name, "find", *TREES, "-xdev", "-printf", "%p\t%s\t%m\t%T@\t%l\n", check=False)
    files = {}
    for line in listing.splitlines():
        path, _sep, rest = line.partition("\t")
        if not path.startswith(NOISE):
            files[path] = rest
    return {
        "files": files,
        "packages": podman(name, "dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\n"),
        "journal": podman(name, "cat", STATE + "/journal.json", check=False),
        "lock": podman(name, "cat", STATE + "/site.lock", check=False),
        "quarantine": podman(name, "ls", "-R", STATE + "/quarantine", check=False),
    }


def differences(before: dict, after: dict) -> dict:
    fb, fa = before["files"], after["files"]
    return {
        "added": sorted(set(fa) - set(fb)),
        "removed": sorted(set(fb) - set(fa)),
        "changed": sorted(p for p in set(fa) & set(fb) if fa[p] != fb[p]),
        "packages": before["packages"] != after["packages"],
        "journal": before["journal"] != after["journal"],
        "lock": before["lock"] != after["lock"],
        "quarantine": before["quarantine"] != after["quarantine"],
    }


def playbook(inventory: str, *extra: str) -> list:
    """ansible-playbook of the interpreter running this script (the venv's), else the one on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return [here if os.path.exists(here) else "ansible-playbook", "-i", inventory] + list(extra) + ["iser.ofed.site"]


def write(evidence_dir: str, label: str, data: dict) -> None:
    os.makedirs(evidence_dir, exist_ok=True)
    with open(os.path.join(evidence_dir, label + ".json"), "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)


def check(name: str, inventory: str, evidence_dir: str, report_dir: str) -> int:
    before = snapshot(name)
    start = time.time()
    proc = subprocess.run(playbook(inventory, "--check", "--diff"), capture_output=True, text=True, check=False)
    after = snapshot(name)
    with open(os.path.join(report_dir, name + ".site.json"), encoding="utf-8") as handle:
        record = json.load(handle)
    with open(os.path.join(report_dir, "site-report.md"), encoding="utf-8") as handle:
        markdown = handle.read()
    write(evidence_dir, "check", {"rc": proc.returncode, "seconds": round(time.time() - start),
                                  "output": proc.stdout + proc.stderr, "diff": differences(before, after),
                                  "files": len(before["files"]), "record": record, "markdown": markdown})
    return 0


# Wrong inputs of later stages, each given to one site run: refused right after validate, before ib_unload or
# stock_purge touch the host. package: an ofed.conf key the bundle does not know (ofed_install's own checks);
# argspec: a value finalize's argument spec rejects (finalize runs last, its spec is checked first).
REFUSALS = {
    "package": '{"ofed_install_packages_add": ["bogus-pkg"]}',
    "argspec": '{"finalize_reboot_timeout": "soon"}',
}


def refuse(name: str, inventory: str, evidence_dir: str, report_dir: str, case: str) -> int:
    before = snapshot(name)
    proc = subprocess.run(playbook(inventory, "-e", REFUSALS[case]), capture_output=True, text=True, check=False)
    after = snapshot(name)
    with open(os.path.join(report_dir, name + ".site.json"), encoding="utf-8") as handle:
        record = json.load(handle)
    write(evidence_dir, "refuse-" + case, {"rc": proc.returncode, "output": proc.stdout + proc.stderr,
                                           "diff": differences(before, after), "journal": journal_of(name),
                                           "record": record})
    return 0


def journal_of(name: str) -> dict:
    text = podman(name, "cat", STATE + "/journal.json", check=False)
    try:
        return json.loads(text)
    except ValueError:
        return {}


def interrupt(name: str, inventory: str, evidence_dir: str, timeout: int = 3600) -> int:
    log_path = os.path.join(evidence_dir, "killed-run.log")
    os.makedirs(evidence_dir, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        run = subprocess.Popen(playbook(inventory), stdout=log, stderr=subprocess.STDOUT,  # noqa: S603
                               start_new_session=True)
    deadline = time.time() + timeout
    journal = {}
    while time.time() < deadline and run.poll() is None:
        journal = journal_of(name)
        if journal.get("stages", {}).get("ofed_install", {}).get("data", {}).get("job"):
            break
        time.sleep(0.5)
    if run.poll() is not None:
        print("the site run ended (rc %s) before its installer started: see %s" % (run.returncode, log_path))
        return 1
    if time.time() >= deadline:
        os.killpg(run.pid, signal.SIGKILL)
        print("no installer job in the journal after %d s: see %s" % (timeout, log_path))
        return 1
    lock = json.loads(podman(name, "cat", STATE + "/site.lock"))
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    installer = podman(name, "pgrep", "-f", "mlnxofedinstall", check=False).split()
    write(evidence_dir, "interrupt", {
        "killed_pid": run.pid, "rc": run.returncode, "journal": journal, "lock": lock,
        "installer_pids_after_kill": installer, "journal_after_kill": journal_of(name),
    })
    return 0


def main(argv: list) -> int:
    if len(argv) < 2 or argv[1] not in ("check", "refuse", "interrupt"):
        print("usage: site_runs.py check|refuse|interrupt <container> [package|argspec]", file=sys.stderr)
        return 2
    eph = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    evidence = os.path.join(eph, "evidence")
    if argv[1] == "check":
        return check(argv[2], inventory, evidence, os.path.join(eph, "reports"))
    if argv[1] == "refuse":
        return refuse(argv[2], inventory, evidence, os.path.join(eph, "reports"), argv[3])
    return interrupt(argv[2], inventory, evidence)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
