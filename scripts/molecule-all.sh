#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Run every Molecule scenario under molecule/ (`make test-molecule`), MOLECULE_JOBS at a time (default 2).
#
# Why in parallel: the `vm` scenario boots a QEMU VM under TCG, mostly the guest's emulated CPU; the container
# scenarios are mostly the controller and podman. Side by side they fill each other's idle gaps: measured
# 2026-12-06, 80 minutes one after the other, 61 two at a time. Both lanes keep the two cores busy, so a
# third lane would not help: only less work does (docs/testbed.md).
#
# Scheduling: longest first (the order in MOLECULE_ORDER, then any other scenario in name order), so `vm`
# starts at once and the container scenarios run in the other lane. Each scenario's output goes to
# $MOLECULE_LOG_DIR/<scenario>.log (default tests/output/molecule); when one ends, its verdict and time are
# printed, with the last lines of its log when it passed and the whole log when it failed. The exit status is
# non-zero when any scenario failed; every scenario runs either way (one CI run reports every failure).
#
# Environment: MOLECULE (the molecule executable, default `molecule`), MOLECULE_JOBS, MOLECULE_SLOW (names to
# leave out, space separated), MOLECULE_ORDER, MOLECULE_LOG_DIR, MOLECULE_TAIL (lines shown for a pass, 25).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

MOLECULE=${MOLECULE:-molecule}
JOBS=${MOLECULE_JOBS:-2}
SLOW=${MOLECULE_SLOW:-}
ORDER=${MOLECULE_ORDER:-vm site scst install repo validate default}
LOG_DIR=${MOLECULE_LOG_DIR:-tests/output/molecule}
TAIL=${MOLECULE_TAIL:-25}

fmt() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
say() { printf '== [%(%H:%M:%S)T] %s\n' -1 "$*"; }

[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "MOLECULE_JOBS must be a positive integer (got '$JOBS')" >&2; exit 2; }

found=()
for f in molecule/*/molecule.yml; do
    [[ -f $f ]] && found+=("$(basename "$(dirname "$f")")")
done
((${#found[@]})) || { echo "no Molecule scenarios under molecule/" >&2; exit 1; }

# The run order: MOLECULE_ORDER's names that exist, then the rest; minus MOLECULE_SLOW.
queue=()
seen=" "
for s in $ORDER "${found[@]}"; do
    [[ " ${found[*]} " == *" $s "* ]] || continue
    [[ $seen == *" $s "* ]] && continue
    seen+="$s "
    if [[ " $SLOW " == *" $s "* ]]; then
        say "molecule scenario $s: left out (MOLECULE_SLOW)"
        continue
    fi
    queue+=("$s")
done
((${#queue[@]})) || { say "every scenario left out"; exit 0; }

mkdir -p "$LOG_DIR"
declare -A pid_of=() started=()
names=() verdicts=() durations=()
failed=0

# Kill the running scenarios' process groups if this script is interrupted (CI timeout, ^C); their
# containers and VMs are then left for `make clean`.
cleanup() {
    local s
    for s in "${!pid_of[@]}"; do kill -TERM -- "-${pid_of[$s]}" 2>/dev/null; done
}
trap 'cleanup; exit 130' INT TERM

start_one() {
    local s=$1 log=$LOG_DIR/$1.log
    say "molecule test -s $s (log: $log)"
    started[$s]=$SECONDS
    # setsid: its own process group, so an interruption can stop it and all it started.
    setsid "$MOLECULE" test -s "$s" >"$log" 2>&1 </dev/null &
    pid_of[$s]=$!
}

finish_one() {
    local s=$1 rc=$2 log=$LOG_DIR/$1.log took
    took=$((SECONDS - started[$s]))
    unset "pid_of[$s]"
    names+=("$s") durations+=("$took")
    if ((rc == 0)); then
        verdicts+=(PASS)
        say "molecule scenario $s passed in ${took}s ($(fmt "$took")); last $TAIL lines of $log:"
        tail -n "$TAIL" "$log" | sed 's/^/   | /'
    else
        verdicts+=("FAIL (exit $rc)")
        failed=$((failed + 1))
        say "molecule scenario $s FAILED (exit $rc) after ${took}s; its whole log ($log):"
        sed 's/^/   | /' "$log"
        say "end of $s's log: scenario $s FAILED (exit $rc)"
    fi
}

next=0
while ((next < ${#queue[@]})) || ((${#pid_of[@]})); do
    while ((next < ${#queue[@]})) && ((${#pid_of[@]} < JOBS)); do
        start_one "${queue[next]}"
        next=$((next + 1))
    done
    # Wait for any one scenario to end (bash 5.1+: -p names the pid that ended).
    ended=
    wait -n -p ended "${pid_of[@]}"
    rc=$?
    for s in "${!pid_of[@]}"; do
        if [[ ${pid_of[$s]} == "$ended" ]]; then
            finish_one "$s" "$rc"
        fi
    done
done

printf '== molecule scenarios (%s at a time):\n' "$JOBS"
for i in "${!names[@]}"; do
    printf '==   %-12s %-14s %8s\n' "${names[i]}" "${verdicts[i]}" "$(fmt "${durations[i]}")"
done
if ((failed)); then
    say "$failed molecule scenario(s) failed"
    exit 1
fi
say "every molecule scenario passed"
