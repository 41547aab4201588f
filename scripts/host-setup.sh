#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Prepare a Debian 12 host (as root) to build and run the test bed containers.
#  * installs the packages below with apt-get, only the ones that are missing;
#  * merges into /etc/containers/containers.conf:
#      [engine]     runtime = "runc"        (crun fails on hybrid cgroup hosts)
#      [containers] default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
#                                          (raising rlimits is denied in this sandbox)
# Idempotent: a second run changes nothing.
set -euo pipefail

# podman + runc run the test bed; debootstrap builds its images; dpkg-dev and rpm build and query test
# packages; python3-venv, git, make run the tooling; shellcheck lets ansible-test sanity check shell scripts;
# qemu-system-x86, qemu-utils, e2fsprogs, openssh-client build and reach the real-kernel VM (make vm);
# xorriso writes the ISO images of the fixture bundle the unit tests read (the collection itself reads them with
# the pure-Python pycdlib, no system tool).
PACKAGES=(podman runc debootstrap uidmap slirp4netns fuse-overlayfs dpkg-dev rpm python3-venv git make shellcheck
    qemu-system-x86 qemu-utils e2fsprogs openssh-client xorriso)
CONF=/etc/containers/containers.conf

log() { printf '[host-setup] %s\n' "$*"; }

if [[ $(id -u) -ne 0 ]]; then
    echo "host-setup.sh must run as root (it installs packages and writes $CONF)" >&2
    exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ $status == installed ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    log "packages present: ${PACKAGES[*]}"
fi

# Merge the two settings into containers.conf (TOML). Python's tomllib only reads, so we edit the
# text: replace the key inside its table if present, else add it (and the table if missing).
mkdir -p "$(dirname "$CONF")"
touch "$CONF"
python3 - "$CONF" <<'PY'
import re
import sys

path = sys.argv[1]
wanted = {
    "engine": ("runtime", '"runc"'),
    "containers": ("default_ulimits", '["nofile=1024:1024", "nproc=1000:1000"]'),
}
with open(path, encoding="utf-8") as fh:
    lines = fh.read().splitlines()

def table_bounds(name):
    start = None
    for i, line in enumerate(lines):
        m = re.match(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$", line)
        if m:
            if start is not None:
                return start, i
            if m.group(1).strip() == name:
                start = i
    return (start, len(lines)) if start is not None else (None, None)

changed = False
for table, (key, value) in wanted.items():
    start, end = table_bounds(table)
    entry = f"{key} = {value}"
    if start is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines += [f"[{table}]", entry]
        changed = True
        continue
    for i in range(start + 1, end):
        if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i]):
            if lines[i].strip() != entry:
                lines[i] = entry
                changed = True
            break
    else:
        lines.insert(start + 1, entry)
        changed = True

if changed:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
print(f"[host-setup] {path}: {'updated' if changed else 'already configured'}")
PY

podman --version
podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupsVersion}}' 2>/dev/null \
    | sed 's/^/[host-setup] podman runtime, cgroups: /' || true
