# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import parse_modules_dep
from ansible_collections.iser.ofed.plugins.module_utils._proc_modules import (
    holder_closure, parse_proc_modules, select_ib_modules)
from conftest import read_fixture

# constructed from the real Debian 12 dependencies (see fixtures/constructed/README.md)
VM_PROC_MODULES = read_fixture("constructed", "proc_modules", "vm_mlx5_ipoib_nfsrdma.txt")
DEBIAN12_DEP = parse_modules_dep(read_fixture("captured/debian12-kernel",
                                              "modules.dep_grep_infiniband_mellanox.txt"))[0]

IB_STACK = {"rpcrdma", "rdma_ucm", "ib_ipoib", "mlx5_ib", "rdma_cm", "iw_cm", "ib_cm", "ib_uverbs",
            "ib_core", "mlx5_core", "mlxfw"}


def test_parse_example_line_from_the_issue():
    mods, bad = parse_proc_modules(
        "ib_core 405504 8 rdma_ucm,ib_uverbs,ib_cm, Live 0x0000000000000000\n"
        "mlx5_ib 458752 0 - Live 0xffffffffc0a00000 (OE)\n")
    assert bad == []
    assert mods == [
        {"name": "ib_core", "size": 405504, "refcount": 8, "holders": ["rdma_ucm", "ib_uverbs", "ib_cm"],
         "state": "Live"},
        {"name": "mlx5_ib", "size": 458752, "refcount": 0, "holders": [], "state": "Live"},
    ]


def test_refcount_dash_and_unloading_state():
    mods, bad = parse_proc_modules("foo 16384 - - Unloading 0x0\n")
    assert bad == []
    assert mods[0]["refcount"] is None and mods[0]["state"] == "Unloading"


@pytest.mark.parametrize("line", [
    "ib_core 405504",                       # truncated
    "ib_core size 8 - Live 0x0",            # non-numeric size
    "ib_core 405504 many - Live 0x0",       # non-numeric refcount
])
def test_bad_lines(line):
    mods, bad = parse_proc_modules("ext4 1007616 1 - Live 0x0\n" + line + "\n")
    assert [m["name"] for m in mods] == ["ext4"]
    assert bad == [line]


def test_holder_closure_on_constructed_vm():
    mods, _bad = parse_proc_modules(VM_PROC_MODULES)
    assert holder_closure(mods, ["ib_core"]) == IB_STACK - {"mlx5_core", "mlxfw"}
    assert holder_closure(mods, ["mlx5_core"]) == {"mlx5_core", "mlx5_ib"}
    assert holder_closure(mods, ["not_loaded"]) == set()


def test_select_ib_modules_with_real_modules_dep():
    mods, bad = parse_proc_modules(VM_PROC_MODULES)
    assert bad == [] and len(mods) == 18
    selected = select_ib_modules(mods, DEBIAN12_DEP)
    names = [m["name"] for m in selected]
    assert set(names) == IB_STACK
    # /proc/modules order is kept; holders and modules.dep paths are carried along
    assert names[0] == "rpcrdma"
    ib_core = next(m for m in selected if m["name"] == "ib_core")
    assert ib_core["refcount"] == 8 and "rpcrdma" in ib_core["holders"]
    assert ib_core["path"] == "kernel/drivers/infiniband/core/ib_core.ko"
    # mlxfw is only found through its modules.dep path: nothing IB holds it
    mlxfw = next(m for m in selected if m["name"] == "mlxfw")
    assert mlxfw["path"] == "kernel/drivers/net/ethernet/mellanox/mlxfw/mlxfw.ko"


def test_mlxfw_is_not_selected_without_modules_dep():
    mods, _bad = parse_proc_modules(VM_PROC_MODULES)
    names = {m["name"] for m in select_ib_modules(mods, None)}
    assert names == IB_STACK - {"mlxfw"}
    assert "configfs" not in names and "sunrpc" not in names and "psample" not in names


def test_known_ulp_without_holder_relation_or_path():
    # constructed: rdma_rxe/siw loaded alone (software RDMA), ko2iblnd from Lustre (out of tree)
    mods, _bad = parse_proc_modules("siw 188416 0 - Live 0x0\nko2iblnd 237568 0 - Live 0x0\n"
                                    "ext4 1007616 1 - Live 0x0\n")
    assert [m["name"] for m in select_ib_modules(mods, {})] == ["siw", "ko2iblnd"]
