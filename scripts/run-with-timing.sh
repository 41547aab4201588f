#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Run named steps in order, each with a banner and its duration; print a summary and the total.
# Usage: scripts/run-with-timing.sh "name=command ..." ["name=command ..."]...
# A name starting with "+" marks a prerequisite: when it fails, the remaining steps are skipped.
# Every other step runs even when an earlier one failed (so one CI run reports every failure); the script
# fails if any step failed or if the total exceeds MAX_TOTAL_SECONDS (default 4500 s = 75 min; CI stops
# at 90 min). FAIL_FAST=1 stops at the first failure.
set -euo pipefail

MAX_TOTAL_SECONDS=${MAX_TOTAL_SECONDS:-4500}
FAIL_FAST=${FAIL_FAST:-0}

fmt() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

names=() results=() durations=()
failed=0
total_start=$SECONDS
specs=("$@")
stopped=-1
for idx in "${!specs[@]}"; do
    spec=${specs[idx]}
    name=${spec%%=*}
    cmd=${spec#*=}
    required=0
    if [[ $name == +* ]]; then
        required=1
        name=${name#+}
    fi
    printf '\n==================================================================\n'
    printf '== STEP: %s\n== $ %s\n== started %(%H:%M:%S)T\n' "$name" "$cmd" -1
    printf '==================================================================\n'
    start=$SECONDS
    if bash -euo pipefail -c "$cmd"; then
        result=PASS
    else
        result="FAIL (exit $?)"
        failed=$((failed + 1))
    fi
    took=$((SECONDS - start))
    names+=("$name") results+=("$result") durations+=("$took")
    printf '== STEP %s: %s in %s\n' "$name" "$result" "$(fmt "$took")"
    if [[ $result != PASS ]] && ((required)) || [[ $result != PASS && $FAIL_FAST == 1 ]]; then
        echo "== stopping: step '$name' failed; the remaining steps are skipped" >&2
        stopped=$idx
        break
    fi
done
total=$((SECONDS - total_start))
if ((stopped >= 0)); then
    for spec in "${specs[@]:stopped+1}"; do
        name=${spec%%=*}
        names+=("${name#+}") results+=(SKIPPED) durations+=(0)
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
