#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# make bench [N=10]: how far a CONVERGED iser.ofed.site run is from Ansible's own floor on the same hosts.
#
# On N fresh podman containers (iser-ofed-bench-1..N, image localhost/iser-ofed-debian12-kernel), in one run:
#   1. the fixture MLNX_OFED bundle is served by a local HTTP server that counts the bytes it sends
#      (bench_fleet.py serve); the fleet gets it by iser_ofed_bundle_url + checksum (validate fetches a URL
#      once into a controller cache, then copies it to each host);
#   2. a first site run installs everything (a canary, then the rest; not part of the ratio);
#   3. `ansible all -m ansible.builtin.ping` (forks N), timed: the floor;
#   4. a second, converged site run (forks N, the playbook's default batches), timed, with the callback
#      plugin scripts/bench_callback/iser_ofed_bench.py counting per host the results that carry a module's
#      invocation (a module really ran) and timing each role, and podman's own event log counting every
#      `podman exec` into each container (each is one round trip: mkdir, module, cleanup...);
#   5. the results (JSON) go to .cache/bench/n<N>/results.json and a Markdown row is printed for docs/bench.md.
# The containers are removed at the end (BENCH_KEEP=1 keeps them). Not a timed test; not part of `make test`.
#
# Environment: BENCH_N (default 10), BENCH_PORT (default 8765), BENCH_SERIAL (JSON list for
# iser_ofed_site_serial of the converged run; default: the playbook's own [1, "25%", "100%"]),
# BENCH_INSTALL_SERIAL (the same for the first run; default [1, "100%"]: a canary, then the rest at once).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
image=localhost/iser-ofed-debian12-kernel:latest
prefix=iser-ofed-bench-
count=${BENCH_N:-10}
port=${BENCH_PORT:-8765}
shared=$repo/.cache/bench
work=$shared/n$count

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

[[ $count =~ ^[1-9][0-9]*$ ]] || die "N (BENCH_N) must be a number of containers (got '$count')"
if ! command -v ansible-playbook >/dev/null 2>&1 && [ -x "$repo/.venv/bin/ansible-playbook" ]; then
    PATH="$repo/.venv/bin:$PATH"
fi
command -v ansible-playbook >/dev/null 2>&1 || die "ansible-playbook not found: run 'make venv'"
python=$(dirname "$(command -v ansible-playbook)")/python
podman image exists "$image" || die "podman image $image is missing: run 'make images'"

export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$repo/.collections}"
export ANSIBLE_CONFIG="${ANSIBLE_CONFIG:-$repo/ansible.cfg}"
link="$repo/.collections/ansible_collections/iser/ofed"
if [ ! -e "$link" ]; then
    mkdir -p "$(dirname "$link")"
    ln -sfn "$repo" "$link"
fi
# Fixtures are built once under .cache/bench (as the site scenario builds them); results per N.
export MOLECULE_EPHEMERAL_DIRECTORY=$shared
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_FORKS=$count
rm -rf "$work"
mkdir -p "$work/www" "$work/controller-cache" "$work/reports"

hosts=()
for ((i = 1; i <= count; i++)); do hosts+=("$prefix$i"); done
server_pid=
cleanup() {
    if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
    if [[ ${BENCH_KEEP:-0} != 1 ]]; then
        for name in "${hosts[@]}"; do podman rm -f -t 5 "$name" >/dev/null 2>&1 || true; done
        log "removed the $count bench containers"
    fi
}
trap cleanup EXIT

log "starting $count fresh containers ${prefix}1..$count"
for name in "${hosts[@]}"; do
    podman rm -f -t 5 "$name" >/dev/null 2>&1 || true
    podman run -d --name "$name" --hostname "$name" --systemd=always --label iser.ofed.bench=1 \
        "$image" /sbin/init >/dev/null
done
kernel=$(podman exec "${hosts[0]}" ls -1 /lib/modules)
hostargs=()
for name in "${hosts[@]}"; do hostargs+=(--host "$name"); done

log "waiting for systemd in the containers; building the fixture bundle and SCST source (once)"
for name in "${hosts[@]}"; do
    state=$(podman exec "$name" timeout 120 systemctl is-system-running --wait 2>/dev/null || true)
    [[ $state == running || $state == degraded ]] || die "systemd in $name did not finish booting ($state)"
done
"$python" scripts/bench_fleet.py fixtures
bundles=("$shared"/bundles/mlnx/MLNX_OFED_LINUX-*-debian12-x86_64.tgz)
bundle=${bundles[0]}
[[ -f $bundle ]] || die "no fixture bundle under $shared/bundles/mlnx"
cp "$bundle" "$work/www/"
bundle_name=$(basename "$bundle")
bundle_bytes=$(stat -c %s "$bundle")
checksum=sha256:$(sha256sum "$bundle" | cut -d' ' -f1)

"$python" scripts/bench_fleet.py serve --dir "$work/www" --port "$port" --log "$work/served.jsonl" \
    >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do
    "$python" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$port" \
        2>/dev/null && break
    sleep 0.2
done

"$python" scripts/bench_fleet.py inventory --out "$work/inventory.yml" --kernel "$kernel" \
    --report-dir "$work/reports" --bundle-url "http://127.0.0.1:$port/$bundle_name" \
    --bundle-checksum "$checksum" --controller-cache "$work/controller-cache" "${hostargs[@]}"

export ANSIBLE_CALLBACK_PLUGINS=$repo/scripts/bench_callback ANSIBLE_CALLBACKS_ENABLED=iser_ofed_bench
serial_args=()
if [[ -n ${BENCH_SERIAL:-} ]]; then serial_args=(-e "{\"iser_ofed_site_serial\": $BENCH_SERIAL}"); fi

