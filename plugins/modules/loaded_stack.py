#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module ``iser.ofed.loaded_stack``."""
from __future__ import annotations

DOCUMENTATION = r"""
module: loaded_stack
short_description: Check that the loaded IB modules are the intended stack's, and whether a reboot is still due
version_added: "0.1.0"
description:
  - For each module of O(modules) that the running kernel has loaded, finds the file C(modinfo -k <running>)
    resolves (what C(modprobe) loads) and checks that it lies in the intended stack's directory (C(kernel/) of
    C(/lib/modules/<running>) for the distribution's in-tree stack; C(updates/), C(updates/dkms/), C(extra/) or
    C(weak-updates/) for OFED and MLNX_OFED), and that the module in memory is that file (the GNU build-id of
    C(/sys/module/<m>/notes/.note.gnu.build-id) against the file's ELF note; C(srcversion) when there is no
    build-id on both sides).
  - Reads the journal (C(<state_dir>/journal.json)) for stage records written after the last boot (C(btime) of
    C(/proc/stat)) that report C(reboot_required) or C(restart_required), and an C(ofed_install) record for a
    kernel other than the running one. A record written before the boot has been served by it.
  - Changes nothing; the caller decides what a mismatch or a due reboot means (C(iser.ofed.finalize) reboots
    behind C(finalize_reboot) and fails on a mismatch).
options:
  modules:
    description:
      - Names of the modules the intended stack provides (C(_) or C(-) spelling). Those not loaded are reported
        as C(not_loaded), not judged.
    type: list
    elements: str
    required: true
  expected:
    description:
      - The intended stack. C(auto) is C(ofed) when the journal's C(ofed_install) record is C(done), else
        C(in_tree).
    type: str
    choices: [auto, in_tree, ofed]
    default: auto
  state_dir:
    description: Directory of the on-host journal.
    type: path
    default: /var/lib/iser-ofed
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - iser.ofed.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - On a host that cannot load modules (a container) C(/sys/module) is the host kernel's; do not run it there.
  - A C(.ko.zst) module cannot be read with the Python standard library; it is then judged by its path only.
seealso:
  - module: iser.ofed.journal
  - module: iser.ofed.drift_facts
author:
  - iser.ofed contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Check the loaded stack after the services started
  iser.ofed.loaded_stack:
    modules: [ib_core, ib_uverbs, rdma_cm, ib_ipoib, ib_isert, mlx5_ib, mlx5_core]
    state_dir: /var/lib/iser-ofed
  register: stack

- name: Fail when a loaded module is not the intended stack's
  ansible.builtin.assert:
    that: stack.ok
    fail_msg: "{{ stack.mismatches | map(attribute='msg') | join('; ') }}"

- name: Reboot when a stage asked for it after the last boot
  ansible.builtin.reboot:
  when: stack.reboot.required
"""

