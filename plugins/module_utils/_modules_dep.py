# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Parse ``/lib/modules/<kver>/modules.dep`` and classify module paths.

A ``modules.dep`` line is ``<path>: <dep path> <dep path> ...`` with paths relative to
``/lib/modules/<kver>`` (absolute paths are accepted too: old depmod wrote them). Module names are the
file names without ``.ko`` and compression suffix, with ``-`` replaced by ``_`` as the kernel does
(``nvme-rdma.ko`` is loaded as ``nvme_rdma``).
"""
from __future__ import annotations

import re

MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")

# Path fragments of the directories that hold IB/RDMA and Mellanox modules, stock or OFED-built.
IB_PATH_MARKERS = (
    "/drivers/infiniband/",
    "/drivers/net/mlx4/",
    "/drivers/net/ethernet/mellanox/",
    "/mlnx-ofa_kernel/",
    "/ofa_kernel/",
)

_SUFFIX_RE = re.compile(r"\.ko(\.(xz|zst|gz))?$")


def module_name_from_path(path: str) -> str:
    """``kernel/drivers/nvme/host/nvme-rdma.ko.xz`` -> ``nvme_rdma``."""
    base = path.rstrip("/").rsplit("/", 1)[-1]
    return _SUFFIX_RE.sub("", base).replace("-", "_")


def is_module_file(name: str) -> bool:
    """True for ``x.ko`` and its compressed forms."""
    return _SUFFIX_RE.search(name) is not None


def is_ib_path(path: str) -> bool:
    """True when a module path lies under an IB/RDMA or Mellanox driver directory."""
    probe = "/" + path.lstrip("/")
    return any(marker in probe for marker in IB_PATH_MARKERS)


def parse_modules_dep(text: str) -> tuple[dict[str, dict], list[str]]:
    """Return ``({name: {"path": rel_path, "deps": [names]}}, bad_lines)``.

    Lines without ``:`` or whose module path does not end in a module suffix are returned in
    ``bad_lines`` (truncated or garbage input) instead of raising.
    """
    modules: dict[str, dict] = {}
    bad: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        path, sep, rest = line.partition(":")
        path = path.strip()
        if not sep or not is_module_file(path):
            bad.append(raw)
            continue
        deps = [module_name_from_path(dep) for dep in rest.split() if is_module_file(dep)]
        modules[module_name_from_path(path)] = {"path": path, "deps": deps}
    return modules, bad
