#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: site_detached
short_description: Run the destructive middle of iser.ofed.site on the host by itself, rolling back by itself
version_added: "0.3.0"
description:
  - For a host whose management NIC's driver is part of the stack to unload, the SSH connection drops at the
    unload. This module runs the destructive middle of the C(iser.ofed.site) playbook as one on-host job,
    started with C(async) and C(poll=0) (C(async_wrapper) detaches it from the SSH session) while the
    controller waits with C(ansible.builtin.wait_for_connection) and C(ansible.builtin.async_status).
  - "Steps, each journaled before and after in stage C(site_detached) (C(data.steps)): C(plan) (the unload plan
    read again; nothing changes if it grew or has an unknown holder; the interfaces whose driver is unloaded
    are recorded with their addresses and routes), C(services) (stop them in order), C(unload) (the plan, in
    order, as C(iser.ofed.ib_modules) does; then nothing may be loaded from the stock directories), C(purge)
    (quarantine, manifest and depmod as C(iser.ofed.stock_modules) does), C(install) (the argv
    C(iser.ofed.ofed_installer) decided, with its log and exit-code meaning), C(load) (the NIC drivers first,
    then C(openibd start) when the install left one), C(network) (wait for the addresses to come back, else
    re-add them and their routes with C(ip)), C(verify)."
  - Each step writes the journal records the connected roles write (C(ib_unload), C(stock_purge@<kernel>),
    C(ofed_install)), so resuming, the rollback scope and the fleet report work as for a connected run.
  - On a failure it rolls back by itself what connectivity and the stock kernel need (the quarantine restored
    with depmod, the modules it unloaded loaded again with the NIC drivers first, the addresses back), records
    the failed stage as C(failed) and C(site_detached) as C(rolled_back) (C(failed) if that rollback failed),
    and fails. The rest (services, masks, packages) is C(iser.ofed.rollback)'s job, run by the controller.
options:
  state_dir:
    description: The on-host journal directory (C(iser_ofed_state_dir)).
    type: path
    default: /var/lib/iser-ofed
  kernel:
    description: The running kernel (the unload concerns it). Default, C(uname -r).
    type: str
  modules_root:
    description: Where the per-kernel module trees live.
    type: path
    default: /lib/modules
  services:
    description: Services to stop, in this order (those C(iser.ofed.ib_unload) found running).
    type: list
    elements: str
    default: []
  services_init:
    description: How to stop them (C(systemctl stop <name>.service) or C(/etc/init.d/<name> stop)).
    type: str
    choices: [systemd, sysv]
    default: systemd
  unload:
    description: What to unload.
    type: dict
    required: true
    suboptions:
      plan:
        description: The ordered plan of C(iser.ofed.ib_modules) in check mode.
        type: list
        elements: str
        required: true
      roots:
        description: The roots given to C(iser.ofed.ib_modules) (empty, its default IB set).
        type: list
        elements: str
        default: []
      stock_dirs:
        description: Stock directories (relative to C(/lib/modules/<kernel>)) nothing may be loaded from after it.
        type: list
        elements: str
        required: true
  purge:
    description: The quarantine (options of C(iser.ofed.stock_modules)); omit to skip the step.
    type: dict
    suboptions:
      kernel:
        description: Kernel whose stock directories move.
        type: str
        required: true
      dirs:
        description: Directories relative to C(/lib/modules/<kernel>).
        type: list
        elements: str
        required: true
      depmod:
        description: Run C(depmod) after the move.
        type: bool
        default: true
      initramfs:
        description: Rebuild the initramfs (C(auto), C(always), C(never)).
        type: str
        choices: [auto, always, never]
        default: auto
      force:
        description: Move a directory holding the management NIC's driver.
        type: bool
        default: false
  install:
    description: The installer run (from C(iser.ofed.ofed_installer) in check mode); omit when it is not needed.
    type: dict
    suboptions:
      bundle_dir:
        description: The unpacked bundle (working directory of the installer).
        type: path
        required: true
      flavor:
        description: C(mlnx_ofed) or C(ofed) (exit-code tables).
        type: str
        required: true
        choices: [mlnx_ofed, ofed]
      cmd:
        description: The installer argv.
        type: list
        elements: str
        required: true
      log_file:
        description: Where its output goes, live.
        type: path
        required: true
      release:
        description: Release recorded in the journal.
        type: str
      kernel:
        description: Target kernel recorded in the journal.
        type: str
      conf:
        description: The rendered ofed.conf recorded in the journal.
        type: str
  address_timeout:
    description: Seconds to wait for an address to come back on its own before re-adding it with C(ip).
    type: int
    default: 90
  run_id:
    description: The site run, recorded in the journal.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - iser.ofed.attributes
attributes:
  check_mode:
    support: full
    details: Returns the plan (modules, interfaces, quarantine, installer argv); changes nothing.
  diff_mode:
    support: none
notes:
  - Meant to run under C(async)/C(poll=0); the C(iser.ofed.site) playbook does this when
    C(iser_ofed_site_detach) (C(auto), C(always)) asks for it.
seealso:
  - module: iser.ofed.ib_modules
  - module: iser.ofed.stock_modules
  - module: iser.ofed.ofed_installer
  - module: iser.ofed.journal