RETURN = r"""
kernel:
  description: The running kernel.
  returned: always
  type: str
  sample: 6.1.0-56-amd64
btime:
  description: Boot time of the running kernel (epoch seconds, C(/proc/stat)); null when unreadable.
  returned: always
  type: int
  sample: 1795617409
expected:
  description: The intended stack the files were judged against.
  returned: always
  type: str
  sample: in_tree
expected_reason:
  description: Why that stack.
  returned: always
  type: str
  sample: "journal: no finished ofed_install (none): the distribution's in-tree stack"
modules:
  description: One record per module of O(modules).
  returned: always
  type: list
  elements: dict
  sample:
    - name: ib_core
      loaded: true
      status: ok
      file: /lib/modules/6.1.0-56-amd64/kernel/drivers/infiniband/core/ib_core.ko
      origin: in_tree
      expected: in_tree
      loaded_build_id: 484bf9f384b7bb575109763bf0dc949901d6332d
      file_build_id: 484bf9f384b7bb575109763bf0dc949901d6332d
      loaded_srcversion: null
      file_srcversion: null
      compared: build_id
      msg: "ib_core loaded from kernel/drivers/infiniband/core/ib_core.ko (in_tree, build_id 484bf9f3... matches)"
    - {name: mlx4_ib, loaded: false, status: not_loaded, file: null, origin: null, expected: in_tree,
       loaded_build_id: null, file_build_id: null, loaded_srcversion: null, file_srcversion: null,
       compared: null, msg: mlx4_ib is not loaded}
loaded:
  description: The modules of O(modules) that are loaded.
  returned: always
  type: list
  elements: str
  sample: [ib_core, rdma_rxe]
mismatches:
  description: Loaded modules that are not the intended stack's (status C(wrong_origin), C(stale) or C(no_file)).
  returned: always
  type: list
  elements: dict
  sample: []
ok:
  description: True when no loaded module mismatches.
  returned: always
  type: bool
  sample: true
reboot:
  description: Whether the journal still asks for a reboot on this boot, and why.
  returned: always
  type: dict
  sample: {required: true, reasons: ["ofed_install reported reboot_required at 2026-11-25T14:50:02Z, after the last boot"]}
restart:
  description: Whether the journal still asks for a driver restart on this boot, and why.
  returned: always
  type: dict
  sample: {required: false, reasons: []}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils._journal import JournalError, load_journal
from ansible_collections.iser.ofed.plugins.module_utils._loaded_stack import (
    build_id_of_notes, decompress_module, due_after_boot, elf_build_id, expected_stack, judge_module, parse_btime,
    parse_modinfo, summarize)

SYS_MODULE = "/sys/module"


def _read(path: str, binary: bool = False):
    try:
        with open(path, "rb" if binary else "r") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def read_sysfs(name: str) -> dict:
    base = os.path.join(SYS_MODULE, name)
    initstate = _read(os.path.join(base, "initstate"))
    srcversion = _read(os.path.join(base, "srcversion"))
    notes = _read(os.path.join(base, "notes", ".note.gnu.build-id"), binary=True)
    return {"present": os.path.isdir(base), "initstate": initstate.strip() if initstate else None,
            "srcversion": srcversion.strip() if srcversion else None,
            "build_id": build_id_of_notes(notes) if notes else None}


def read_file_info(module: AnsibleModule, modinfo: str, kernel: str, name: str) -> dict | None:
    rc, out, _err = module.run_command([modinfo, "-k", kernel, name], environ_update={"LC_ALL": "C"})
    if rc != 0:
        return None
    info = parse_modinfo(out)
    if info.get("filename", "").startswith("/"):
        data = _read(info["filename"], binary=True)
        elf = decompress_module(data, info["filename"]) if data else None
        info["build_id"] = elf_build_id(elf) if elf else None
    return info


def main():
    module = AnsibleModule(
        argument_spec=dict(
            modules=dict(type="list", elements="str", required=True),
            expected=dict(type="str", choices=["auto", "in_tree", "ofed"], default="auto"),
            state_dir=dict(type="path", default="/var/lib/iser-ofed"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    kernel = os.uname().release
    try:
        journal = load_journal(p["state_dir"])
    except JournalError as exc:
        module.fail_json(msg="cannot read the journal in %s: %s" % (p["state_dir"], exc))
    if p["expected"] == "auto":
        expected, why = expected_stack(journal)
    else:
        expected, why = p["expected"], "given (expected=%s)" % p["expected"]

    names = [n.replace("-", "_") for n in p["modules"]]
    sysfs = {name: read_sysfs(name) for name in names}
    modinfo = None
    if any(s["present"] and s["initstate"] for s in sysfs.values()):
        modinfo = module.get_bin_path("modinfo", opt_dirs=["/sbin", "/usr/sbin"])
        if not modinfo:
            module.fail_json(msg="modinfo (kmod) is not installed: it is needed to find the files of the loaded "
                                 "modules; install kmod")
    records = []
    for name in names:
        info = read_file_info(module, modinfo, kernel, name) if modinfo and sysfs[name]["initstate"] else None
        records.append(judge_module(name, sysfs[name], info, kernel, expected))
    btime = parse_btime(_read("/proc/stat") or "")
    due = due_after_boot(journal, btime, kernel)
    module.exit_json(changed=False, kernel=kernel, btime=btime, expected=expected, expected_reason=why,
                     modules=records, reboot=due["reboot"], restart=due["restart"], **summarize(records))


if __name__ == "__main__":
    main()
