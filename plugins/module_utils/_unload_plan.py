# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Which loaded modules to unload, in which order, and which of them nobody vouched for.

Inputs are parsed data only (``/proc/modules`` from ``_proc_modules``, ``modules.dep`` from ``_modules_dep``,
``/sys/module/<m>/holders/``): no hard-coded unload list.

* **Plan set**: the loaded roots plus every module that holds one of them, directly or not ("holds" is the
  union of the ``/proc/modules`` "Used by" column and ``/sys/module/<m>/holders/``).
* **Order**: ``A`` must go before ``B`` when ``A`` holds ``B`` live or ``modules.dep`` says ``A`` needs ``B``.
  Each module gets its *height* (longest chain of such edges below it inside the plan set); the plan is sorted
  by height, highest first, then by name. That is a topological order (an edge always goes from a higher to a
  lower height) and it is deterministic: storage ULPs (``isert_scst``, ``ib_isert``, ``nvme_rdma``,
  ``rpcrdma``...) sit on ``rdma_cm -> iw_cm -> ib_core`` and come first, ``ib_core`` and the NIC cores come
  after everything that uses them.
* **Unknown holder** (the rule, in this order): a module in the plan set is *known* when the caller named it
  in ``modules``; or when ``modules.dep`` places it under an IB/RDMA/Mellanox driver directory
  (``_modules_dep.is_ib_path``: stock ``drivers/infiniband``, ``drivers/net/mlx4``,
  ``drivers/net/ethernet/mellanox``, OFED's ``mlnx-ofa_kernel``/``ofa_kernel``); or when it is one of
  ``_proc_modules.KNOWN_RDMA_ULPS`` (RDMA users that live elsewhere: ``rpcrdma``, ``nvme_rdma``,
  ``isert_scst``, ``ko2iblnd``...). Every other module in the plan set is an *unknown holder*: an out-of-tree
  module in ``extra/`` or ``updates/`` that called ``ib_register_client``, a module without a
  ``modules.dep`` entry, ``cifs`` with SMB Direct, ``mlx5_vdpa``... Unknown holders refuse the unload unless
  ``force`` (or unless the caller names them in ``modules``).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import is_ib_path
from ansible_collections.iser.ofed.plugins.module_utils._proc_modules import (
    KNOWN_RDMA_ULPS,
    closure_of_holders,
    select_ib_modules,
)


def normalize_name(name: str) -> str:
    """Module names as the kernel lists them: ``nvme-rdma`` -> ``nvme_rdma``."""
    return name.strip().replace("-", "_")


def read_sys_holders(root: str, names: Iterable[str]) -> dict[str, list[str]]:
    """``{module: [holders]}`` from ``<root>/sys/module/<m>/holders/``; modules without the directory are left out."""
    found: dict[str, list[str]] = {}
    for name in names:
        path = os.path.join(root, "sys/module", name, "holders")
        try:
            entries = os.listdir(path)
        except OSError:
            continue
        found[name] = sorted(entries)
    return found


def live_holders(modules: Iterable[Mapping], sys_holders: Mapping[str, Iterable[str]] | None = None
                 ) -> dict[str, list[str]]:
    """Union of the ``/proc/modules`` holders and the sysfs holders, sorted, for every loaded module."""
    sys_holders = sys_holders or {}
    merged: dict[str, list[str]] = {}
    for mod in modules:
        name = mod["name"]
        merged[name] = sorted(set(mod["holders"]) | set(sys_holders.get(name, ())))
    return merged


def default_roots(modules: list[dict], dep_map: Mapping[str, Mapping] | None) -> list[str]:
    """Every IB-related loaded module, as ``_proc_modules.select_ib_modules`` selects them."""
    return sorted(m["name"] for m in select_ib_modules(modules, dep_map))


def plan_set(holders: Mapping[str, Iterable[str]], roots: Iterable[str]) -> set[str]:
    """Loaded roots plus their transitive holders (holders that are not loaded themselves are kept: they hold)."""
    return closure_of_holders(holders, roots)


def _edges(members: set[str], holders: Mapping[str, Iterable[str]],
           dep_map: Mapping[str, Mapping]) -> dict[str, set[str]]:
    """``{a: {b, ...}}``: ``a`` must be unloaded before each ``b`` (all inside ``members``)."""
    before: dict[str, set[str]] = {m: set() for m in members}
    for name in members:
        for holder in holders.get(name, ()):
            if holder in members and holder != name:
                before[holder].add(name)
        for dep in (dep_map.get(name) or {}).get("deps", ()):
            if dep in members and dep != name:
                before[name].add(dep)
    return before


def unload_order(members: Iterable[str], holders: Mapping[str, Iterable[str]],
                 dep_map: Mapping[str, Mapping] | None = None) -> tuple[list[str], list[str]]:
    """``(plan, cycle)``: ``members`` sorted by (height descending, name); ``cycle`` lists modules on a cycle.

    A cycle cannot happen with real kernels; if the data shows one, its members get the height reached when
    the cycle was detected and are listed in ``cycle`` so the caller can report it.
    """
    member_set = set(members)
    before = _edges(member_set, holders, dep_map or {})
    height: dict[str, int] = {}
    cycle: set[str] = set()

    def visit(name: str, path: tuple) -> int:
        if name in height:
            return height[name]
        if name in path:
            cycle.update(path[path.index(name):])
            return 0
        below = [visit(nxt, path + (name,)) + 1 for nxt in sorted(before[name])]
        height[name] = max(below) if below else 0
        return height[name]

    for name in sorted(member_set):
        visit(name, ())
    plan = sorted(member_set, key=lambda n: (-height[n], n))
    return plan, sorted(cycle)


def is_known(name: str, dep_map: Mapping[str, Mapping], named: Iterable[str] = ()) -> bool:
    """The module docstring's rule: named by the caller, under an IB driver directory, or a known RDMA ULP."""
    if name in set(named) or name in KNOWN_RDMA_ULPS:
        return True
    path = (dep_map.get(name) or {}).get("path")
    return bool(path) and is_ib_path(path)


def unknown_holders(plan: Iterable[str], holders: Mapping[str, Iterable[str]], dep_map: Mapping[str, Mapping],
                    named: Iterable[str] = ()) -> list[dict]:
    """Unknown modules of the plan: ``{name, path, holds: [plan modules it holds]}``, sorted by name."""
    plan_list = list(plan)
    named_list = list(named)
    found = []
    for name in sorted(plan_list):
        if is_known(name, dep_map, named_list):
            continue
        holds = sorted(m for m in plan_list if name in holders.get(m, ()))
        found.append({"name": name, "path": (dep_map.get(name) or {}).get("path"), "holds": holds})
    return found


def non_module_refs(modules: Iterable[Mapping], plan: Iterable[str]) -> dict[str, int]:
    """``{module: n}`` for plan modules whose refcount exceeds their module holders.

    Each module holder takes one reference; the rest come from open device files, mounts, sockets, netdevs
    or kernel code that took a reference without being a holder. ``modprobe -r`` fails while they exist.
    """
    wanted = set(plan)
    extra = {}
    for mod in modules:
        if mod["name"] in wanted and mod.get("refcount") is not None:
            surplus = mod["refcount"] - len(mod["holders"])
            if surplus > 0:
                extra[mod["name"]] = surplus
    return extra


def build_unload_plan(modules: list[dict], dep_map: Mapping[str, Mapping] | None,
                      sys_holders: Mapping[str, Iterable[str]] | None = None,
                      roots: Iterable[str] | None = None) -> dict:
    """Everything ``state=absent`` decides before looking at interlocks.

    Returns ``{roots, plan, holders, unknown, non_module_refs, cycle}``; ``holders`` covers the plan's modules.
    """
    dep_map = dep_map or {}
    named = [normalize_name(r) for r in roots] if roots is not None else []
    root_list = named if roots is not None else default_roots(modules, dep_map)
    holders = live_holders(modules, sys_holders)
    members = plan_set(holders, root_list)
    plan, cycle = unload_order(members, holders, dep_map)
    return {
        "roots": root_list,
        "plan": plan,
        "holders": {name: list(holders.get(name, [])) for name in plan},
        "unknown": unknown_holders(plan, holders, dep_map, named),
        "non_module_refs": non_module_refs(modules, plan),
        "cycle": cycle,
    }


def load_plan(wanted: Iterable[str], loaded: Iterable[str]) -> list[str]:
    """Modules to ``modprobe`` for ``state=present``: ``wanted`` in the given order, minus loaded ones, no repeats."""
    have = set(loaded)
    plan: list[str] = []
    for name in wanted:
        norm = normalize_name(name)
        if norm and norm not in have and norm not in plan:
            plan.append(norm)
    return plan
