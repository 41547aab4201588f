# SPDX-License-Identifier: GPL-3.0-or-later
# iser.ofed developer and CI entry points. Run as root on Debian 12 (podman, debootstrap).
#   make demo    build the test bed and run the whole pipeline (iser.ofed.site) on local containers
#   make test    everything CI runs (lint, sanity, unit 2.18 + 2.19, argspecs, AWX/EE, Molecule), timed
# See `make help` for the rest.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
VENV218 := $(CURDIR)/.venv-2.18
VENVAWX := $(CURDIR)/.venv-awx
COLLECTION_LINK := $(CURDIR)/.collections/ansible_collections/iser/ofed

# Every target sees the collection as iser.ofed (through the symlink below) and the venv's tools first;
# collections shipped by the `ansible` package (containers.podman, community.general) are found in the
# venv's site-packages because ansible-core scans sys.path for ansible_collections.
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(VENV)/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PYTHONDONTWRITEBYTECODE := 1

# Molecule scenario for `make test-scenario S=<name>`.
S ?= default

.PHONY: test-vm help demo demo-vm bench test test-unit test-unit-2.19 test-unit-2.18 test-molecule test-scenario lint sanity \
	argspecs images host-setup venv venv-2.18 venv-awx test-awx collection clean clean-images vm

help:  ## list the targets
	@grep -E '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

host-setup:  ## install podman, runc, debootstrap... (apt, only if missing); configure containers.conf
	bash scripts/host-setup.sh

venv: $(VENV)/.installed  ## .venv: pinned ansible-core 2.19, ansible, molecule, ansible-lint, pytest

$(VENV)/.installed: requirements/dev.txt
	@echo "== creating $(VENV) (requirements/dev.txt)"
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: run 'make host-setup' (python3-venv)" >&2; exit 1; }
	$(VENV)/bin/python -m pip install -q -r requirements/dev.txt
	touch $@

venv-2.18: $(VENV218)/.installed  ## .venv-2.18: pinned ansible-core 2.18 + pytest (unit tests)

$(VENV218)/.installed: requirements/unit-2.18.txt
	@echo "== creating $(VENV218) (requirements/unit-2.18.txt)"
	rm -rf $(VENV218)
	$(PYTHON) -m venv $(VENV218) || { echo "python3 -m venv failed: run 'make host-setup' (python3-venv)" >&2; exit 1; }
	$(VENV218)/bin/python -m pip install -q -r requirements/unit-2.18.txt
	touch $@

venv-awx: $(VENVAWX)/.installed  ## .venv-awx: pinned ansible-builder + ansible-core 2.19 + pytest (AWX/EE tests)

$(VENVAWX)/.installed: requirements/awx.txt
	@echo "== creating $(VENVAWX) (requirements/awx.txt)"
	rm -rf $(VENVAWX)
	$(PYTHON) -m venv $(VENVAWX) || { echo "python3 -m venv failed: run 'make host-setup' (python3-venv)" >&2; exit 1; }
	$(VENVAWX)/bin/python -m pip install -q -r requirements/awx.txt
	touch $@

test-awx: venv-awx collection  ## AWX project: ansible-builder create accepts awx/execution-environment.yml (tests/awx)
	$(VENVAWX)/bin/python -m pytest tests/awx -q -p no:cacheprovider

collection:  ## link .collections/ansible_collections/iser/ofed -> this checkout
	@mkdir -p $(dir $(COLLECTION_LINK))
	@if [ -e "$(COLLECTION_LINK)" ] && [ ! -L "$(COLLECTION_LINK)" ]; then \
		echo "$(COLLECTION_LINK) exists and is not a symlink; remove it" >&2; exit 1; fi
	@[ "$$(readlink $(COLLECTION_LINK))" = "$(CURDIR)" ] || ln -sfn $(CURDIR) $(COLLECTION_LINK)

images: host-setup  ## build the podman base images (cached by recipe hash)
	bash scripts/build-images.sh all

demo: host-setup venv images collection  ## the site playbook on 3 local containers; prints the fleet report (docs/demo.md)
	bash scripts/demo.sh

demo-vm: host-setup venv images vm collection  ## the same site run on the QEMU VM: unload and purge for real (docs/demo.md)
	bash scripts/demo-vm.sh

# Containers for `make bench` (docs/bench.md): make bench N=40.
N ?= 10

bench: venv images collection  ## converged site run vs ping on N containers (N=10), round trips, bundle bytes (docs/bench.md)
	BENCH_N=$(N) bash scripts/bench.sh

