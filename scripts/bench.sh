#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# make bench [N=10]: how far a CONVERGED iser.ofed.site run is from Ansible's own floor on the same hosts.
#
# In one run (docs/bench.md):
#   1. the fixture MLNX_OFED bundle is served by a local HTTP server that counts the bytes it sends
#      (bench_fleet.py serve); the fleet gets it by iser_ofed_bundle_url + checksum (validate fetches a URL
#      once into a controller cache, then copies it to each host);
#   2. ONE fresh container (iser-ofed-bench-1, image localhost/iser-ofed-debian12-kernel) is converged by a
#      real site run (the canary; not part of the ratio), then `podman commit`ted; the other N-1 containers
#      are started from that image: clones of a converged host are converged hosts (installing 40 times on
#      this machine takes hours), and the converged run still reads every host's real state;
#   3. `ansible all -m ansible.builtin.ping` (forks N), timed: the floor;
#   4. the converged site run (forks N, the playbook's default batches), timed, with the callback plugin
#      scripts/bench_callback/iser_ofed_bench.py counting per host the results that carry a module's
#      invocation (a module really ran) and timing each task, and the podman the connection runs being
#      scripts/bench_podman_shim.sh (ansible_podman_executable), which logs every call: `podman exec` per
#      container is one round trip (mkdir, module, cleanup...);
#   5. with BENCH_VALIDATE=1, N more FRESH containers get a run limited to --tags
#      iser_ofed_preflight,iser_ofed_validate with an empty controller cache: the bytes fetched from outside
#      the fleet for N hosts;
#   6. the results (JSON) go to .cache/bench/n<N>/results.json and a Markdown row is printed for docs/bench.md.
# The containers and the committed image are removed at the end (BENCH_KEEP=1 keeps them). Not a timed test;
# not part of `make test`.
#
# Environment: BENCH_N (default 10), BENCH_PORT (default 8765), BENCH_SERIAL (JSON list for
# iser_ofed_site_serial of the converged run; default: the playbook's own [1, "25%", "100%"]),
# BENCH_VALIDATE (1: step 5), BENCH_FAST_PATH (false: the converged run without the fast path).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
image=localhost/iser-ofed-debian12-kernel:latest
converged_image=localhost/iser-ofed-bench-converged:latest
prefix=iser-ofed-bench-
vprefix=iser-ofed-bench-fresh-
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
# systemd in each container takes inotify instances (about 4); at the kernel's default of 128 per user, the
# 30th-odd container's systemd never finishes booting ("Failed to create inotify object: Too many open files").
want_inotify=$((count * (${BENCH_VALIDATE:-0} == 1 ? 2 : 1) * 8 + 256))
have_inotify=$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 0)
((have_inotify >= want_inotify)) || die "fs.inotify.max_user_instances is $have_inotify: $count systemd containers \
need more; as root: sysctl -w fs.inotify.max_user_instances=$want_inotify"

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
fresh=()
if [[ ${BENCH_VALIDATE:-0} == 1 ]]; then for ((i = 1; i <= count; i++)); do fresh+=("$vprefix$i"); done; fi
server_pid=
cleanup() {
    if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
    if [[ ${BENCH_KEEP:-0} != 1 ]]; then
        for name in "${hosts[@]}" "${fresh[@]}"; do podman rm -f -t 5 "$name" >/dev/null 2>&1 || true; done
        podman rmi -f "$converged_image" >/dev/null 2>&1 || true
        log "removed the bench containers and $converged_image"
    fi
}
trap cleanup EXIT

# start_fleet IMAGE NAME...: containers with systemd as PID 1, booted.
start_fleet() {
    local from=$1 name state
    shift
    for name in "$@"; do
        podman rm -f -t 5 "$name" >/dev/null 2>&1 || true
        podman run -d --name "$name" --hostname "$name" --systemd=always --label iser.ofed.bench=1 \
            "$from" /sbin/init >/dev/null
    done
    for name in "$@"; do
        # right after `podman run`, systemctl may not reach systemd yet (no output): ask again
        for _ in $(seq 30); do
            state=$(podman exec "$name" timeout 120 systemctl is-system-running --wait 2>/dev/null || true)
            [[ -z $state ]] || break
            sleep 2
        done
        [[ $state == running || $state == degraded ]] || die "systemd in $name did not finish booting ($state)"
    done
}
hostargs() { local name; for name in "$@"; do printf -- '--host\n%s\n' "$name"; done; }

log "starting the canary ${hosts[0]} (fresh); building the fixture bundle and SCST source (once)"
start_fleet "$image" "${hosts[0]}"
kernel=$(podman exec "${hosts[0]}" ls -1 /lib/modules)
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

