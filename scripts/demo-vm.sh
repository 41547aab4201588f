#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# make demo-vm: the same iser.ofed.site run as `make demo`, on the real-kernel QEMU VM (scripts/vm.sh start
# iser-ofed-demo-vm; disk from `make vm`, docs/testbed.md), where the stages containers cannot do happen for
# real: the soft-RoCE stack (rdma_rxe, ib_isert, ib_ipoib and what they pull in) is loaded first, then
# ib_unload unloads it, stock_purge moves the running kernel's stock RDMA modules into the quarantine (and
# rebuilds the initramfs), ofed_install installs the fixture MLNX_OFED 5.0 bundle, iscsi_scst builds the
# fixture SCST source, finalize re-enables the auto-load. The VM targets its running kernel.
#
# Same inventory variables and fixture builds as `make demo` (molecule/site's, through bench_fleet.py; the
# container-only settings dropped). The VM's 4 GB disk has about 2.6 GB free, less than validate's default
# 3 GB per directory for a real MLNX_OFED bundle: the fixture bundle is tiny, so validate_min_free_mb=512.
# Under TCG (no nested KVM here) every task costs seconds: expect 20-40 min.
# The VM is left running (a converged re-run: `bash scripts/demo-vm.sh` again); `scripts/vm.sh stop
# iser-ofed-demo-vm` removes it and everything done in it (`bash scripts/demo-vm.sh stop` does the same).
#
# Environment: ISER_OFED_DEMO_DIR (default .cache/demo-vm), ISER_OFED_REPORT_DIR (default reports/vm).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
vm=iser-ofed-demo-vm
work=${ISER_OFED_DEMO_DIR:-$repo/.cache/demo-vm}
reports=${ISER_OFED_REPORT_DIR:-$repo/reports/vm}

log() { printf '[demo-vm %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { printf 'demo-vm: %s\n' "$*" >&2; exit 1; }

if [[ ${1:-} == stop ]]; then
    exec bash scripts/vm.sh stop "$vm"
fi

if ! command -v ansible-playbook >/dev/null 2>&1 && [ -x "$repo/.venv/bin/ansible-playbook" ]; then
    PATH="$repo/.venv/bin:$PATH"
fi
command -v ansible-playbook >/dev/null 2>&1 || die "ansible-playbook not found: run 'make venv' (or 'make demo-vm')"
python=$(dirname "$(command -v ansible-playbook)")/python

export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$repo/.collections}"
export ANSIBLE_CONFIG="${ANSIBLE_CONFIG:-$repo/ansible.cfg}"
link="$repo/.collections/ansible_collections/iser/ofed"
if [ ! -e "$link" ]; then
    mkdir -p "$(dirname "$link")"
    ln -sfn "$repo" "$link"
fi
mkdir -p "$work" "$reports"
export MOLECULE_EPHEMERAL_DIRECTORY=$work
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_TIMEOUT=60

start=$SECONDS
bash scripts/vm.sh start "$vm"
bash scripts/vm.sh info "$vm" >"$work/vm-info.json"
"$python" scripts/bench_fleet.py inventory --out "$work/inventory.yml" --vm-info "$work/vm-info.json" \
    --report-dir "$reports" --host "$vm"

log "waiting for systemd in the VM; building the fixture bundle and SCST source (once)"
state=$(bash scripts/vm.sh ssh "$vm" timeout 300 systemctl is-system-running --wait 2>/dev/null || true)
[[ $state == running || $state == degraded ]] || die "systemd in $vm did not finish booting ($state)"
"$python" scripts/bench_fleet.py fixtures

