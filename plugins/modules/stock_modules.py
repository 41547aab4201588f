#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: stock_modules
short_description: Move the distro's InfiniBand/Mellanox kernel modules into a manifest-backed quarantine, or back
version_added: "0.1.0"
description:
  - C(state=quarantined) moves the stock module directories of one kernel (C(dirs), only those that exist) into
    C(<state_dir>/quarantine/<kernel>/files/), after writing C(manifest.json) with the path, mode, owner, size and
    sha256 of every file (symlinks as links, directories with modes). Then C(depmod) and, when a moved file is
    in that kernel's initramfs, an initramfs rebuild.
  - C(state=restored) puts every file back byte-identical (sha256 verified against the manifest), with its mode
    and owner, recreates empty directories, removes the emptied C(files/) tree and keeps C(manifest.json) with
    state C(restored) as the record of what was restored. Then C(depmod) and the initramfs rebuild.
  - Crash safe. The manifest is written (state C(pending)) before the first file moves and marked C(complete)
    after the last; killed at any point, a re-run of C(quarantined) finishes the move and a run of C(restored)
    undoes it. A file whose checksum does not match the manifest at either place is a hard error that leaves
    both copies in place.
  - Before moving, reports the modules elsewhere in the tree that need a module that moves (from C(modules.dep),
    e.g. C(rpcrdma), C(nvme_rdma), C(smc), C(rds_rdma)), also in check mode.
  - A directory holding the driver of the management connection (the interface of the default route or of the
    local address of C(SSH_CONNECTION), mapped to its driver through sysfs) stays in place and is reported in
    C(kept), unless OFED's module of the same name is already staged under C(updates/) or C(extra/) of that
    kernel, or C(force=true).
  - Files that reappear at the source after a completed quarantine (a reinstalled or updated kernel package)
    make C(quarantined) refuse and name them in C(reappeared); nothing is overwritten.
options:
  state:
    description: C(quarantined) moves the directories into the quarantine; C(restored) puts them back.
    type: str
    required: true
    choices: [quarantined, restored]
  kernel:
    description: Kernel release whose C(/lib/modules/<kernel>) is changed. Defaults to the running kernel.
    type: str
  dirs:
    description:
      - Stock module directories, relative to C(/lib/modules/<kernel>), below C(kernel/). Those that do not exist
        are skipped. Entries under C(updates/) or C(extra/), outside C(kernel/) or with C(..) are refused.
      - Ignored by C(restored), which restores everything the manifest lists.
    type: list
    elements: str
    default:
      - kernel/drivers/infiniband
      - kernel/drivers/net/mlx4
      - kernel/drivers/net/ethernet/mellanox/mlx4
      - kernel/drivers/net/ethernet/mellanox/mlx5
  state_dir:
    description: The on-host journal directory; the quarantine lives in C(<state_dir>/quarantine/<kernel>/).
    type: path
    default: /var/lib/iser-ofed
  depmod:
    description: Run C(depmod -a <kernel>) after files moved.
    type: bool
    default: true
  initramfs:
    description:
      - C(auto) rebuilds the kernel's initramfs when a moved file is in it (C(lsinitramfs) or C(lsinitrd)), and
        on restore when the quarantine rebuilt it; C(always) rebuilds whenever files moved; C(never) does not.
      - Rebuilds with C(update-initramfs -u -k <kernel>) (Debian, Ubuntu) or C(dracut -f --kver <kernel>).
    type: str
    default: auto
    choices: [auto, always, never]
  force:
    description: Move a directory even when it holds the driver of the management connection. Says so loudly.
    type: bool
    default: false
  modules_root:
    description: Where the per-kernel module trees live. C(depmod) gets C(-b) when it ends in C(/lib/modules).
    type: path
    default: /lib/modules
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - iser.ofed.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - One run at a time per host, through a lock file in C(<state_dir>/quarantine/).
  - Never touches C(updates/), C(extra/) or C(updates/dkms).
seealso:
  - module: iser.ofed.kernel_facts
  - module: iser.ofed.ib_modules
author:
  - iser.ofed contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Quarantine the distro IB modules of the target kernel
  iser.ofed.stock_modules:
    state: quarantined
    kernel: "{{ iser_ofed_target_kernel }}"
    state_dir: "{{ iser_ofed_state_dir }}"
  register: purge

- name: Put them back
  iser.ofed.stock_modules:
    state: restored
    kernel: "{{ iser_ofed_target_kernel }}"
"""

RETURN = r"""
moved:
  description: Directories (relative to C(/lib/modules/<kernel>)) this run moved or restored (would, in check mode).
  returned: always
  type: list
  elements: str
  sample: [kernel/drivers/infiniband, kernel/drivers/net/ethernet/mellanox/mlx4]
kept:
  description: Directories left in place by the management-NIC rule, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{dir: kernel/drivers/net/ethernet/mellanox/mlx5, reason: "eth0 carries the management connection
            (IPv4 default route) through driver mlx5_core; OFED's replacement (mlx5_core) is not staged ..."}]
files:
  description: Files and symlinks this run moved (would move, in check mode).
  returned: always
  type: int
  sample: 26
bytes:
  description: Their size in bytes.
  returned: always
  type: int
  sample: 12386058
manifest:
  description: Path of the manifest.
  returned: always
  type: str
  sample: /var/lib/iser-ofed/quarantine/6.1.0-50-amd64/manifest.json
dependents:
  description: Modules outside the moved directories that need a moved module (names as the kernel loads them).
  returned: always
  type: list
  elements: str
  sample: [9pnet_rdma, nvme_rdma, nvmet_rdma, rds_rdma, rpcrdma, smc, smc_diag]
dependents_detail:
  description: The same with each module's path and the moved modules it needs.
  returned: always
  type: list
  elements: dict
  sample: [{module: rpcrdma, path: kernel/net/sunrpc/xprtrdma/rpcrdma.ko, needs: [ib_cm, ib_core, iw_cm, rdma_cm]}]
reappeared:
  description: Files found at the source after a completed quarantine (the module then fails).
  returned: on failure
  type: list
  elements: str
  sample: [kernel/drivers/infiniband/core/ib_core.ko]
depmod_ran:
  description: Whether depmod ran.
  returned: always
  type: bool
initramfs_rebuilt:
  description: Whether the initramfs was rebuilt.
  returned: always
  type: bool
state:
  description: The manifest state after the run (C(absent) when there is none).
  returned: always
  type: str
  sample: complete
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _quarantine as q
from ansible_collections.iser.ofed.plugins.module_utils import _stock_purge as sp

# File-system root of /proc, /sys and /boot; unit tests point it at a constructed tree.
ROOT = "/"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["quarantined", "restored"]),
            kernel=dict(type="str"),
            dirs=dict(type="list", elements="str", default=list(q.DEFAULT_DIRS)),
            state_dir=dict(type="path", default="/var/lib/iser-ofed"),
            depmod=dict(type="bool", default=True),
            initramfs=dict(type="str", default="auto", choices=["auto", "always", "never"]),
            force=dict(type="bool", default=False),
            modules_root=dict(type="path", default="/lib/modules"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    p["kernel"] = p["kernel"] or os.uname().release
    try:
        result = sp.apply(sp.ModuleHost(module, ROOT), p)
    except q.QuarantineError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
