# SPDX-License-Identifier: GPL-3.0-or-later
"""Build file trees under ``tmp_path`` that look like a host's ``/`` for the ``kernel_facts`` tests.

The Debian 12 module tree is rebuilt from the REAL ``find -printf '%s\\t%p'`` captures in
``fixtures/captured/debian12-kernel``: each listed file becomes a sparse file of the captured size.
"""
from __future__ import annotations

import os

from conftest import fixture_path, read_fixture

CAPTURE = "captured/debian12-kernel"
DEBIAN12_KVER = read_fixture(CAPTURE, "kernel-release.txt").strip()
FIND_CAPTURES = ("find_kernel_drivers_infiniband.txt", "find_kernel_drivers_net_ethernet_mellanox.txt")


def write(root, rel: str, content="", mode: int | None = None) -> str:
    path = os.path.join(str(root), rel.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(content, bytes) else "w") as handle:
        handle.write(content)
    if mode is not None:
        os.chmod(path, mode)
    return path


def symlink(root, rel: str, target: str) -> str:
    path = os.path.join(str(root), rel.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)
    return path


def capture_listing(name: str) -> list[tuple[int, str]]:
    """``[(size, rel_path)]`` from a ``find -printf '%s\\t%p\\n'`` capture."""
    rows = []
    for line in read_fixture(CAPTURE, name).splitlines():
        size, path = line.split("\t", 1)
        rows.append((int(size), path))
    return rows


def build_debian12_modules(root, kver: str = DEBIAN12_KVER) -> str:
    """Sparse files of the captured sizes plus the captured modules.dep/modules.symbols lines."""
    modules_dir = os.path.join(str(root), "lib/modules", kver)
    for name in FIND_CAPTURES:
        for size, rel in capture_listing(name):
            path = os.path.join(modules_dir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                handle.truncate(size)
    write(modules_dir, "modules.dep", read_fixture(CAPTURE, "modules.dep_grep_infiniband_mellanox.txt"))
    write(modules_dir, "modules.symbols", read_fixture(CAPTURE, "modules.symbols_grep_ib_register_client.txt"))
    write(root, "/boot/config-%s" % kver, read_fixture(CAPTURE, "config_grep_infiniband_mlx.txt"))
    return modules_dir


def write_mountinfo(root, root_line: str = "27 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw",
                    extra: str = "") -> None:
    """A small constructed ``/proc/self/mountinfo``."""
    text = ("22 27 0:21 / /proc rw,relatime - proc proc rw\n"
            "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
            + root_line + "\n" + extra)
    write(root, "/proc/self/mountinfo", text)


__all__ = ["CAPTURE", "DEBIAN12_KVER", "build_debian12_modules", "capture_listing", "fixture_path",
           "symlink", "write", "write_mountinfo"]
