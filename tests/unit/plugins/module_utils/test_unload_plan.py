# SPDX-License-Identifier: GPL-3.0-or-later
"""Unload order, plan set and the unknown-holder rule (``_unload_plan``).

``/proc/modules`` inputs are constructed (see tests/unit/fixtures/constructed/README.md); the dependency data
is the REAL ``modules.dep`` capture of Debian 12's kernel.
"""
from __future__ import annotations

import os

import pytest

from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import parse_modules_dep
from ansible_collections.iser.ofed.plugins.module_utils._proc_modules import parse_proc_modules
from ansible_collections.iser.ofed.plugins.module_utils._unload_plan import (
    build_unload_plan,
    live_holders,
    load_plan,
    read_sys_holders,
    unload_order,
)

from conftest import read_fixture

# Constructed: SCST's out-of-tree modules and an out-of-tree ib_register_client user, as depmod lists extra/.
EXTRA_DEP = (
    "extra/isert_scst.ko: extra/iscsi_scst.ko extra/scst.ko kernel/drivers/infiniband/core/rdma_cm.ko "
    "kernel/drivers/infiniband/core/iw_cm.ko kernel/drivers/infiniband/core/ib_cm.ko "
    "kernel/drivers/infiniband/core/ib_core.ko\n"
    "extra/iscsi_scst.ko: extra/scst.ko\n"
    "extra/scst.ko:\n"
    "extra/ibclient.ko: kernel/drivers/infiniband/core/ib_core.ko\n"
)


def dep_map(extra: str = EXTRA_DEP) -> dict:
    text = read_fixture("captured", "debian12-kernel", "modules.dep_grep_infiniband_mellanox.txt") + extra
    parsed, bad = parse_modules_dep(text)
    assert not bad
    return parsed


def proc(name: str) -> list[dict]:
    modules, bad = parse_proc_modules(read_fixture("constructed", "proc_modules", name))
    assert not bad
    return modules


def assert_valid_order(plan: list[str], modules: list[dict], deps: dict) -> None:
    """Every holder before what it holds, every module before its modules.dep dependencies."""
    pos = {name: i for i, name in enumerate(plan)}
    holders = live_holders(modules)
    for name in plan:
        for holder in holders.get(name, ()):
            if holder in pos:
                assert pos[holder] < pos[name], "%s holds %s but comes after it" % (holder, name)
        for dep in deps.get(name, {}).get("deps", ()):
            if dep in pos:
                assert pos[name] < pos[dep], "%s needs %s but comes after it" % (name, dep)


@pytest.mark.parametrize("fixture", ["debian12_storage_ulps.txt", "vm_softroce_isert.txt",
                                     "vm_mlx5_ipoib_nfsrdma.txt"])
def test_default_plan_is_a_valid_reverse_topological_order(fixture):
    modules, deps = proc(fixture), dep_map()
    built = build_unload_plan(modules, deps)
    assert_valid_order(built["plan"], modules, deps)
    assert built["cycle"] == []
    # ib_core goes after every module that is not a NIC core or firmware helper
    after_core = built["plan"][built["plan"].index("ib_core") + 1:]
    assert set(after_core) <= {"mlx4_core", "mlxfw"}
    # non-IB dependencies stay loaded
    assert not set(built["plan"]) & {"configfs", "sunrpc", "target_core_mod", "iscsi_target_mod", "psample",
                                     "udp_tunnel", "virtio_net", "ext4", "nvme_core"}


def test_storage_ulps_come_first():
    built = build_unload_plan(proc("debian12_storage_ulps.txt"), dep_map())
    plan = built["plan"]
    first = plan[:7]
    assert set(first) == {"ib_iser", "ib_isert", "ib_srpt", "isert_scst", "nvme_rdma", "rdma_ucm", "rpcrdma"}
    assert plan.index("mlx4_core") > plan.index("mlx4_ib") and plan.index("mlx4_core") > plan.index("mlx4_en")
    assert plan.index("mlx5_core") > plan.index("mlx5_ib") < plan.index("mlxfw")
    assert built["unknown"] == []  # isert_scst lives in extra/ but is a known RDMA ULP


def test_softroce_vm_plan_exact_and_deterministic():
    modules, deps = proc("vm_softroce_isert.txt"), dep_map()
    expected = ["ib_isert", "ib_ipoib", "mlx4_ib", "mlx5_ib", "rdma_cm", "rdma_rxe", "ib_cm", "ib_uverbs",
                "iw_cm", "mlx5_core", "ib_core", "mlx4_core", "mlxfw"]
    assert build_unload_plan(modules, deps)["plan"] == expected
    assert build_unload_plan(list(reversed(modules)), deps)["plan"] == expected


