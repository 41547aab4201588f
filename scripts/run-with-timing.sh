#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Run named steps in order, each with a banner and its duration; print a summary and the total.
# Usage: scripts/run-with-timing.sh "name=command ..." ["name=command ..."]...
# A name starting with "+" marks a prerequisite: when it fails, the remaining steps are skipped.
# A name starting with "&" starts the step in the background (its output goes to a log, printed whole when it
# ends) while the next steps run; a name starting with "@" first waits for every background step. Used for
# the unit tests on ansible-core 2.19, single-threaded for minutes while the other checks run beside them:
# the machine has two cores.
# Every other step runs even when an earlier one failed (so one CI run reports every failure); the script
# fails if any step failed or if the total exceeds MAX_TOTAL_SECONDS (default 4500 s = 75 min; CI stops
# at 90 min). FAIL_FAST=1 stops at the first failure.
set -euo pipefail

MAX_TOTAL_SECONDS=${MAX_TOTAL_SECONDS:-4500}
FAIL_FAST=${FAIL_FAST:-0}
BG_LOG_DIR=$(mktemp -d -t run-with-timing.XXXXXX)
trap 'rm -rf "$BG_LOG_DIR"' EXIT

fmt() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

names=() results=() durations=()
failed=0
total_start=$SECONDS
specs=("$@")
stopped=-1
bg_pids=() bg_names=() bg_starts=() bg_logs=()

banner() {  # banner <name> <cmd> [note]
    printf '\n==================================================================\n'
    printf '== STEP: %s%s\n== $ %s\n== started %(%H:%M:%S)T\n' "$1" "${3:-}" "$2" -1
    printf '==================================================================\n'
}

record() {  # record <name> <result> <seconds>
    names+=("$1") results+=("$2") durations+=("$3")
    [[ $2 == PASS ]] || failed=$((failed + 1))
    printf '== STEP %s: %s in %s\n' "$1" "$2" "$(fmt "$3")"
}

join_background() {
    local i rc result
    for i in "${!bg_pids[@]}"; do
        rc=0
        wait "${bg_pids[i]}" || rc=$?
        printf '\n== output of background step %s (%s):\n' "${bg_names[i]}" "${bg_logs[i]}"
        cat "${bg_logs[i]}"
        result=PASS
        ((rc == 0)) || result="FAIL (exit $rc)"
        record "${bg_names[i]}" "$result" "$(($(cat "${bg_logs[i]}.end") - bg_starts[i]))"
    done
    bg_pids=() bg_names=() bg_starts=() bg_logs=()
}

for idx in "${!specs[@]}"; do
    spec=${specs[idx]}
    name=${spec%%=*}
    cmd=${spec#*=}
    required=0 background=0
    case $name in
        +*) required=1 name=${name#+} ;;
        \&*) background=1 name=${name#&} ;;
        @*) name=${name#@}; join_background ;;
    esac
    if ((background)); then
        banner "$name" "$cmd" " (in the background)"
        log=$BG_LOG_DIR/${#bg_pids[@]}.log
        bg_starts+=("$SECONDS") bg_names+=("$name") bg_logs+=("$log")
        # its end time, written by the step itself, so its duration is its own (not the join's)
        (
            rc=0
            bash -euo pipefail -c "$cmd" >"$log" 2>&1 </dev/null || rc=$?
            echo "$SECONDS" >"$log.end"
            exit "$rc"
        ) &
        bg_pids+=("$!")
        continue
    fi
    banner "$name" "$cmd"
    start=$SECONDS
    if bash -euo pipefail -c "$cmd"; then
        result=PASS
    else
        result="FAIL (exit $?)"
    fi
    record "$name" "$result" "$((SECONDS - start))"
    if [[ $result != PASS ]] && ((required)) || [[ $result != PASS && $FAIL_FAST == 1 ]]; then
        echo "== stopping: step '$name' failed; the remaining steps are skipped" >&2
        stopped=$idx
        break
    fi
done
join_background
total=$((SECONDS - total_start))
if ((stopped >= 0)); then
    for spec in "${specs[@]:stopped+1}"; do
        name=${spec%%=*}
        name=${name#[+&@]}
        names+=("$name") results+=(SKIPPED) durations+=(0)
        failed=$((failed + 1))
    done
fi

printf '\n==================================================================\n== SUMMARY\n'
for i in "${!names[@]}"; do
    printf '==  %-32s %-14s %8s\n' "${names[i]}" "${results[i]}" "$(fmt "${durations[i]}")"
done
printf '==  %-32s %-14s %8s\n' "TOTAL" "" "$(fmt "$total")"
printf '==================================================================\n'

if ((total > MAX_TOTAL_SECONDS)); then
    echo "== FAIL: total $(fmt "$total") exceeds the budget of $(fmt "$MAX_TOTAL_SECONDS")" >&2
    exit 1
fi
if ((failed)); then
    echo "== FAIL: $failed step(s) failed or skipped" >&2
    exit 1
fi
echo "== all ${#names[@]} steps passed"
