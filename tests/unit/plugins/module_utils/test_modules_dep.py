# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import (
    is_ib_path, is_module_file, module_name_from_path, parse_modules_dep)
from conftest import read_fixture

CAPTURE = "captured/debian12-kernel"


def _show_depends(name: str) -> list[str]:
    """Module names in modprobe --show-depends order (REAL capture)."""
    text = read_fixture(CAPTURE, "modprobe_show-depends_%s.txt" % name)
    return [module_name_from_path(line.split()[1]) for line in text.splitlines() if line.startswith("insmod ")]


def test_parse_real_debian12_modules_dep():
    text = read_fixture(CAPTURE, "modules.dep_grep_infiniband_mellanox.txt")
    deps, bad = parse_modules_dep(text)
    assert bad == []
    assert len(deps) == len(text.splitlines()) == 35
    assert deps["ib_core"] == {"path": "kernel/drivers/infiniband/core/ib_core.ko", "deps": []}
    assert deps["nvme_rdma"]["path"] == "kernel/drivers/nvme/host/nvme-rdma.ko"
    assert deps["rdma_cm"]["deps"] == ["iw_cm", "ib_cm", "ib_core", "configfs"]
    assert "pci_hyperv_intf" in deps["mlx5_core"]["deps"]


@pytest.mark.parametrize("module", ["mlx5_ib", "mlx4_ib", "ib_ipoib"])
def test_deps_agree_with_real_modprobe_show_depends(module):
    deps, _bad = parse_modules_dep(read_fixture(CAPTURE, "modules.dep_grep_infiniband_mellanox.txt"))
    order = _show_depends(module)
    assert order[-1] == module
    assert sorted(deps[module]["deps"]) == sorted(order[:-1])


@pytest.mark.parametrize("path, name", [
    ("kernel/drivers/infiniband/core/ib_core.ko", "ib_core"),
    ("kernel/drivers/infiniband/core/ib_core.ko.xz", "ib_core"),
    ("kernel/drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko.zst", "mlx5_core"),
    ("/lib/modules/2.6.32/kernel/drivers/net/mlx4/mlx4_core.ko.gz", "mlx4_core"),
    ("kernel/drivers/pci/controller/pci-hyperv-intf.ko", "pci_hyperv_intf"),
    ("updates/dkms/mlx_compat.ko", "mlx_compat"),
])
def test_module_name_from_path(path, name):
    assert module_name_from_path(path) == name
    assert is_module_file(path)


@pytest.mark.parametrize("name", ["modules.dep", "ib_core.ko.bz2", "readme.txt", "x.kobj"])
def test_not_module_files(name):
    assert not is_module_file(name)


@pytest.mark.parametrize("path, expected", [
    ("kernel/drivers/infiniband/core/ib_core.ko", True),
    ("kernel/drivers/net/mlx4/mlx4_core.ko", True),
    ("kernel/drivers/net/ethernet/mellanox/mlxfw/mlxfw.ko", True),
    ("extra/mlnx-ofa_kernel/drivers/infiniband/core/ib_core.ko", True),
    ("kernel/drivers/nvme/host/nvme-rdma.ko", False),
    ("kernel/net/psample/psample.ko", False),
    ("kernel/drivers/net/ethernet/intel/ice/ice.ko", False),
])
def test_is_ib_path(path, expected):
    assert is_ib_path(path) is expected


def test_garbage_and_truncated_lines_are_reported_not_raised():
    # constructed: a valid line, a truncated one, a line of noise, a compressed module
    text = ("kernel/a/x.ko.xz: kernel/a/y.ko.xz\n"
            "kernel/drivers/infiniband/core/ib_c\n"
            "!!garbage!!: 1 2 3\n"
            "updates/dkms/ib_core.ko.zst:\n")
    deps, bad = parse_modules_dep(text)
    assert deps == {"x": {"path": "kernel/a/x.ko.xz", "deps": ["y"]},
                    "ib_core": {"path": "updates/dkms/ib_core.ko.zst", "deps": []}}
    assert bad == ["kernel/drivers/infiniband/core/ib_c", "!!garbage!!: 1 2 3"]


def test_empty_input():
    assert parse_modules_dep("") == ({}, [])
