#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: kernel_facts
short_description: Kernel facts that decide whether and how OFED can replace the distro RDMA stack
version_added: "0.1.0"
description:
  - Reports, under C(ansible_facts.iser_ofed.kernel), the running and target kernel, the distribution, the
    headers/build tree, C(CONFIG_INFINIBAND), the distro (stock) InfiniBand and Mellanox module directories,
    the OFED module directories, the loaded IB/RDMA modules with their holders, container and VM detection,
    the Secure Boot state, and whether C(/) or C(/boot) is read-only or carried over RDMA.
  - Read-only. Soft problems (absent C(/proc/modules), unreadable files, a target kernel that is not installed)
    are listed in C(errors) as C({code, msg}) items; the module does not fail for them.
  - In a container C(/proc/modules) and C(uname -r) belong to the host, so C(modules.manageable) is false there.
  - The action plugin of the same name merges the result with other C(iser_ofed) sub-keys a host already has.
options:
  target_kernel:
    description:
      - Kernel release (as in C(uname -r)) the facts about C(/lib/modules/<release>) are about.
      - Defaults to the running kernel. Playbooks pass the collection-wide C(iser_ofed_target_kernel) here.
    type: str
  module_dirs:
    description:
      - Stock IB/Mellanox module directories to report, relative to C(/lib/modules/<target_kernel>).
      - A trailing C(/*) stands for each subdirectory, reported one by one.
    type: list
    elements: str
    default:
      - kernel/drivers/infiniband
      - kernel/drivers/net/mlx4
      - kernel/drivers/net/ethernet/mellanox/*
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
  - iser.ofed.attributes.facts
notes:
  - Root/boot on RDMA is detected from C(/proc/self/mountinfo) and sysfs; NFS with C(proto=rdma), a block device
    under a SCSI host whose C(proc_name) is C(iscsi_iser) or C(ib_srp) (also through dm/md C(slaves)), and NVMe
    namespaces whose controller C(transport) is C(rdma).
  - Runs C(systemd-detect-virt) and C(mokutil --sb-state) when they are installed; neither is required.
seealso:
  - module: iser.ofed.ofed_facts
author:
  - iser.ofed contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Gather kernel facts for the running kernel
  iser.ofed.kernel_facts:

- name: Gather kernel facts for the kernel OFED will be built for
  iser.ofed.kernel_facts:
    target_kernel: "{{ iser_ofed_target_kernel }}"

- name: Refuse to go on when modules cannot be managed from here
  ansible.builtin.assert:
    that: ansible_facts.iser_ofed.kernel.modules.manageable
    fail_msg: "{{ ansible_facts.iser_ofed.kernel.modules.reason }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to C(ansible_facts).
  returned: always
  type: complex
  contains:
    iser_ofed:
      description: Collection facts; this module fills the C(kernel) sub-key (schema in C(docs/facts.md)).
      returned: always
      type: complex
      contains:
        kernel:
          description: Kernel facts.
          returned: always
          type: dict
          sample:
            running: "6.1.0-50-amd64"
            target: "6.1.0-50-amd64"
            target_is_running: true
            arch: x86_64
            distribution: {id: debian, version: "12", major_version: "12", codename: bookworm,
                           family: debian, like: null, pretty_name: "Debian GNU/Linux 12 (bookworm)"}
            modules_dir: /lib/modules/6.1.0-50-amd64
            modules_dir_exists: true
            build_dir: /lib/modules/6.1.0-50-amd64/build
            build_dir_exists: false
            build_dir_dangling: true
            build_dir_link: /usr/src/linux-headers-6.1.0-50-amd64
            source_dir: /lib/modules/6.1.0-50-amd64/source
            source_dir_exists: false
            source_dir_dangling: false
            source_dir_link: null
            config: {path: /boot/config-6.1.0-50-amd64, infiniband: m, infiniband_found: true}
            ib_register_client_in_modules_symbols: true
            stock_dirs:
              - {rel: kernel/drivers/infiniband, path: /lib/modules/6.1.0-50-amd64/kernel/drivers/infiniband,
                 layout: infiniband, exists: true, files: 24, modules: 24, bytes: 11198008, suffixes: [".ko"]}
              - {rel: kernel/drivers/net/mlx4, path: /lib/modules/6.1.0-50-amd64/kernel/drivers/net/mlx4,
                 layout: mlx4_old, exists: false, files: 0, modules: 0, bytes: 0, suffixes: []}
              - {rel: kernel/drivers/net/ethernet/mellanox/mlx4,
                 path: /lib/modules/6.1.0-50-amd64/kernel/drivers/net/ethernet/mellanox/mlx4,
                 layout: mellanox, exists: true, files: 2, modules: 2, bytes: 1188050, suffixes: [".ko"]}
            ofed_module_dirs:
              - {rel: updates, path: /lib/modules/6.1.0-50-amd64/updates, exists: false, files: 0, modules: 0,
                 bytes: 0, suffixes: []}
            modules:
              readable: true
              manageable: true
              reason: null
              loaded_ib:
                - {name: ib_core, size: 405504, refcount: 3, holders: [ib_uverbs, mlx5_ib], state: Live,
                   path: kernel/drivers/infiniband/core/ib_core.ko}
            virtualization: {container: null, vm: kvm, evidence: ["systemd-detect-virt --vm: kvm"]}
            secure_boot: {state: disabled, source: "no /sys/firmware/efi: legacy BIOS boot"}
            root_fs: {path: /, mount: /, device: /dev/vda1, fstype: ext4, read_only: false, rdma: false,
                      rdma_transport: null, evidence: ["/sys/dev/block/254:1 -> /sys/devices/.../vda/vda1"]}
            boot_fs: {path: /boot, mount: /, device: /dev/vda1, fstype: ext4, read_only: false, rdma: false,
                      rdma_transport: null, evidence: []}
            errors: []
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils._kernel import (
    DEFAULT_STOCK_MODULE_DIRS, distribution_facts, gather_kernel_facts)

# File-system root the facts are read from; unit tests point it at a constructed tree.
ROOT = "/"


def uname():
    """``(release, machine)`` of the running kernel."""
    info = os.uname()
    return info.release, info.machine


def main():
    module = AnsibleModule(
        argument_spec=dict(
            target_kernel=dict(type="str"),
            module_dirs=dict(type="list", elements="str", default=list(DEFAULT_STOCK_MODULE_DIRS)),
        ),
        supports_check_mode=True,
    )

    def run(argv):
        path = module.get_bin_path(argv[0])
        if not path:
            return None
        try:
            return module.run_command([path] + list(argv[1:]), environ_update={"LC_ALL": "C"},
                                      handle_exceptions=False)
        except OSError as exc:  # present but not runnable: treat it as absent, say so
            module.warn("cannot run %s: %s" % (path, exc))
            return None

    release, machine = uname()
    try:
        distribution = distribution_facts(ROOT)
    except Exception as exc:  # a broken os-release must not cost the other facts
        module.warn("cannot read the distribution: %s" % exc)
        distribution = {"id": None, "version": None, "major_version": None, "codename": None,
                        "family": None, "like": None, "pretty_name": None}
    facts = gather_kernel_facts(
        ROOT, release, machine, distribution,
        target=module.params["target_kernel"] or None,
        module_dirs=module.params["module_dirs"],
        run=run,
    )
    module.exit_json(changed=False, ansible_facts={"iser_ofed": {"kernel": facts}})


if __name__ == "__main__":
    main()
