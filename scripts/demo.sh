#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# make demo: the whole pipeline (playbook iser.ofed.site: preflight -> validate -> build_prereqs -> ib_unload
# -> stock_purge -> ofed_install -> iscsi_scst -> finalize) on a local fleet of podman containers
# (iser-ofed-demo-1..N, image localhost/iser-ofed-debian12-kernel), with the fixture MLNX_OFED 5.0 bundle and
# the fixture SCST source, then the fleet report. Containers run the build machine's kernel and cannot load
# modules: each targets the kernel installed in its image (/lib/modules), the unload is skipped (the journal
# and the summary below say so) and the purge moves that kernel's files, which no running kernel uses.
# `make demo-vm` runs the same on the QEMU VM, where both happen for real.
#
# The site scenario's own inventory variables (molecule/site/molecule.yml) are reused through
# scripts/bench_fleet.py, with MOLECULE_EPHEMERAL_DIRECTORY pointing at the demo's work directory, where the
# fixtures are built as the scenario builds them (tests/fixture_builders). A second `make demo` reuses the containers: a converged run (changed=0).
#
# Environment: DEMO_HOSTS (default 3), ISER_OFED_DEMO_DIR (default .cache/demo: inventory, fixtures, logs),
# ISER_OFED_REPORT_DIR (default reports/). `scripts/demo.sh destroy` removes the demo containers.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
image=localhost/iser-ofed-debian12-kernel:latest
prefix=iser-ofed-demo-
count=${DEMO_HOSTS:-3}
work=${ISER_OFED_DEMO_DIR:-$repo/.cache/demo}
reports=${ISER_OFED_REPORT_DIR:-$repo/reports}

log() { printf '[demo %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[[ $count =~ ^[1-9][0-9]*$ ]] || die "DEMO_HOSTS must be a number of containers (got '$count')"
hosts=()
for ((i = 1; i <= count; i++)); do hosts+=("$prefix$i"); done

if [[ ${1:-} == destroy ]]; then
    mapfile -t existing < <(podman ps -a --filter "name=^$prefix" --format '{{.Names}}')
    for name in "${existing[@]}"; do
        [[ $name == "$prefix"* && $name != "${prefix}vm" ]] && podman rm -f -t 5 "$name" >/dev/null && log "removed $name"
    done
    exit 0
fi

# Tools: the Makefile puts .venv/bin first on PATH; standing alone, use the project's .venv.
if ! command -v ansible-playbook >/dev/null 2>&1 && [ -x "$repo/.venv/bin/ansible-playbook" ]; then
    PATH="$repo/.venv/bin:$PATH"
fi
command -v ansible-playbook >/dev/null 2>&1 || die "ansible-playbook not found: run 'make venv' (or 'make demo')"
python=$(dirname "$(command -v ansible-playbook)")/python
podman image exists "$image" || die "podman image $image is missing: run 'make images'"

# The working tree is the collection iser.ofed (same link as `make collection`).
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$repo/.collections}"
export ANSIBLE_CONFIG="${ANSIBLE_CONFIG:-$repo/ansible.cfg}"
link="$repo/.collections/ansible_collections/iser/ofed"
if [ ! -e "$link" ]; then
    mkdir -p "$(dirname "$link")"
    ln -sfn "$repo" "$link"
fi
mkdir -p "$work" "$reports"
# The site scenario's variables read this one.
export MOLECULE_EPHEMERAL_DIRECTORY=$work
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_FORKS=$((count > 5 ? count : 5))

start=$SECONDS
for name in "${hosts[@]}"; do
    if ! podman container exists "$name"; then
        log "starting container $name ($image)"
        podman run -d --name "$name" --hostname "$name" --systemd=always --label iser.ofed.demo=1 \
            "$image" /sbin/init >/dev/null
    elif [[ $(podman inspect -f '{{.State.Running}}' "$name") != true ]]; then
        log "starting the existing container $name"
        podman start "$name" >/dev/null
    else
        log "reusing the running container $name"
    fi
done
kernel=$(podman exec "${hosts[0]}" ls -1 /lib/modules)
hostargs=()
for name in "${hosts[@]}"; do hostargs+=(--host "$name"); done
"$python" scripts/bench_fleet.py inventory --out "$work/inventory.yml" --kernel "$kernel" \
    --report-dir "$reports" "${hostargs[@]}"

log "waiting for systemd in the containers; building the fixture bundle and SCST source (once)"
for name in "${hosts[@]}"; do
    state=$(podman exec "$name" timeout 120 systemctl is-system-running --wait 2>/dev/null || true)
    [[ $state == running || $state == degraded ]] || die "systemd in $name did not finish booting ($state)"
done
"$python" scripts/bench_fleet.py fixtures

log "ansible-playbook iser.ofed.site on ${#hosts[@]} containers (a canary, then the rest; log: $work/site.log)"
set +e
ansible-playbook -i "$work/inventory.yml" iser.ofed.site -e '{"iser_ofed_site_serial": [1, "100%"]}' \
    2>&1 | tee "$work/site.log" | grep -E --line-buffered '^(PLAY|PLAY RECAP|TASK \[Stage|iser-ofed-demo-[0-9]+ +:)' \
    | sed -u 's/\*\+$//'
rc=${PIPESTATUS[0]}
set -e

md="$reports/site-report.md"
html="$reports/site-report.html"
[[ -s $md && -s $html ]] || die "the site run wrote no $md (rc $rc; log: $work/site.log)"

# What the containers could not do, from each host's own journal.
mkdir -p "$work/journals"
for name in "${hosts[@]}"; do
    podman exec "$name" cat /var/lib/iser-ofed/journal.json >"$work/journals/$name.json" 2>/dev/null \
        || rm -f "$work/journals/$name.json"
done

echo
echo "=================================================================="
cat "$md"
echo
"$python" scripts/bench_fleet.py notes "$work"/journals/*.json || true
echo "=================================================================="
echo "Markdown report:  $md"
echo "HTML report:      $html"
echo "per-host records: $reports/<host>.site.json; full log: $work/site.log"
echo "site run exit status $rc; took $((SECONDS - start))s"
echo
echo "The containers are still running; run 'make demo' again for a converged run (changed=0), or look around:"
echo "    podman exec -it ${hosts[0]} bash      (journal: /var/lib/iser-ofed/journal.json)"
echo "Remove them with:   bash scripts/demo.sh destroy"
exit "$rc"
