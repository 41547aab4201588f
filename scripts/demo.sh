#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# make demo: run the preflight (playbook iser.ofed.preflight) on the local test fleet, the four podman
# containers of the Molecule scenario "default" (no OFED / Debian kernel / MLNX_OFED 5.0 packages /
# broken ofed_info), then print the fleet report. The containers are left running for a look around.
#
# Called by `make demo` after host setup, venv and images; runs alone too (as root, on the test bed).
# ISER_OFED_REPORT_DIR (default: reports/ of this checkout) is where the report goes.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

# Tools: the Makefile puts .venv/bin first on PATH; standing alone, use the project's .venv.
if ! command -v molecule >/dev/null 2>&1 && [ -x "$repo/.venv/bin/molecule" ]; then
    PATH="$repo/.venv/bin:$PATH"
fi
if ! command -v molecule >/dev/null 2>&1; then
    echo "demo: molecule not found: run 'make venv' (or 'make demo', which does it)" >&2
    exit 1
fi
for image in localhost/iser-ofed-debian12:latest localhost/iser-ofed-debian12-kernel:latest; do
    if ! podman image exists "$image"; then
        echo "demo: podman image $image is missing: run 'make images'" >&2
        exit 1
    fi
done

# The working tree is the collection iser.ofed (same link as `make collection`).
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$repo/.collections}"
link="$repo/.collections/ansible_collections/iser/ofed"
if [ ! -e "$link" ]; then
    mkdir -p "$(dirname "$link")"
    ln -sfn "$repo" "$link"
fi
export ISER_OFED_REPORT_DIR="${ISER_OFED_REPORT_DIR:-$repo/reports}"

# create and prepare do nothing when the fleet is already there (Molecule keeps their state), so a
# second `make demo` reuses the containers and only runs the preflight again.
start=$SECONDS
molecule create -s default
molecule prepare -s default
molecule converge -s default

md="$ISER_OFED_REPORT_DIR/fleet-report.md"
html="$ISER_OFED_REPORT_DIR/fleet-report.html"
for f in "$md" "$html"; do
    if [ ! -s "$f" ]; then echo "demo: the preflight wrote no $f" >&2; exit 1; fi
done

echo
echo "=================================================================="
cat "$md"
echo "=================================================================="
echo "HTML report:      $html"
echo "per-host records: $ISER_OFED_REPORT_DIR/<host>.json"
echo "took $((SECONDS - start))s"
echo
echo "The containers are still running; look around with, e.g.:"
echo "    podman exec -it iser-ofed-mofed bash      (iser-ofed-noofed, -kernel, -mofed, -garbage)"
echo "Remove them with:"
echo "    PATH=$(dirname "$(command -v molecule)"):\$PATH molecule destroy -s default"
