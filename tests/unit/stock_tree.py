# SPDX-License-Identifier: GPL-3.0-or-later
"""A Debian 12 ``/lib/modules/<kver>`` tree for the ``stock_modules`` tests, and a whole-tree digest.

Names and sizes come from the REAL captures (``kernel_tree_builder``); the content is constructed: each file
starts with its own path (so no two files are alike and a swap or a truncation changes a checksum), the rest
stays sparse. Constructed additions, marked below: a symlink, a 0600 file, an empty directory, and the module
files of the dependents outside the moved directories.
"""
from __future__ import annotations

import hashlib
import os

from kernel_tree_builder import DEBIAN12_KVER, build_debian12_modules, symlink, write

DEPENDENT_FILES = ("kernel/net/sunrpc/xprtrdma/rpcrdma.ko", "kernel/drivers/nvme/host/nvme-rdma.ko",
                   "kernel/net/smc/smc.ko", "kernel/net/rds/rds_rdma.ko")
LINK = "kernel/drivers/infiniband/hw/mlx5/mlx5_ib_compat.ko"  # constructed
PRIVATE = "kernel/drivers/infiniband/core/ib_core.ko"  # made 0600 (constructed)
EMPTY_DIR = "kernel/drivers/infiniband/hw/empty"  # constructed


def build(root) -> str:
    """Build the tree under ``root``; return ``<root>/lib/modules/<kver>``."""
    modules_dir = build_debian12_modules(root)
    for dirpath, _dirnames, filenames in os.walk(os.path.join(modules_dir, "kernel")):
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "r+b") as handle:
                handle.write(("iser-ofed test content of %s\n" % os.path.relpath(path, modules_dir)).encode())
    for rel in DEPENDENT_FILES:
        write(modules_dir, rel, "constructed %s\n" % rel)
    symlink(modules_dir, LINK, "mlx5_ib.ko")
    os.chmod(os.path.join(modules_dir, PRIVATE), 0o600)
    os.makedirs(os.path.join(modules_dir, EMPTY_DIR))
    os.chmod(os.path.join(modules_dir, EMPTY_DIR), 0o750)
    return modules_dir


def digest(top: str) -> dict:
    """``{relpath: (kind, mode, uid, gid, sha256 | link target)}`` of everything below ``top``."""
    out = {}
    if not os.path.isdir(top):
        return out
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, top)
            if os.path.islink(path):
                out[rel] = ("link", None, st.st_uid, st.st_gid, os.readlink(path))
            elif os.path.isdir(path):
                out[rel] = ("dir", st.st_mode & 0o7777, st.st_uid, st.st_gid, None)
            else:
                with open(path, "rb") as handle:
                    out[rel] = ("file", st.st_mode & 0o7777, st.st_uid, st.st_gid,
                                hashlib.sha256(handle.read()).hexdigest())
    return out


__all__ = ["DEBIAN12_KVER", "DEPENDENT_FILES", "EMPTY_DIR", "LINK", "PRIVATE", "build", "digest", "symlink", "write"]