# Something real to unload: the soft-RoCE stack on eth0, as the Molecule vm scenario loads it. The initramfs
# is built with MODULES=dep (the image's MODULES=most takes about 8 minutes per rebuild under TCG).
cat >"$work/load-rdma.yml" <<'YML'
---
- name: Load the soft-RoCE stack on the VM (skipped once the site run finished)
  hosts: all
  gather_facts: false
  tasks:
    # The disk's /etc/resolv.conf is empty (no resolver package in the image): apt-get in build_prereqs needs
    # a name server; QEMU's user network offers one at 10.0.2.3.
    - name: Give the VM QEMU's name server
      ansible.builtin.lineinfile:
        path: /etc/resolv.conf
        line: nameserver 10.0.2.3

    - name: Read the journal
      ansible.builtin.slurp:
        src: /var/lib/iser-ofed/journal.json
      register: __journal
      failed_when: false

    - name: Load and link the stack
      when: >-
        __journal.content is not defined
        or (__journal.content | b64decode | from_json).stages.finalize.status | default('') != 'done'
      block:
        - name: Rebuild initramfs images with MODULES=dep
          ansible.builtin.lineinfile:
            path: /etc/initramfs-tools/initramfs.conf
            regexp: '^MODULES='
            line: MODULES=dep

        - name: Load rdma_rxe, ib_isert, ib_ipoib (and what they need)
          ansible.builtin.command:
            argv: [modprobe, -a, rdma_rxe, ib_isert, ib_ipoib]
          changed_when: true

        - name: Add the soft-RoCE link rxe0 on eth0
          ansible.builtin.shell: rdma link show rxe0/1 >/dev/null 2>&1 || rdma link add rxe0 type rxe netdev eth0
          changed_when: true

    - name: Show what is loaded
      ansible.builtin.shell: grep -E '^(ib_|rdma_|rdma_rxe|iw_|mlx)' /proc/modules | cut -d' ' -f1,4 | sort
      register: __loaded
      changed_when: false

    - name: Loaded RDMA modules before the site run
      ansible.builtin.debug:
        var: __loaded.stdout_lines
YML
ansible-playbook -i "$work/inventory.yml" "$work/load-rdma.yml" 2>&1 | tee "$work/load.log" | sed -n '/Loaded RDMA/,/^$/p'
[[ ${PIPESTATUS[0]} == 0 ]] || die "loading the soft-RoCE stack failed (log: $work/load.log)"

log "ansible-playbook iser.ofed.site on $vm (log: $work/site.log)"
set +e
ansible-playbook -i "$work/inventory.yml" iser.ofed.site -e validate_min_free_mb=512 2>&1 | tee "$work/site.log" \
    | grep -E --line-buffered '^(PLAY|TASK \[Stage|iser-ofed-demo-vm +:)' | sed -u 's/\*\+$//'
rc=${PIPESTATUS[0]}
set -e

md="$reports/site-report.md"
[[ -s $md ]] || die "the site run wrote no $md (rc $rc; log: $work/site.log)"
mkdir -p "$work/journals"
bash scripts/vm.sh ssh "$vm" cat /var/lib/iser-ofed/journal.json >"$work/journals/$vm.json" 2>/dev/null \
    || rm -f "$work/journals/$vm.json"
echo "== after the site run, in the VM:" | tee "$work/after.txt"
bash scripts/vm.sh ssh "$vm" bash -s >>"$work/after.txt" 2>&1 <<'SH' || true
echo "loaded RDMA/SCST modules: $(grep -E '^(ib_|rdma_|iw_|mlx|scst|iscsi_scst|isert)' /proc/modules | cut -d' ' -f1 | sort | tr '\n' ' ')"
echo "ofed_info -s: $(ofed_info -s 2>&1)"
for m in ib_core mlx5_core mlx5_ib rdma_rxe ib_isert scst iscsi_scst isert_scst; do
    echo "modinfo -F filename $m: $(modinfo -F filename "$m" 2>&1 | head -1)"
done
for m in ib_core mlx5_ib rdma_rxe scst isert_scst; do
    echo "modprobe $m: $(modprobe "$m" 2>&1 && echo loaded) $(grep -c "^$m " /proc/modules) in /proc/modules"
done
echo "stock RDMA files left in /lib/modules/$(uname -r)/kernel/drivers/infiniband: $(find /lib/modules/$(uname -r)/kernel/drivers/infiniband -name '*.ko*' 2>/dev/null | wc -l)"
SH
cat "$work/after.txt"

echo
echo "=================================================================="
cat "$md"
echo
"$python" scripts/bench_fleet.py notes "$work"/journals/*.json || true
echo "=================================================================="
echo "Markdown report: $md   HTML: $reports/site-report.html   log: $work/site.log"
echo "site run exit status $rc; took $((SECONDS - start))s"
echo "The VM is still running: bash scripts/vm.sh ssh $vm ; remove it: bash scripts/vm.sh stop $vm"
exit "$rc"