author:
  - iser.ofed contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Run the destructive middle detached from the SSH session
  iser.ofed.site_detached:
    state_dir: /var/lib/iser-ofed
    services: [openibd]
    unload:
      plan: "{{ ib_plan.plan }}"
      stock_dirs: [kernel/drivers/infiniband]
    purge:
      kernel: "{{ ansible_facts.iser_ofed.kernel.running }}"
      dirs: [kernel/drivers/infiniband]
  async: 3600
  poll: 0
  register: job

- name: Wait for the host to come back
  ansible.builtin.wait_for_connection:
    delay: 5
    timeout: 600

- name: Wait for the job
  ansible.builtin.async_status:
    jid: "{{ job.ansible_job_id }}"
  register: done
  until: done is finished
  retries: 360
  delay: 10
"""

RETURN = r"""
steps:
  description: Each step with its status (C(done), C(failed); C(planned) in check mode) and what it did.
  returned: always
  type: list
  elements: dict
  sample: [{step: unload, status: done, unloaded: [rdma_rxe, ib_core, virtio_net]}]
plan:
  description: The modules unloaded, in order.
  returned: always
  type: list
  elements: str
unloaded:
  description: What was unloaded (with what C(modprobe -r) took along).
  returned: always
  type: list
  elements: str
collateral:
  description: Modules outside the plan that C(modprobe -r) removed.
  returned: always
  type: list
  elements: str
interfaces:
  description: The interfaces whose driver the plan unloads, with MAC, drivers, addresses and routes.
  returned: always
  type: list
  elements: dict
  sample: [{ifname: eth0, mac: "52:54:00:12:34:56", drivers: [virtio_net], addresses: [10.0.2.15/24]}]
purge:
  description: The quarantine's result (as C(iser.ofed.stock_modules) returns it).
  returned: always
  type: dict
install:
  description: The installer's result (cmd, rc, meaning, remedy, log, log_tail, restart_required...).
  returned: always
  type: dict
loaded:
  description: Modules loaded again after the install (the NIC drivers).
  returned: always
  type: list
  elements: str
network:
  description: Whether the addresses came back on their own, what was re-added, the interfaces' ifindex now.
  returned: always
  type: dict
  sample: {came_back: true, readded: [], missing: [], ifindex: {eth0: 3}}
rolled_back:
  description: The job failed and rolled back by itself.
  returned: always
  type: bool
failed_step:
  description: The step that failed.
  returned: on failure
  type: str
failed_stage:
  description: The pipeline stage it belongs to (C(ib_unload), C(stock_purge), C(ofed_install)).
  returned: on failure
  type: str
rollback_errors:
  description: What the job's own rollback could not do.
  returned: on failure
  type: list
  elements: str
msg:
  description: Summary.
  returned: always
  type: str
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _detached as dt
from ansible_collections.iser.ofed.plugins.module_utils import _stock_purge as sp
from ansible_collections.iser.ofed.plugins.module_utils._journal import utc_now

ROOT = "/"  # tests point it at a constructed tree


class ModuleHost(sp.ModuleHost):
    """What ``_detached`` needs besides what ``_stock_purge`` does."""

    def read(self, path):
        return sp.read(self, path)

    @staticmethod
    def now():
        return utc_now()

    @staticmethod
    def sleep(seconds):
        time.sleep(seconds)

    @staticmethod
    def clock():
        return time.monotonic()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state_dir=dict(type="path", default="/var/lib/iser-ofed"),
            kernel=dict(type="str"),
            modules_root=dict(type="path", default="/lib/modules"),
            services=dict(type="list", elements="str", default=[]),
            services_init=dict(type="str", choices=["systemd", "sysv"], default="systemd"),
            unload=dict(type="dict", required=True, options=dict(
                plan=dict(type="list", elements="str", required=True),
                roots=dict(type="list", elements="str", default=[]),
                stock_dirs=dict(type="list", elements="str", required=True),
            )),
            purge=dict(type="dict", options=dict(
                kernel=dict(type="str", required=True),
                dirs=dict(type="list", elements="str", required=True),
                depmod=dict(type="bool", default=True),
                initramfs=dict(type="str", choices=["auto", "always", "never"], default="auto"),
                force=dict(type="bool", default=False),
            )),
            install=dict(type="dict", options=dict(
                bundle_dir=dict(type="path", required=True),
                flavor=dict(type="str", required=True, choices=["mlnx_ofed", "ofed"]),
                cmd=dict(type="list", elements="str", required=True),
                log_file=dict(type="path", required=True),
                release=dict(type="str"),
                kernel=dict(type="str"),
                conf=dict(type="str"),
            )),
            address_timeout=dict(type="int", default=90),
            run_id=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = dict(module.params)
    params["kernel"] = params["kernel"] or os.uname().release
    if params["kernel"] != os.uname().release and not module.check_mode:
        module.fail_json(msg="kernel %s is not the running kernel %s: the detached transaction unloads the running "
                             "kernel's stack; nothing was changed" % (params["kernel"], os.uname().release))
    result = dt.Transaction(ModuleHost(module, ROOT), params).run()
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
