# SPDX-License-Identifier: GPL-3.0-or-later
"""Evidence snapshot of the test-bed VM, run ON the VM by molecule/vm playbooks (ansible.builtin.script).

Writes <evidence dir>/<name>.json with what the kernel and the module tree look like right now, so that
verify (tests/test_vm.py) can compare states taken at different steps. Nothing here decides pass or fail.

  snapshot.py NAME --dirs D [D...] --state-dir DIR [--probe LABEL=ARGV...] [--evidence DIR] [--overwrite]

- loaded: /proc/modules (name -> holders); ib_related: the loaded modules whose file (modules.dep) lies in
  one of --dirs, plus every module that holds ib_core, directly or through another holder;
- files: sha256 of every regular file under /lib/modules/<kver>/<dir> for each --dirs;
- quarantine: sha256 of every file under <state-dir>/quarantine/<kver>/files, and manifest.json as is;
- probes: exit code and output of each command (e.g. modprobe ib_core);
- boot_id (/proc/sys/kernel/random/boot_id: a reboot changes it) and journal (<state-dir>/journal.json as is).
An existing snapshot is kept (so a re-run of a playbook keeps the first run's evidence) unless --overwrite.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree(base: str, rels: list[str]) -> dict:
    out = {}
    for rel in rels:
        top = os.path.join(base, rel)
        for root, _dirs, files in os.walk(top):
            for name in files:
                full = os.path.join(root, name)
                if os.path.isfile(full) and not os.path.islink(full):
                    out[os.path.relpath(full, base)] = sha256(full)
    return out


def proc_modules() -> dict:
    mods = {}
    with open("/proc/modules", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            holders = [h for h in fields[3].split(",") if h and h != "-"]
            mods[fields[0]] = sorted(holders)
    return mods


def module_paths(kver: str) -> dict:
    paths = {}
    try:
        with open("/lib/modules/%s/modules.dep" % kver, encoding="utf-8") as handle:
            for line in handle:
                path = line.split(":", 1)[0]
                name = os.path.basename(path).split(".ko")[0].replace("-", "_")
                paths[name] = path
    except OSError:
        pass
    return paths


def ib_related(loaded: dict, paths: dict, dirs: list[str]) -> list[str]:
    related = {m for m in loaded if any(paths.get(m, "").startswith(d.rstrip("/") + "/") for d in dirs)}
    queue = ["ib_core"] if "ib_core" in loaded else []
    while queue:
        mod = queue.pop()
        related.add(mod)
        queue.extend(h for h in loaded.get(mod, []) if h not in related)
    return sorted(related)


def read_json(path: str):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--dirs", nargs="+", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--probe", action="append", default=[], help="LABEL=command line")
    parser.add_argument("--evidence", default="/root/iser-ofed-evidence")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()

    out_path = os.path.join(args.evidence, args.name + ".json")
    if os.path.exists(out_path) and not args.overwrite:
        print("kept %s" % out_path)
        return 0
    kver = platform.release()
    base = "/lib/modules/" + kver
    loaded = proc_modules()
    qdir = os.path.join(args.state_dir, "quarantine", kver)
    manifest = read_json(os.path.join(qdir, "manifest.json"))
    with open("/proc/sys/kernel/random/boot_id", encoding="utf-8") as handle:
        boot_id = handle.read().strip()
    probes = {}
    for probe in args.probe:
        label, _sep, command = probe.partition("=")
        proc = subprocess.run(shlex.split(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, check=False)
        probes[label] = {"argv": shlex.split(command), "rc": proc.returncode, "output": proc.stdout[-2000:]}
    data = {
        "name": args.name,
        "kernel": kver,
        "dirs": args.dirs,
        "loaded": loaded,
        "ib_related": ib_related(loaded, module_paths(kver), args.dirs),
        "files": tree(base, args.dirs),
        "quarantine_dir": qdir,
        "quarantine": tree(os.path.join(qdir, "files"), args.dirs),
        "manifest": manifest,
        "probes": probes,
        "boot_id": boot_id,
        "journal": read_json(os.path.join(args.state_dir, "journal.json")),
    }
    os.makedirs(args.evidence, exist_ok=True)
    with open(out_path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.rename(out_path + ".tmp", out_path)
    print("wrote %s: %d loaded (%d IB-related), %d stock files, %d quarantined" % (
        out_path, len(loaded), len(data["ib_related"]), len(data["files"]), len(data["quarantine"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
