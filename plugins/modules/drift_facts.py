#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module ``iser.ofed.drift_facts``."""
from __future__ import annotations

DOCUMENTATION = r"""
module: drift_facts
short_description: Report drift on a prepared host - kernels without the OFED stack's modules, quarantines undone
version_added: "0.1.0"
description:
  - Lists every installed kernel (a C(/lib/modules/<kernel>) tree), plus the booted and the target kernel, and
    whether each has the installed stack's modules below C(updates/), C(updates/dkms/), C(extra/) or
    C(weak-updates/). A kernel installed after the stack (a distro kernel update) has none until DKMS,
    C(mlnxofedinstall --add-kernel-support) or a new install builds them; booted, it loads the stock modules.
  - Also flags a kernel whose OFED modules C(modules.dep) does not resolve to (C(depmod) did not run), and one
    that lacks some of the modules the other kernels have.
  - Reads every quarantine manifest of C(iser.ofed.stock_modules) (C(<state_dir>/quarantine/<kernel>/)) and
    flags stock files back at their original path (a reinstalled or updated kernel package), quarantined
    copies that no longer match their sha256 or are gone, and interrupted moves.
  - The installed stack comes from the C(flavor), C(version) and C(packages) options (give them from
    C(ansible_facts.iser_ofed.ofed)), else from the journal's C(ofed_install) record.
  - Each finding is C({code, kernel, msg, fix}) in C(findings); the fix says what to run.
  - Returns everything under C(ansible_facts.iser_ofed.drift); changes nothing on the host.
options:
  target_kernel:
    description: Kernel release the pipeline targets. Defaults to the running kernel (C(uname -r)).
    type: str
  state_dir:
    description: The on-host journal directory (C(journal.json), C(quarantine/<kernel>/manifest.json)).
    type: path
    default: /var/lib/iser-ofed
  modules_root:
    description: Where the per-kernel module trees live.
    type: path
    default: /lib/modules
  flavor:
    description:
      - The installed stack's flavor (C(iser_ofed.ofed.flavor)); empty when none is installed or unknown (then the
        journal's C(ofed_install) record is used, and without one no kernel is judged).
    type: str
    default: ""
  version:
    description: The installed stack's version (C(iser_ofed.ofed.version)), for the messages.
    type: str
    default: ""
  packages:
    description:
      - Names of the installed OFED packages (C(iser_ofed.ofed.packages) with C(installed) true). A C(-dkms)
        kernel package makes the fix C(dkms autoinstall); without any kernel package and without OFED modules
        for any kernel (a userspace-only install), kernels are not judged.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
  - iser.ofed.attributes.facts
notes:
  - Hashes every quarantined file (sha256) and every stock file that reappeared, a few MiB per kernel.
seealso:
  - module: iser.ofed.stock_modules
  - module: iser.ofed.ofed_facts
author:
  - iser.ofed contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Gather the OFED facts
  iser.ofed.ofed_facts:

- name: Look for drift since the pipeline ran
  iser.ofed.drift_facts:
    state_dir: /var/lib/iser-ofed
    flavor: "{{ ansible_facts.iser_ofed.ofed.flavor | default('', true) }}"
    version: "{{ ansible_facts.iser_ofed.ofed.version | default('', true) }}"
    packages: "{{ ansible_facts.iser_ofed.ofed.packages | selectattr('installed') | map(attribute='name') | list }}"

- name: Fail on drift
  ansible.builtin.assert:
    that: not ansible_facts.iser_ofed.drift.detected
    fail_msg: "{{ ansible_facts.iser_ofed.drift.findings | map(attribute='msg') | join('; ') }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: complex
  contains:
    iser_ofed:
      description: Collection facts; this module sets the C(drift) sub-key (format in docs/facts.md).
      returned: always
      type: dict
      sample:
        drift:
          detected: true
          count: 2
          codes: [OFED_MODULES_MISSING, QUARANTINE_FILES_REAPPEARED]
          findings:
            - code: OFED_MODULES_MISSING
              kernel: 6.1.0-57-amd64
              msg: "kernel 6.1.0-57-amd64 (installed) has no MLNX_OFED 5.0-2.1.8.0 modules (no ib_core below
                    /lib/modules/6.1.0-57-amd64/{updates,extra,weak-updates}): booted, it loads the distro's IB
                    modules (or none, after the stock purge)"
              fix: "install linux-headers-6.1.0-57-amd64 and run `dkms autoinstall -k 6.1.0-57-amd64` ..."
            - code: QUARANTINE_FILES_REAPPEARED
              kernel: 6.1.0-56-amd64
              msg: "1 quarantined stock file(s) of kernel 6.1.0-56-amd64 are back at their original path ..."
              fix: "they are identical to the quarantined copies: run iser.ofed.rollback (scope purge, ...)"
          stack: {flavor: mlnx_ofed, version: 5.0-2.1.8.0, source: facts, kernel_packages: [mlnx-ofed-kernel-dkms],
                  dkms: true, installed_for: null, kernel_modules_expected: true}
          running_kernel: 6.1.0-56-amd64
          target_kernel: 6.1.0-56-amd64
          modules_root: /lib/modules
          state_dir: /var/lib/iser-ofed
          kernels:
            - {kernel: 6.1.0-56-amd64, installed: true, running: true, target: true,
               modules_dir: /lib/modules/6.1.0-56-amd64, ofed_modules: 19, ofed_dirs: [updates/dkms],
               missing_modules: [], modules_dep: ofed, status: ok}
            - {kernel: 6.1.0-57-amd64, installed: true, running: false, target: false,
               modules_dir: /lib/modules/6.1.0-57-amd64, ofed_modules: 0, ofed_dirs: [],
               missing_modules: [ib_core, mlx5_core], modules_dep: stock, status: missing}
          quarantines:
            - {kernel: 6.1.0-56-amd64, manifest: /var/lib/iser-ofed/quarantine/6.1.0-56-amd64/manifest.json,
               state: complete, kernel_installed: true, files: 26,
               reappeared: [kernel/drivers/infiniband/core/ib_core.ko], reappeared_differ: [], copy_mismatch: [],
               copy_missing: []}
          journal: {path: /var/lib/iser-ofed/journal.json, present: true,
                    ofed_install: {status: done, flavor: mlnx_ofed, version: 5.0-2.1.8.0, kernel: 6.1.0-56-amd64}}
          errors: []
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils._drift import gather_drift


def main():
    module = AnsibleModule(
        argument_spec=dict(
            target_kernel=dict(type="str"),
            state_dir=dict(type="path", default="/var/lib/iser-ofed"),
            modules_root=dict(type="path", default="/lib/modules"),
            flavor=dict(type="str", default=""),
            version=dict(type="str", default=""),
            packages=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    facts = gather_drift(p["modules_root"], p["state_dir"], os.uname().release, target=p["target_kernel"] or None,
                         flavor=p["flavor"] or None, version=p["version"] or None, packages=p["packages"])
    module.exit_json(changed=False, ansible_facts={"iser_ofed": {"drift": facts}})


if __name__ == "__main__":
    main()
