# SPDX-License-Identifier: GPL-3.0-or-later
"""Print, as JSON, what iscsi-scst left on this host, read independently of the collection: the SCST
packages dpkg has installed (dpkg-query), the file the target kernel finds for each module (modinfo -k), every SCST
file (sha256) and directory, DKMS's status of scst. Test tooling of the Molecule scst scenario."""
import hashlib
import json
import os
import shutil
import subprocess


def run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=dict(os.environ, LC_ALL="C"))
    return proc.returncode, proc.stdout


kernel = sorted(os.listdir("/lib/modules"))[0]
state = {"kernel": kernel}
_rc, out = run(["dpkg-query", "-W", "-f=${Package} ${Version} ${db:Status-Abbrev}\n", "scst", "iscsi-scst",
                "scst-dkms"])
# installed ones only: dpkg also lists a package it knows as not installed ("scst  un ", after scst-dkms,
# which conflicts with it, was installed)
state["packages"] = sorted(line for line in out.splitlines() if line.endswith(" ii "))
state["modinfo"] = {}
for mod in ("scst", "iscsi-scst", "isert-scst"):
    rc, out = run(["modinfo", "-k", kernel, "-F", "filename", mod])
    state["modinfo"][mod] = out.strip() if rc == 0 else None
files = {}
for top in ("/lib/modules/" + kernel, "/usr/local", "/usr/src", "/var/lib/dkms", "/usr/sbin", "/var/lib/scst"):
    for root, dirs, names in os.walk(top):
        for name in dirs + names:
            path = os.path.join(root, name)
            if "scst" not in path:
                continue
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as handle:
                    files[path] = hashlib.sha256(handle.read()).hexdigest()
            else:
                files[path] = "dir" if os.path.isdir(path) else "link"
state["files"] = files
state["dkms"] = run(["dkms", "status", "-m", "scst"])[1].splitlines() if shutil.which("dkms") else []
print(json.dumps(state, sort_keys=True))