log "first site run: installs everything on $count hosts (log: $work/install.log)"
t0=$(date +%s.%N)
ISER_OFED_BENCH_OUT=$work/install-callback.json ansible-playbook -i "$work/inventory.yml" iser.ofed.site \
    -e "{\"iser_ofed_site_serial\": ${BENCH_INSTALL_SERIAL:-[1, \"100%\"]}}" >"$work/install.log" 2>&1 || { tail -40 "$work/install.log" >&2; die "the first site run failed"; }
t1=$(date +%s.%N)
install_seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
"$python" scripts/bench_fleet.py served --log "$work/served.jsonl" >"$work/served-install.json"
log "install run: ${install_seconds}s; served: $(cat "$work/served-install.json")"

log "ping floor: ansible all -m ansible.builtin.ping (forks $count)"
e0=$(date +%s)
sleep 1
p0=$(date +%s.%N)
env -u ANSIBLE_CALLBACKS_ENABLED ansible all -i "$work/inventory.yml" -m ansible.builtin.ping >"$work/ping.log" 2>&1 \
    || { cat "$work/ping.log" >&2; die "ping failed"; }
p1=$(date +%s.%N)
sleep 1
e1=$(date +%s)
ping_seconds=$(awk -v a="$p0" -v b="$p1" 'BEGIN { printf "%.2f", b - a }')
"$python" scripts/bench_fleet.py events --since "$e0" --until "$e1" --prefix "$prefix" >"$work/ping-events.json"

log "converged site run (log: $work/converged.log)"
sleep 1
e2=$(date +%s)
sleep 1
c0=$(date +%s.%N)
ISER_OFED_BENCH_OUT=$work/converged-callback.json ansible-playbook -i "$work/inventory.yml" iser.ofed.site \
    "${serial_args[@]}" >"$work/converged.log" 2>&1 || { tail -40 "$work/converged.log" >&2; die "the converged site run failed"; }
c1=$(date +%s.%N)
sleep 1
e3=$(date +%s)
converged_seconds=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
"$python" scripts/bench_fleet.py events --since "$e2" --until "$e3" --prefix "$prefix" >"$work/converged-events.json"
"$python" scripts/bench_fleet.py served --log "$work/served.jsonl" >"$work/served-total.json"

"$python" - "$work" "$count" "$install_seconds" "$ping_seconds" "$converged_seconds" "$bundle_bytes" \
    "${BENCH_SERIAL:-default [1, \"25%\", \"100%\"]}" <<'PY'
import datetime, json, os, re, subprocess, sys
work, n, install, ping, conv, bundle_bytes, serial = sys.argv[1:]
def load(name):
    with open(os.path.join(work, name), encoding="utf-8") as handle:
        return json.load(handle)
conv_cb, conv_ev, ping_ev = load("converged-callback.json"), load("converged-events.json"), load("ping-events.json")
served_install, served_total = load("served-install.json"), load("served-total.json")
recap = open(os.path.join(work, "converged.log"), encoding="utf-8").read()
changed = sorted(set(int(c) for c in re.findall(r"changed=(\d+)", recap.split("PLAY RECAP")[-1])))
hosts = sorted(conv_cb["hosts"])
mods = [conv_cb["hosts"][h]["modules"] for h in hosts]
# podman's file event log rotates: on a busy machine it may no longer hold the run's events (None: unknown).
execs = [conv_ev.get(h, {}).get("exec", 0) for h in hosts] if conv_ev else [None]
pexecs = [ping_ev.get(h, {}).get("exec", 0) for h in hosts] if ping_ev else [None]
res = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "n": int(n), "serial": serial, "cpus": os.cpu_count(),
    "install_seconds": round(float(install), 1), "ping_seconds": round(float(ping), 1),
    "converged_seconds": round(float(conv), 1), "ratio": round(float(conv) / float(ping), 1),
    "modules_per_host": [min(mods), max(mods)], "podman_exec_per_host": execs, "ping_podman_exec_per_host": pexecs,
    "installer_module_runs": sum(conv_cb["hosts"][h]["by_action"].get("iser.ofed.ofed_installer", 0) for h in hosts),
    "changed_in_converged_run": changed,
    "changed_tasks": sorted({t for h in hosts for t in conv_cb["hosts"][h]["changed"]}),
    "bundle_bytes": int(bundle_bytes), "served_install_run": served_install,
    "served_converged_run_bytes": served_total["bytes"] - served_install["bytes"],
    "roles_seconds": conv_cb["roles"], "slowest_tasks": conv_cb["tasks"][:12],
    "by_action_first_host": conv_cb["hosts"][hosts[0]]["by_action"],
}
with open(os.path.join(work, "results.json"), "w", encoding="utf-8") as handle:
    json.dump(res, handle, indent=2, sort_keys=True)
print(json.dumps(res, indent=2, sort_keys=True))
print()
print("| date | N | converged site | ping | ratio | module runs/host | podman exec/host (ping) | bundle bytes served (install run / converged run) | bundle size |")
print("| %s | %d | %.1f s | %.1f s | %.1fx | %d-%d | %s-%s (%s) | %d / %d | %d |" % (
    res["date"], res["n"], res["converged_seconds"], res["ping_seconds"], res["ratio"], min(mods), max(mods),
    "n/a" if None in execs else min(execs), "n/a" if None in execs else max(execs),
    "n/a" if None in pexecs else max(pexecs), served_install["bytes"], res["served_converged_run_bytes"],
    int(bundle_bytes)))
PY
log "results: $work/results.json"