# write_inventory FILE NAME...: the site scenario's variables, the bundle by URL, the counting podman.
write_inventory() {
    local out=$1
    shift
    mapfile -t args < <(hostargs "$@")
    "$python" scripts/bench_fleet.py inventory --out "$out" --kernel "$kernel" \
        --report-dir "$work/reports" --bundle-url "http://127.0.0.1:$port/$bundle_name" \
        --bundle-checksum "$checksum" --controller-cache "$work/controller-cache" \
        --podman-executable "$repo/scripts/bench_podman_shim.sh" "${args[@]}"
}
write_inventory "$work/canary.yml" "${hosts[0]}"
write_inventory "$work/inventory.yml" "${hosts[@]}"

export ANSIBLE_CALLBACK_PLUGINS=$repo/scripts/bench_callback ANSIBLE_CALLBACKS_ENABLED=iser_ofed_bench
serial_args=()
if [[ -n ${BENCH_SERIAL:-} ]]; then serial_args=(-e "{\"iser_ofed_site_serial\": $BENCH_SERIAL}"); fi

log "canary site run: installs everything on ${hosts[0]} (log: $work/install.log)"
t0=$(date +%s.%N)
ISER_OFED_BENCH_OUT=$work/install-callback.json ansible-playbook -i "$work/canary.yml" iser.ofed.site \
    >"$work/install.log" 2>&1 || { tail -40 "$work/install.log" >&2; die "the canary site run failed"; }
t1=$(date +%s.%N)
install_seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
"$python" scripts/bench_fleet.py served --log "$work/served.jsonl" >"$work/served-install.json"
log "canary run: ${install_seconds}s; served: $(cat "$work/served-install.json")"

if ((count > 1)); then
    log "podman commit ${hosts[0]} -> $converged_image; starting ${hosts[1]}..${hosts[-1]} from it"
    podman commit -q "${hosts[0]}" "$converged_image" >/dev/null
    start_fleet "$converged_image" "${hosts[@]:1}"
fi

log "ping floor: ansible all -m ansible.builtin.ping (forks $count)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
p0=$(date +%s.%N)
ISER_OFED_BENCH_PODMAN_LOG=$work/ping-podman.log env -u ANSIBLE_CALLBACKS_ENABLED \
    ansible all -i "$work/inventory.yml" -m ansible.builtin.ping >"$work/ping.log" 2>&1 \
    || { cat "$work/ping.log" >&2; die "ping failed"; }
p1=$(date +%s.%N)
ping_seconds=$(awk -v a="$p0" -v b="$p1" 'BEGIN { printf "%.2f", b - a }')
"$python" scripts/bench_fleet.py podman-calls --log "$work/ping-podman.log" --prefix "$prefix" >"$work/ping-calls.json"

if [[ -n ${BENCH_FAST_PATH:-} ]]; then serial_args+=(-e "{\"iser_ofed_site_fast_path\": ${BENCH_FAST_PATH}}"); fi
log "converged site run (log: $work/converged.log)"
c0=$(date +%s.%N)
ISER_OFED_BENCH_PODMAN_LOG=$work/converged-podman.log ISER_OFED_BENCH_OUT=$work/converged-callback.json \
    ansible-playbook -i "$work/inventory.yml" iser.ofed.site \
    "${serial_args[@]}" >"$work/converged.log" 2>&1 || { tail -40 "$work/converged.log" >&2; die "the converged site run failed"; }
c1=$(date +%s.%N)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
converged_seconds=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
"$python" scripts/bench_fleet.py podman-calls --log "$work/converged-podman.log" --prefix "$prefix" \
    >"$work/converged-calls.json"
"$python" scripts/bench_fleet.py served --log "$work/served.jsonl" >"$work/served-total.json"

