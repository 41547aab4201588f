# SPDX-License-Identifier: GPL-3.0-or-later
"""Evidence snapshot of an install-scenario container, run ON the container (ansible.builtin.script).

Writes <evidence dir>/<name>.json with what the host looks like right now, read with the system's own tools,
so that verify (tests/test_install.py) can compare states taken at different steps. Nothing here decides
pass or fail.

  evidence.py NAME --evidence DIR --kernel KVER --state-dir DIR [--dirs D...] [--dpkg P...] [--rpm P...]

- dpkg: for each --dpkg package, `dpkg-query -W -f '${db:Status-Abbrev}'` exit code and output;
- rpm: for each --rpm package, `rpm -q` exit code and output;
- paths: whether /usr/bin/ofed_info, /usr/sbin/ofed_uninstall.sh, /etc/infiniband/info exist;
- files: sha256 of every regular file under /lib/modules/<kver>/<dir> for each --dirs;
- updates: files under /lib/modules/<kver>/updates (where OFED puts its modules);
- quarantine: files under <state-dir>/quarantine/<kver>; journal: <state-dir>/journal.json as is.
An existing snapshot is kept (a re-run keeps the first run's evidence).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys

PATHS = ("/usr/bin/ofed_info", "/usr/sbin/ofed_uninstall.sh", "/etc/infiniband/info")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree(base, rels):
    out = {}
    for rel in rels:
        for root, _dirs, files in os.walk(os.path.join(base, rel)):
            for name in files:
                full = os.path.join(root, name)
                if os.path.isfile(full) and not os.path.islink(full):
                    out[os.path.relpath(full, base)] = sha256(full)
    return out


def listing(top):
    return sorted(os.path.relpath(os.path.join(root, name), top)
                  for root, _dirs, files in os.walk(top) for name in files)


def run(argv):
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                              env=dict(os.environ, LC_ALL="C"))
    except FileNotFoundError as exc:
        return {"rc": 127, "out": str(exc)}
    return {"rc": proc.returncode, "out": (proc.stdout + proc.stderr).strip()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--evidence", required=True)
    parser.add_argument("--kernel", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--dirs", nargs="*", default=[])
    parser.add_argument("--dpkg", nargs="*", default=[])
    parser.add_argument("--rpm", nargs="*", default=[])
    args = parser.parse_args()
    dest = os.path.join(args.evidence, args.name + ".json")
    if os.path.exists(dest):
        return 0
    modules = os.path.join("/lib/modules", args.kernel)
    journal_path = os.path.join(args.state_dir, "journal.json")
    journal = None
    if os.path.exists(journal_path):
        with open(journal_path, encoding="utf-8") as handle:
            journal = json.load(handle)
    snap = {
        "name": args.name,
        "dpkg": {p: run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", p]) for p in args.dpkg},
        "rpm": {p: run(["rpm", "-q", p]) for p in args.rpm},
        "paths": {p: os.path.exists(p) for p in PATHS},
        "files": tree(modules, args.dirs),
        "updates": listing(os.path.join(modules, "updates")),
        "quarantine": listing(os.path.join(args.state_dir, "quarantine", args.kernel)),
        "journal": journal,
    }
    os.makedirs(args.evidence, exist_ok=True)
    with open(dest + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(snap, handle, indent=1, sort_keys=True)
    os.replace(dest + ".tmp", dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