# The unit tests on 2.19 (about 5 minutes, one core) run in the background beside lint, sanity, the 2.18 unit
# tests, the argument-spec check and the AWX tests; Molecule waits for them (scripts/run-with-timing.sh: & and @).
test:  ## everything CI runs (host setup, venvs and images first), with step timings
	bash scripts/run-with-timing.sh \
		"+host setup=$(MAKE) --no-print-directory host-setup" \
		"+venvs=$(MAKE) --no-print-directory venv venv-2.18 venv-awx collection" \
		"+images=$(MAKE) --no-print-directory images" \
		"+test bed VM disk=$(MAKE) --no-print-directory vm" \
		"&unit (ansible-core 2.19)=$(MAKE) --no-print-directory test-unit-2.19" \
		"lint=$(MAKE) --no-print-directory lint" \
		"sanity=$(MAKE) --no-print-directory sanity" \
		"unit (ansible-core 2.18)=$(MAKE) --no-print-directory test-unit-2.18" \
		"argument specs vs defaults=$(MAKE) --no-print-directory argspecs" \
		"AWX project and execution environment=$(MAKE) --no-print-directory test-awx" \
		"@molecule=$(MAKE) --no-print-directory test-molecule"

test-unit: test-unit-2.19 test-unit-2.18  ## pytest unit tests on ansible-core 2.19 and 2.18

test-unit-2.19: venv collection
	$(VENV)/bin/python -m pytest tests/unit -q -p no:cacheprovider

# The fixture builders' contract tests (tests/unit/fixture_builders: podman, dpkg, kbuild) import nothing from
# Ansible, so the ansible-core version cannot change their outcome: the 2.19 run has them, the 2.18 run leaves
# them out (several minutes of containers saved). tests/unit/roles/test_site_fast_path.py runs the whole site
# playbook, which needs community.general (the `ansible` package): .venv-2.18 has ansible-core only.
test-unit-2.18: venv-2.18 collection
	$(VENV218)/bin/python -m pytest tests/unit -q -p no:cacheprovider --ignore=tests/unit/fixture_builders \
		--ignore=tests/unit/roles/test_site_fast_path.py

argspecs: venv  ## roles/*/meta/argument_specs.yml agree with roles/*/defaults/main.yml
	$(VENV)/bin/python scripts/check_argspecs.py

lint: venv collection  ## ansible-lint (production profile, offline)
	$(VENV)/bin/ansible-lint --version
	$(VENV)/bin/ansible-lint
	@echo "== vermin: code that runs on targets must work on Python 3.9"
	$(VENV)/bin/vermin -t=3.9- --violations --no-tips plugins/modules plugins/module_utils

sanity: venv  ## ansible-test sanity on a staged copy of the tracked files
	bash scripts/sanity.sh

# Scenarios to leave out of `make test-molecule`, e.g. `make test MOLECULE_SLOW=vm` for a fast loop: `vm` boots
# a QEMU VM under TCG (no nested KVM here) and takes about 30 minutes alone, 50 beside the container scenarios
# (docs/testbed.md). CI runs them all, MOLECULE_JOBS at a time: `vm` in one lane, the container scenarios in
# the other (scripts/molecule-all.sh).
MOLECULE_SLOW ?=
MOLECULE_JOBS ?= 2

test-molecule: venv images vm collection  ## every Molecule scenario under molecule/ (but MOLECULE_SLOW), 2 at a time
	MOLECULE=$(VENV)/bin/molecule MOLECULE_SLOW="$(MOLECULE_SLOW)" MOLECULE_JOBS=$(MOLECULE_JOBS) \
		bash scripts/molecule-all.sh

test-vm: venv vm collection  ## the real-kernel scenario on the QEMU VM (about 30 minutes under TCG; VM_DETACH_CASES="auto fail": 43)
	$(VENV)/bin/molecule test -s vm

test-scenario: venv images collection  ## one Molecule scenario: make test-scenario S=<name>
	$(VENV)/bin/molecule test -s $(S)

vm: images  ## the real-kernel test-bed VM disk (scripts/build-vm.sh, cached by recipe hash; docs/testbed.md)
	bash scripts/build-vm.sh

clean:  ## remove the demo/test containers, venvs, the collections link, caches, reports and test output
	-bash scripts/demo.sh destroy
	-bash scripts/demo-vm.sh stop
	-@if [ -x $(VENV)/bin/molecule ]; then for f in molecule/*/molecule.yml; do \
		$(VENV)/bin/molecule destroy -s "$$(basename "$$(dirname "$$f")")" || true; done; fi
	rm -rf $(VENV) $(VENV218) $(VENVAWX) .collections .cache tests/output .pytest_cache reports iser-ofed-reports
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

clean-images:  ## remove the test bed images (next `make images` rebuilds them)
	-podman rmi localhost/iser-ofed-debian12-kernel:latest localhost/iser-ofed-debian12:latest