def test_explicit_roots_take_holders_only():
    built = build_unload_plan(proc("vm_softroce_isert.txt"), dep_map(), roots=["rdma-cm"])
    assert built["plan"] == ["ib_isert", "rdma_cm"]
    assert built["holders"] == {"ib_isert": [], "rdma_cm": ["ib_isert"]}
    assert build_unload_plan(proc("vm_softroce_isert.txt"), dep_map(), roots=["not_loaded"])["plan"] == []


def test_order_uses_modules_dep_when_holders_miss_an_edge():
    # Constructed: /proc/modules shows no holder link between a and b, modules.dep says a needs b.
    modules = [{"name": "b", "size": 1, "refcount": 0, "holders": [], "state": "Live"},
               {"name": "a", "size": 1, "refcount": 0, "holders": [], "state": "Live"}]
    plan, _cycle = unload_order({"a", "b"}, live_holders(modules), {"b": {"deps": ["a"]}})
    assert plan == ["b", "a"]


def test_cycle_is_reported_not_looped():
    holders = {"a": ["b"], "b": ["a"]}
    plan, cycle = unload_order({"a", "b"}, holders, {})
    assert sorted(plan) == ["a", "b"] and cycle == ["a", "b"]


UNKNOWN_LINE = "ibclient 16384 0 - Live 0x0000000000000000 (OE)\n"


def with_unknown(name: str) -> list[dict]:
    """Add the constructed out-of-tree ib_register_client user as a holder of ib_core."""
    text = UNKNOWN_LINE + read_fixture("constructed", "proc_modules", name)
    text = text.replace("ib_core 405504 9 ", "ib_core 405504 10 ibclient,")
    modules, bad = parse_proc_modules(text)
    assert not bad
    return modules


@pytest.mark.parametrize("extra, path", [(EXTRA_DEP, "extra/ibclient.ko"), ("", None)])
def test_out_of_tree_holder_is_unknown(extra, path):
    built = build_unload_plan(with_unknown("vm_softroce_isert.txt"), dep_map(extra))
    assert built["unknown"] == [{"name": "ibclient", "path": path, "holds": ["ib_core"]}]
    assert built["plan"].index("ibclient") < built["plan"].index("ib_core")


def test_named_holder_is_vouched_for():
    built = build_unload_plan(with_unknown("vm_softroce_isert.txt"), dep_map(), roots=["ib_core", "ibclient"])
    assert built["unknown"] == []
    assert built["plan"][-1] == "ib_core" and "ibclient" in built["plan"]


def test_explicit_root_with_unknown_holder_outside_the_names():
    built = build_unload_plan(with_unknown("vm_softroce_isert.txt"), dep_map(), roots=["ib_core"])
    assert [u["name"] for u in built["unknown"]] == ["ibclient"]


def test_non_module_refs():
    built = build_unload_plan(proc("debian12_storage_ulps.txt"), dep_map())
    assert built["non_module_refs"] == {}
    modules = proc("vm_softroce_isert.txt")
    for mod in modules:
        if mod["name"] == "ib_uverbs":
            mod["refcount"] += 2  # two open /dev/infiniband/uverbs* handles
    assert build_unload_plan(modules, dep_map())["non_module_refs"] == {"ib_uverbs": 2}


def test_sys_holders_are_merged(tmp_path):
    # Constructed sysfs: /sys/module/ib_core/holders/ lists a holder that /proc/modules truncated away.
    holders_dir = tmp_path / "sys" / "module" / "ib_core" / "holders"
    holders_dir.mkdir(parents=True)
    for name in ("ib_cm", "ibclient"):
        os.symlink("../../%s" % name, str(holders_dir / name))
    sys_holders = read_sys_holders(str(tmp_path), ["ib_core", "rdma_cm"])
    assert sys_holders == {"ib_core": ["ib_cm", "ibclient"]}
    modules = proc("vm_softroce_isert.txt") + parse_proc_modules(UNKNOWN_LINE)[0]
    built = build_unload_plan(modules, dep_map(), sys_holders)
    assert "ibclient" in built["plan"] and built["unknown"][0]["name"] == "ibclient"


def test_load_plan_skips_loaded_and_keeps_order():
    assert load_plan(["rdma_rxe", "ib-isert", "ib_core", "rdma_rxe"], ["ib_core"]) == ["rdma_rxe", "ib_isert"]
    assert load_plan(["ib_core"], ["ib_core"]) == []
