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

import fcntl
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _quarantine as q
from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import parse_modules_dep

# File-system root of /proc, /sys and /boot; unit tests point it at a constructed tree.
ROOT = "/"


def _read(path, root=None):
    try:
        with open(os.path.join(root or ROOT, path.lstrip("/")), encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


class Runner:
    def __init__(self, module):
        self.module = module

    def __call__(self, argv, fail=True):
        path = self.module.get_bin_path(argv[0])
        if not path:
            if fail:
                self.module.fail_json(msg="%s is not installed: cannot run %s" % (argv[0], " ".join(argv)))
            return None
        rc, out, err = self.module.run_command([path] + list(argv[1:]), environ_update={"LC_ALL": "C"})
        if rc != 0 and fail:
            self.module.fail_json(msg="%s failed (rc=%d); the manifest keeps this step to retry on the next run"
                                  % (" ".join(argv), rc), rc=rc, stdout=out, stderr=err, cmd=argv)
        return rc, out, err


def initramfs_tool(module, kernel):
    """``(list_argv, rebuild_argv, image)`` for update-initramfs or dracut; None when neither is installed."""
    if module.get_bin_path("update-initramfs"):
        image = "/boot/initrd.img-%s" % kernel
        return ["lsinitramfs", image], ["update-initramfs", "-u", "-k", kernel], image
    if module.get_bin_path("dracut"):
        image = "/boot/initramfs-%s.img" % kernel
        return ["lsinitrd", image], ["dracut", "-f", "--kver", kernel], image
    return None


def initramfs_contains(module, run, kernel, rels):
    tool = initramfs_tool(module, kernel)
    if tool is None or not os.path.exists(os.path.join(ROOT, tool[2].lstrip("/"))):
        return []
    res = run(tool[0], fail=False)
    if res is None or res[0] != 0:
        module.warn("cannot list %s; rebuilding it to be safe" % tool[2])
        return list(rels)
    return q.initramfs_members(res[1], kernel, rels)


def management(run):
    ip_json = run(["ip", "-j", "addr"], fail=False)
    return q.management_links(ROOT, _read("/proc/net/route"), _read("/proc/net/ipv6_route"), dict(os.environ),
                              [_read("/proc/net/tcp"), _read("/proc/net/tcp6")],
                              ip_json[1] if ip_json and ip_json[0] == 0 else None)


def post_steps(module, run, quar, manifest, result, p):
    """Run the manifest's ``todo`` (depmod, initramfs), each recorded as done as soon as it succeeded."""
    for step in list(manifest.get("todo", [])):
        if step == "depmod":
            argv = q.depmod_argv(p["modules_root"], p["kernel"])
            if argv:
                run(argv)
                result["depmod_ran"] = True
            else:
                module.warn("modules_root %s does not end in /lib/modules: run depmod yourself" % p["modules_root"])
        elif step == "initramfs":
            tool = initramfs_tool(module, p["kernel"])
            if tool is None:
                module.fail_json(msg="neither update-initramfs nor dracut is installed: cannot rebuild the initramfs "
                                 "of %s; install one, or set initramfs: never" % p["kernel"])
            run(tool[1])
            result["initramfs_rebuilt"] = True
            manifest["initramfs_rebuilt"] = p["state"] == "quarantined"
        manifest["todo"].remove(step)
        quar.save(manifest)
        result["changed"] = True


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
    run = Runner(module)
    modules_dir = os.path.join(p["modules_root"], p["kernel"])
    qdir = os.path.join(p["state_dir"], "quarantine", p["kernel"])
    quar = q.Quarantine(modules_dir, qdir, p["kernel"])
    result = dict(changed=False, moved=[], kept=[], files=0, bytes=0, manifest=quar.manifest_path, dependents=[],
                  dependents_detail=[], depmod_ran=False, initramfs_rebuilt=False)
    lock = None
    try:
        dirs = q.validate_dirs(p["dirs"])
        if not os.path.isdir(modules_dir):
            raise q.QuarantineError("%s does not exist: kernel %s is not installed (option kernel)"
                                    % (modules_dir, p["kernel"]))
        if not module.check_mode:
            lock = take_lock(os.path.dirname(qdir))
        manifest = quar.load()
        if p["state"] == "quarantined":
            quarantined(module, run, quar, manifest, dirs, result, p)
        else:
            restored(module, run, quar, manifest, result, p)
    except q.QuarantineError as exc:
        result.update(exc.details)
        module.fail_json(msg=str(exc), **result)
    finally:
        if lock is not None:
            lock.close()
    module.exit_json(**result)


def take_lock(directory):
    """One run at a time per host: an exclusive flock on ``<state_dir>/quarantine/.lock``."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    lock = open(os.path.join(directory, ".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise q.QuarantineError("another stock_modules run holds %s/.lock: wait for it to finish" % directory)
    return lock


def quarantined(module, run, quar, manifest, dirs, result, p):
    existing = [d for d in dirs if os.path.isdir(os.path.join(quar.modules_dir, d))]
    staged = q.staged_module_names(quar.modules_dir)
    to_move, result["kept"], warnings = q.keep_decisions(quar.modules_dir, existing, management(run),
                                                         staged, p["force"])
    for warning in warnings:
        module.warn(warning)
    plan = quar.plan_quarantine(manifest, to_move, with_hash=not module.check_mode)
    dep_text = _read(os.path.join(quar.modules_dir, "modules.dep"), root="/")
    if dep_text is None:
        module.warn("%s/modules.dep is missing or unreadable: dependents are not known" % quar.modules_dir)
    detail = q.dependents(parse_modules_dep(dep_text or "")[0], q.module_names(plan["entries"]), plan["dirs"],
                          staged)
    if manifest and manifest["state"] != "restored":
        known = {d["module"] for d in detail}
        detail += [d for d in manifest.get("dependents", []) if d["module"] not in known]
    result["dependents_detail"] = sorted(detail, key=lambda d: d["module"])
    result["dependents"] = [d["module"] for d in result["dependents_detail"]]
    summary = q.summary(plan["pending"], plan["dirs"], quar.modules_dir, quar.files_dir)
    result.update(moved=summary["moved"], files=summary["files"], bytes=summary["bytes"],
                  state=manifest["state"] if manifest else "absent")
    if module._diff and plan["changed"]:
        result["diff"] = summary["diff"]
    fresh = not manifest or manifest["state"] == "restored"
    if plan["changed"]:
        rels = [e["path"] for e in plan["pending"] if e["type"] == "file"]
        contained = []
        if p["initramfs"] != "never" and rels:
            contained = initramfs_contains(module, run, p["kernel"], rels)
        if not fresh:
            contained = sorted(set(contained) | set(manifest.get("initramfs_contained", [])))
        todo = q.todo_after("quarantined", [] if fresh else manifest.get("todo", []), p["depmod"], p["initramfs"],
                            manifest, contained)
        result["changed"] = True
        result["state"] = "complete"
        if module.check_mode:
            return
        quar.quarantine(manifest, plan, {"todo": todo, "initramfs_contained": contained,
                                         "dependents": result["dependents_detail"]})
        manifest = quar.load()
    if manifest and not module.check_mode:
        if manifest["state"] == "complete" and not plan["changed"]:
            problems = quar.verify(manifest, quar.files_dir)
            if problems:
                raise q.QuarantineError("the quarantine does not match its manifest: %s" % "; ".join(problems[:10]),
                                        problems=problems)
        post_steps(module, run, quar, manifest, result, p)
    elif manifest and manifest.get("todo"):
        result["changed"] = True


def restored(module, run, quar, manifest, result, p):
    if manifest is None:
        result["state"] = "absent"
        return
    result["dependents_detail"] = manifest.get("dependents", [])
    result["dependents"] = [d["module"] for d in result["dependents_detail"]]
    result["state"] = manifest["state"]
    if manifest["state"] != "restored":
        back = [e for e in manifest["entries"] if e["type"] != "dir"
                and not os.path.lexists(os.path.join(quar.modules_dir, e["path"]))]
        summary = q.summary(back, manifest["dirs"], quar.files_dir, quar.modules_dir)
        result.update(moved=summary["moved"], files=summary["files"], bytes=summary["bytes"])
        if module._diff:
            result["diff"] = summary["diff"]
        todo = q.todo_after("restored", [], p["depmod"], p["initramfs"], manifest, [])
        result["changed"] = True
        result["state"] = "restored"
        if module.check_mode:
            return
        quar.restore(manifest, todo)
    elif module.check_mode:
        result["changed"] = bool(manifest.get("todo"))
        return
    post_steps(module, run, quar, manifest, result, p)


if __name__ == "__main__":
    main()