validate_seconds=0
echo '{"bytes": 0, "requests": 0}' >"$work/served-validate.json"
if ((${#fresh[@]})); then
    log "validate-only run on ${#fresh[@]} fresh containers, empty controller cache (log: $work/validate.log)"
    start_fleet "$image" "${fresh[@]}"
    rm -rf "$work/controller-cache"
    write_inventory "$work/fresh.yml" "${fresh[@]}"
    v0=$(date +%s.%N)
    env -u ANSIBLE_CALLBACKS_ENABLED ansible-playbook -i "$work/fresh.yml" iser.ofed.site \
        --tags iser_ofed_preflight,iser_ofed_validate -e '{"iser_ofed_site_serial": ["100%"]}' \
        >"$work/validate.log" 2>&1 || { tail -40 "$work/validate.log" >&2; die "the validate-only run failed"; }
    v1=$(date +%s.%N)
    validate_seconds=$(awk -v a="$v0" -v b="$v1" 'BEGIN { printf "%.2f", b - a }')
    "$python" scripts/bench_fleet.py served --log "$work/served.jsonl" >"$work/served-now.json"
    "$python" - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
total = json.load(open(os.path.join(work, "served-total.json")))
now = json.load(open(os.path.join(work, "served-now.json")))
json.dump({"bytes": now["bytes"] - total["bytes"], "requests": now["requests"] - total["requests"]},
          open(os.path.join(work, "served-validate.json"), "w"))
PY
fi

"$python" - "$work" "$count" "$install_seconds" "$ping_seconds" "$converged_seconds" "$bundle_bytes" \
    "${BENCH_SERIAL:-default [1, \"25%\", \"100%\"]}" "$load_before" "$load_after" "$validate_seconds" <<'PY'
import datetime, json, os, re, subprocess, sys
work, n, install, ping, conv, bundle_bytes, serial, load_before, load_after, validate = sys.argv[1:]
def load(name):
    with open(os.path.join(work, name), encoding="utf-8") as handle:
        return json.load(handle)
conv_cb, conv_calls, ping_calls = load("converged-callback.json"), load("converged-calls.json"), load("ping-calls.json")
served_install, served_total, served_validate = load("served-install.json"), load("served-total.json"), load("served-validate.json")
recap = open(os.path.join(work, "converged.log"), encoding="utf-8").read()
changed = sorted(set(int(c) for c in re.findall(r"changed=(\d+)", recap.split("PLAY RECAP")[-1])))
hosts = sorted(conv_cb["hosts"])
mods = [conv_cb["hosts"][h]["modules"] for h in hosts]
execs = [conv_calls.get(h, {}).get("exec", 0) for h in hosts]
calls = [sum(conv_calls.get(h, {}).values()) for h in hosts]
pexecs = [ping_calls.get(h, {}).get("exec", 0) for h in hosts]
res = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "n": int(n), "serial": serial, "cpus": os.cpu_count(), "load_before": load_before, "load_after": load_after,
    "canary_install_seconds": round(float(install), 1), "ping_seconds": round(float(ping), 1),
    "converged_seconds": round(float(conv), 1), "ratio": round(float(conv) / float(ping), 1),
    "converged_wall_in_playbook": conv_cb.get("wall_seconds"),
    # ansible-playbook's start (Python, plugins, inventory, playbook parse) before the callback's clock starts
    "startup_seconds": round(float(conv) - conv_cb.get("wall_seconds", 0), 1),
    "pipeline_skipped": "skipping: no hosts matched" in recap,
    "modules_per_host": [min(mods), max(mods)], "podman_exec_per_host": [min(execs), max(execs)],
    "podman_calls_per_host": [min(calls), max(calls)], "ping_podman_exec_per_host": [min(pexecs), max(pexecs)],
    "installer_module_runs": sum(conv_cb["hosts"][h]["by_action"].get("iser.ofed.ofed_installer", 0) for h in hosts),
    "changed_in_converged_run": changed,
    "changed_tasks": sorted({t for h in hosts for t in conv_cb["hosts"][h]["changed"]}),
    "bundle_bytes": int(bundle_bytes), "served_canary_run": served_install,
    "served_converged_run_bytes": served_total["bytes"] - served_install["bytes"],
    "validate_only_fresh_seconds": round(float(validate), 1), "served_validate_only_fresh": served_validate,
    "roles_seconds": conv_cb["roles"], "slowest_tasks": conv_cb["tasks"][:12],
    "by_action_first_host": conv_cb["hosts"][hosts[0]]["by_action"],
}
with open(os.path.join(work, "results.json"), "w", encoding="utf-8") as handle:
    json.dump(res, handle, indent=2, sort_keys=True)
print(json.dumps(res, indent=2, sort_keys=True))
print()
print("| date | N | load | converged site | ping | ratio | module runs/host | podman exec/host (ping) | bundle bytes served: canary / converged / validate-only on N fresh | bundle size |")
print("| %s | %d | %s | %.1f s | %.1f s | %.1fx | %d-%d | %d-%d (%d) | %d / %d / %s | %d |" % (
    res["date"], res["n"], load_before.split()[0], res["converged_seconds"], res["ping_seconds"], res["ratio"],
    min(mods), max(mods), min(execs), max(execs), max(pexecs), served_install["bytes"],
    res["served_converged_run_bytes"],
    ("%d (%d requests)" % (served_validate["bytes"], served_validate["requests"])) if float(validate) else "-",
    int(bundle_bytes)))
PY
log "results: $work/results.json"
