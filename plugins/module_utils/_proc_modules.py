# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Parse ``/proc/modules`` and pick the loaded modules that belong to the IB/RDMA stack.

``/proc/modules`` lines read ``name size refcount holders state offset [taints]``, e.g.
``ib_core 405504 8 rdma_ucm,ib_uverbs,ib_cm, Live 0x0000000000000000``. ``holders`` (lsmod's "Used by")
is comma-separated with a trailing comma, or ``-`` when nothing holds the module.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import is_ib_path

# Core modules whose (transitive) holders are all part of the IB/RDMA stack.
IB_ROOT_MODULES = ("ib_core", "mlx4_core", "mlx5_core", "mlx_compat")

# RDMA users that may live outside the IB driver directories (net/, fs/, nvme/, out-of-tree).
KNOWN_RDMA_ULPS = frozenset((
    "rdma_rxe", "siw", "rpcrdma", "xprtrdma", "svcrdma", "nvme_rdma", "nvmet_rdma",
    "ib_isert", "ib_srpt", "ib_iser", "ib_srp", "ib_ipoib", "isert_scst", "ko2iblnd",
    "rds_rdma", "smc", "smc_diag", "9pnet_rdma", "ksmbd", "cifs_rdma",
))


def parse_proc_modules(text: str) -> tuple[list[dict], list[str]]:
    """Return ``(modules, bad_lines)``; each module is ``{name, size, refcount, holders, state}``.

    ``refcount`` is ``None`` when the kernel prints ``-`` (module unloading not supported).
    """
    modules: list[dict] = []
    bad: list[str] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        fields = raw.split()
        if len(fields) < 5 or not fields[1].isdigit() or not (fields[2].isdigit() or fields[2] == "-"):
            bad.append(raw)
            continue
        holders_field = fields[3]
        holders = [] if holders_field == "-" else [h for h in holders_field.split(",") if h]
        modules.append({
            "name": fields[0],
            "size": int(fields[1]),
            "refcount": int(fields[2]) if fields[2].isdigit() else None,
            "holders": holders,
            "state": fields[4],
        })
    return modules, bad


def holder_closure(modules: Iterable[Mapping], roots: Iterable[str]) -> set[str]:
    """Names of ``roots`` that are loaded plus every module that holds them, directly or not."""
    return closure_of_holders({m["name"]: list(m["holders"]) for m in modules}, roots)


def closure_of_holders(holders_of: Mapping[str, Iterable[str]], roots: Iterable[str]) -> set[str]:
    """``roots`` that are keys of ``holders_of`` plus their transitive holders (listed holders are kept
    even when they are not keys themselves: they hold)."""
    seen: set[str] = set()
    stack = [r for r in roots if r in holders_of]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(h for h in holders_of.get(name, ()) if h not in seen)
    return seen


def select_ib_modules(modules: list[dict], dep_map: Mapping[str, Mapping] | None = None) -> list[dict]:
    """Loaded modules of the IB/RDMA stack, in ``/proc/modules`` order, with their ``modules.dep`` path.

    A module is IB-related when ``modules.dep`` places it under an IB/Mellanox driver directory, when it
    is in the transitive holder closure of ``ib_core``/``mlx*_core``, or when it is a known RDMA ULP.
    """
    dep_map = dep_map or {}
    closure = holder_closure(modules, IB_ROOT_MODULES)
    selected = []
    for mod in modules:
        name = mod["name"]
        path = (dep_map.get(name) or {}).get("path")
        if name in closure or name in KNOWN_RDMA_ULPS or (path and is_ib_path(path)):
            item = dict(mod)
            item["path"] = path
            selected.append(item)
    return selected
