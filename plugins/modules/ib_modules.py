#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ib_modules
short_description: Unload the loaded InfiniBand/RDMA module stack in a safe order, or load modules
version_added: "0.1.0"
description:
  - C(state=absent) unloads the roots given in O(modules) (default, every loaded IB-related module) and every
    module that holds them. The order comes from the live holders (C(/proc/modules) and
    C(/sys/module/<m>/holders/)) and from C(modules.dep), never from a fixed list; a module goes before every
    module it holds or needs; ties are broken by name.
  - Before unloading it checks interlocks and refuses, listing every finding with what holds the stack and how
    to release it. An unknown holder (a module in the plan that the caller did not name, that C(modules.dep) does
    not place under an IB/Mellanox driver directory and that is not a known RDMA ULP, e.g. an out-of-tree module
    in C(extra/) that called C(ib_register_client)); the NIC of a default route or of the management (SSH)
    connection whose driver would be unloaded; active iSER or SRP sessions (iSCSI over TCP is not an IB user);
    NFS-over-RDMA mounts or an NFS server RDMA listener; Lustre C(ko2iblnd); GPFS C(verbsRdma) or BeeGFS RDMA;
    processes holding C(/dev/infiniband/*).
  - Unloads one module at a time with C(modprobe -r) (C(rmmod) when modprobe fails or is missing), re-reading
    C(/proc/modules) after each, and stops at the first failure. C(modprobe -r) also removes dependencies that
    became unused; they are reported in RV(done) and RV(collateral).
  - C(state=present) runs C(modprobe) for each module of O(modules) that is not loaded, in the given order.
options:
  state:
    description: C(absent) unloads, C(present) loads.
    type: str
    required: true
    choices: [absent, present]
  modules:
    description:
      - For C(present), the modules to load, in order (required).
      - For C(absent), the roots to unload together with everything that holds them. Naming a module also
        vouches for it, so it is never an unknown holder. Default, every IB-related loaded module.
      - C(-) and C(_) are the same in module names.
    type: list
    elements: str
  force:
    description:
      - Unload even when interlocks refuse. Each overridden interlock is reported with a warning and with
        C(overridden=true) in RV(interlocks).
    type: bool
    default: false
  kernel:
    description: Kernel release whose C(/lib/modules/<kernel>/modules.dep) is read. Default, the running kernel.
    type: str
  when_unmanageable:
    description:
      - What to do when modules cannot be managed here (C(/proc/modules) absent or unreadable, or running in a
        container where C(/proc/modules) belongs to the host).
      - C(fail) fails. C(skip) returns ok with C(changed=false) and RV(skipped_reason) (for demo and check runs in
        containers).
    type: str
    choices: [fail, skip]
    default: fail
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - iser.ofed.attributes
attributes:
  check_mode:
    support: full
    details: Returns the plan and the interlocks; loads and unloads nothing.
  diff_mode:
    support: none
notes:
  - The Ansible connection's local address comes from C(SSH_CONNECTION), or, when C(become) dropped it, from the
    ESTABLISHED sockets on local port 22 in C(/proc/net/tcp*). Interfaces come from C(ip -j addr); their driver
    module from C(/sys/class/net/<if>/device/driver/module), through C(lower_*) links (bonds, VLANs, bridges);
    an IPoIB interface also depends on C(ib_ipoib).
  - A module whose refcount exceeds its module holders is used by something that is not a module (open device,
    mount, socket); it is reported in RV(non_module_refs) with a warning, since C(modprobe -r) will fail on it.
seealso:
  - module: iser.ofed.kernel_facts
  - module: community.general.modprobe
author:
  - iser.ofed contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Show what unloading the IB stack would do
  iser.ofed.ib_modules:
    state: absent
  check_mode: true
  register: ib_plan

- name: Unload the IB stack (refuses on interlocks)
  iser.ofed.ib_modules:
    state: absent

- name: Unload rdma_cm and everything above it, vouching for an out-of-tree client
  iser.ofed.ib_modules:
    state: absent
    modules: [rdma_cm, my_ib_client]

- name: Load soft-RoCE and the iSER target
  iser.ofed.ib_modules:
    state: present
    modules: [rdma_rxe, ib_isert]
"""

RETURN = r"""
plan:
  description: Modules to unload (C(absent)) or load (C(present)), in order.
  returned: always
  type: list
  elements: str
  sample: [ib_isert, rdma_ucm, ib_ipoib, mlx5_ib, rdma_rxe, rdma_cm, ib_cm, ib_uverbs, iw_cm, mlx5_core, ib_core, mlxfw]
done:
  description: What was actually unloaded or loaded, in order (unused dependencies that C(modprobe -r) removed
    follow the module that released them).
  returned: always
  type: list
  elements: str
  sample: [ib_isert, iscsi_target_mod, rdma_ucm]
collateral:
  description: Modules outside the plan that C(modprobe -r) removed because nothing used them any more.
  returned: when state=absent
  type: list
  elements: str
  sample: [iscsi_target_mod, target_core_mod]
interlocks:
  description: Every interlock finding; C(overridden) is true when O(force) let the unload go on anyway.
  returned: always
  type: list
  elements: dict
  sample: [{code: HOLDER_UNKNOWN, overridden: false,
            msg: "module ibclient holds ib_core but is not a known part of the RDMA stack (no modules.dep entry)"}]
holders:
  description: For each module of the plan, its holders as found live.
  returned: always
  type: dict
  sample: {ib_core: [ib_cm, ib_uverbs, rdma_cm], rdma_cm: [ib_isert]}
non_module_refs:
  description: Plan modules with references that no module holder explains, and how many.
  returned: when state=absent
  type: dict
  sample: {ib_uverbs: 2}
skipped_reason:
  description: Why nothing was done when O(when_unmanageable=skip) applied.
  returned: when modules cannot be managed here and O(when_unmanageable=skip)
  type: str
  sample: "running in a container (podman): /proc/modules belongs to the host"
msg:
  description: Summary.
  returned: always
  type: str
  sample: "unloaded 12 module(s)"
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _interlocks as il
from ansible_collections.iser.ofed.plugins.module_utils import _module_ops as mo
from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import parse_modules_dep
from ansible_collections.iser.ofed.plugins.module_utils._proc_modules import parse_proc_modules
from ansible_collections.iser.ofed.plugins.module_utils._unload_plan import build_unload_plan, load_plan, read_sys_holders
from ansible_collections.iser.ofed.plugins.module_utils._virt import detect_container

ROOT = "/"  # tests point this at a constructed tree
C_ENV = {"LC_ALL": "C"}


def read_text(path: str) -> str | None:
    try:
        with open(os.path.join(ROOT, path.lstrip("/")), encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def loaded_modules() -> list[dict] | None:
    text = read_text("/proc/modules")
    return None if text is None else parse_proc_modules(text)[0]


def unmanageable_reason() -> str | None:
    container = detect_container(ROOT)["container"]
    if container:
        return "running in a container (%s): /proc/modules belongs to the host, modules cannot be managed" % container
    if loaded_modules() is None:
        exists = os.path.lexists(os.path.join(ROOT, "proc/modules"))
        return "/proc/modules is %s: %s" % (
            "unreadable" if exists else "absent",
            "cannot verify the loaded modules" if exists else "no loadable module support (or no /proc) here")
    return None


def run_ip(module: AnsibleModule, args: list[str]) -> str | None:
    ip = module.get_bin_path("ip")
    if not ip:
        return None
    rc, out, _err = module.run_command([ip, "-j"] + args, environ_update=C_ENV)
    return out if rc == 0 else None


def gather_interlocks(module: AnsibleModule, plan: list[str], unknown: list[dict], loaded: set[str]) -> list[dict]:
    findings = il.check_unknown_holders(unknown)
    route_devs: list[str] = []
    for family in ([], ["-6"]):
        devs = il.default_route_devs_from_ip_json(run_ip(module, family + ["route", "show", "default"]) or "")
        if devs is None:
            route_devs = il.default_route_devs_from_proc(read_text("/proc/net/route"), read_text("/proc/net/ipv6_route"))
            break
        route_devs.extend(devs)
    addr = il.ssh_local_address(os.environ)
    addrs = [addr] if addr else il.ssh_socket_addresses([read_text("/proc/net/tcp"), read_text("/proc/net/tcp6")])
    mgmt = {}
    if addrs:
        addr_json = run_ip(module, ["addr"]) or ""
        for one in addrs:
            devs = il.interfaces_for_address(addr_json, one)
            if devs is None:
                module.warn("cannot map the management address %s to an interface (ip -j addr unusable)" % one)
            else:
                mgmt[one] = devs
    findings += il.check_nics(ROOT, plan, route_devs, mgmt)
    findings += il.check_iser_srp(ROOT, plan)
    findings += il.check_nfs_rdma(read_text("/proc/self/mountinfo"), read_text("/proc/fs/nfsd/portlist"), plan)
    findings += il.check_cluster_fs(ROOT, loaded, plan)
    findings += il.check_dev_infiniband(il.open_infiniband_handles(ROOT, os.getpid()), plan)
    return findings


def module_ops(module: AnsibleModule) -> tuple:
    """``(which, run, read_loaded)`` for ``_module_ops``."""
    return (module.get_bin_path, lambda argv: module.run_command(argv, environ_update=C_ENV), loaded_modules)


def absent(module: AnsibleModule, modules: list[dict], dep_map: dict, result: dict) -> None:
    params = module.params
    names = [m["name"] for m in modules]
    built = build_unload_plan(modules, dep_map, read_sys_holders(ROOT, names), params["modules"])
    plan = built["plan"]
    result.update(plan=plan, holders=built["holders"], non_module_refs=built["non_module_refs"], collateral=[])
    if built["cycle"]:
        module.warn("holder/dependency cycle among %s; order between them is by name" % ", ".join(built["cycle"]))
    for name, count in sorted(built["non_module_refs"].items()):
        module.warn("%s has %d reference(s) not held by a module (open device, mount, socket...): "
                    "modprobe -r will fail until they are released" % (name, count))
    findings = gather_interlocks(module, plan, built["unknown"], set(names)) if plan else []
    result["interlocks"] = [dict(f, overridden=params["force"]) for f in findings]
    if findings and not params["force"]:
        module.fail_json(msg="refusing to unload the IB stack: %d interlock(s): %s" % (
            len(findings), " | ".join("%s: %s" % (f["code"], f["msg"]) for f in findings)), **result)
    for item in findings:
        module.warn("FORCE overrides interlock %s: %s" % (item["code"], item["msg"]))
    if module.check_mode or not plan:
        result.update(changed=bool(plan), msg="would unload %d module(s)" % len(plan) if plan else "nothing to unload")
        module.exit_json(**result)
    done, collateral = result["done"], result["collateral"]
    failure = mo.unload_in_order(*module_ops(module), plan, dep_map, done, collateral)
    result["changed"] = bool(done)
    if failure:
        module.fail_json(msg="failed to unload %s after unloading %s; stopped" % (
            failure["failed_module"], ", ".join(done) or "nothing"), **dict(result, **failure))
    result["msg"] = "unloaded %d module(s)" % len(done)
    module.exit_json(**result)


def present(module: AnsibleModule, modules: list[dict], result: dict) -> None:
    wanted = module.params["modules"] or []
    if not wanted:
        module.fail_json(msg="state=present needs modules: the list of modules to load", **result)
    plan = load_plan(wanted, [m["name"] for m in modules])
    result["plan"] = plan
    if module.check_mode or not plan:
        result.update(changed=bool(plan), msg="would load %s" % ", ".join(plan) if plan else "all loaded already")
        module.exit_json(**result)
    module.get_bin_path("modprobe", required=True)
    failure = mo.load_in_order(*module_ops(module), plan, result["done"])
    result["changed"] = bool(result["done"])
    if failure:
        module.fail_json(msg="modprobe %s failed (rc=%s) after loading %s" % (
            failure["failed_module"], failure["rc"], ", ".join(result["done"]) or "nothing"),
            **dict(result, **failure))
    result["msg"] = "loaded %s" % ", ".join(result["done"])
    module.exit_json(**result)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["absent", "present"]),
            modules=dict(type="list", elements="str"),
            force=dict(type="bool", default=False),
            kernel=dict(type="str"),
            when_unmanageable=dict(type="str", choices=["fail", "skip"], default="fail"),
        ),
        required_if=[("state", "present", ["modules"])],
        supports_check_mode=True,
    )
    result: dict = {"changed": False, "plan": [], "done": [], "interlocks": [], "holders": {}}
    reason = unmanageable_reason()
    if reason:
        if module.params["when_unmanageable"] == "skip":
            module.exit_json(skipped_reason=reason, msg="skipped: %s" % reason, **result)
        module.fail_json(msg="cannot manage kernel modules here: %s" % reason, **result)
    modules = loaded_modules() or []
    if module.params["state"] == "present":
        present(module, modules, result)
    kernel = module.params["kernel"] or os.uname().release
    dep_text = read_text("/lib/modules/%s/modules.dep" % kernel)
    if dep_text is None:
        module.fail_json(msg="cannot read /lib/modules/%s/modules.dep: without it holders cannot be classified; "
                             "run depmod %s or set kernel" % (kernel, kernel), **result)
    dep_map, bad = parse_modules_dep(dep_text)
    if bad:
        module.warn("%d line(s) of modules.dep not understood, first: %r" % (len(bad), bad[0][:200]))
    absent(module, modules, dep_map, result)


if __name__ == "__main__":
    main()
