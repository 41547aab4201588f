#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# ansible-test sanity on a staged copy of the TRACKED files (git ls-files), as
# <stage>/ansible_collections/iser/ofed, with ansible-core from .venv and `--venv` (no containers).
#
# Offline detail: ansible-test bootstraps pip in its venvs with a get-pip script downloaded from a host
# this machine cannot reach. It first looks for ~/.ansible/test/cache/get_pip_<version>.py (version with
# dots replaced by underscores); we save a stand-in there that runs `python -m ensurepip` and then
# pip-installs the pinned pip version it is given from PyPI. The sanity requirements then come from PyPI.
#
# The ignore files tests/sanity/ignore-*.txt must stay empty (no silenced findings).
# Extra arguments go to ansible-test (e.g. `scripts/sanity.sh --test pep8`).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
ANSIBLE_TEST=$VENV/bin/ansible-test
PYTHON_VERSION=${SANITY_PYTHON:-3.11}
# A fresh stage per run (runs may overlap); removed at exit unless KEEP_STAGE=1.
STAGE_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/iser-ofed-sanity.XXXXXX")
STAGE=$STAGE_ROOT/ansible_collections/iser/ofed
if [[ ${KEEP_STAGE:-0} != 1 ]]; then
    trap 'rm -rf "$STAGE_ROOT"' EXIT
fi

log() { printf '[sanity] %s\n' "$*"; }
die() { printf '[sanity] ERROR: %s\n' "$*" >&2; exit 1; }

[[ -x $ANSIBLE_TEST ]] || die "$ANSIBLE_TEST not found: run 'make venv' first"

# 1. The ignore files must be empty: findings are fixed, not silenced.
shopt -s nullglob
for ignore in "$REPO"/tests/sanity/ignore-*.txt; do
    if grep -qvE '^[[:space:]]*(#.*)?$' "$ignore"; then
        grep -nvE '^[[:space:]]*(#.*)?$' "$ignore" | sed "s|^|  ${ignore#"$REPO"/}:|" >&2
        die "${ignore#"$REPO"/} is not empty: fix the findings instead of ignoring them"
    fi
done
shopt -u nullglob

# ansible-test shares its venvs under ~/.ansible/test/venv: let one run at a time use them.
mkdir -p "$HOME/.ansible/test"
exec 9>"$HOME/.ansible/test/iser-ofed-sanity.lock"
if ! flock -n 9; then
    log "another sanity run holds $HOME/.ansible/test/iser-ofed-sanity.lock; waiting"
    flock 9
fi

# 2. The pip bootstrap stand-in, for every pip version this ansible-test may ask for.
site=$("$VENV/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
mapfile -t pip_versions < <(grep -ohE "pip='[0-9][0-9.]*'" "$site/_internal/python_requirements.py" \
    | grep -oE '[0-9][0-9.]*' | sort -u)
((${#pip_versions[@]})) || die "cannot find the pip version ansible-test bootstraps (in $site)"
cache=$HOME/.ansible/test/cache
mkdir -p "$cache"
for version in "${pip_versions[@]}"; do
    standin=$cache/get_pip_${version//./_}.py
    cat >"$standin.$$" <<'PY'
# Stand-in for ansible-test's get-pip bootstrap script (written by iser.ofed scripts/sanity.sh):
# the original download host is unreachable here. ansible-test runs this file as __main__ inside a
# fresh venv with arguments like: --disable-pip-version-check pip==24.2 --no-setuptools --no-wheel
import subprocess
import sys

options = ("--no-setuptools", "--no-wheel")
args = [a for a in sys.argv[1:] if a not in options]
subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True,
               stdout=subprocess.DEVNULL)
subprocess.run([sys.executable, "-m", "pip", "install", "--quiet"] + args, check=True)
# ensurepip also brings setuptools; remove what get-pip would not have installed.
unwanted = [name for option, name in (("--no-setuptools", "setuptools"), ("--no-wheel", "wheel"))
            if option in sys.argv[1:]]
if unwanted:
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes"] + unwanted,
                   check=False, stderr=subprocess.DEVNULL)
PY
    mv -f "$standin.$$" "$standin"
    log "pip bootstrap stand-in: $standin"
done

# 3. Stage the tracked files (as they are in the work tree) where ansible-test expects a collection.
log "staging tracked files in $STAGE"
mkdir -p "$STAGE"
(cd "$REPO" && git ls-files -z | while IFS= read -r -d '' f; do
    [[ -e $f || -L $f ]] && printf '%s\0' "$f"
done | tar -c --null --no-recursion -T - -f - | tar -x -C "$STAGE" -f -)

# 4. Run it, on the staged copy only (not through the Makefile's .collections link or ansible.cfg).
unset ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS ANSIBLE_CONFIG
cd "$STAGE"
log "ansible-test $("$ANSIBLE_TEST" --version) sanity --venv --python $PYTHON_VERSION $*"
status=0
"$ANSIBLE_TEST" sanity --venv --python "$PYTHON_VERSION" --color no "$@" || status=$?
if ((status)); then
    log "FAILED (exit $status)"
    exit "$status"
fi
log "passed"
