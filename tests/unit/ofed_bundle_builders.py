# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Build OFED / MLNX_OFED test bundles in a temporary directory from the real fixture files.

The metadata files (``.mlnx``, ``.arch``, ``distro``, ``DEBS/**/Packages``, ``BUILD_ID``, release notes) are
the real captured files. Every other file named in the bundle's real ``tree-listing.txt`` is created empty (the
module reads only names of those), and symlinks are recreated as symlinks. Shares no code with ``plugins/``.
"""
from __future__ import annotations

import os
import shutil
import tarfile

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
MLNX_41 = "MLNX_OFED_LINUX-4.1-1.0.2.0-ubuntu16.04-aarch64"
MLNX_50 = "MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64"


def _layout_from_listing(listing: str, dest: str) -> None:
    with open(listing, encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split(None, 2)
            if len(parts) != 3:
                continue
            mode, _size, path = parts
            target = None
            if mode == "120000" and " -> " in path:
                path, target = path.split(" -> ", 1)
            full = os.path.join(dest, path)
            if os.path.lexists(full):
                continue
            os.makedirs(os.path.dirname(full), exist_ok=True)
            if target is not None:
                os.symlink(target, full)
            else:
                open(full, "wb").close()


def build_mlnx_dir(tmp_path, name: str = MLNX_50) -> str:
    """An unpacked MLNX_OFED bundle directory ``<tmp>/<name>``."""
    src = os.path.join(FIXTURES, "mlnx-ofed", name)
    dest = os.path.join(str(tmp_path), name)
    shutil.copytree(os.path.join(src, "bundle"), dest)
    _layout_from_listing(os.path.join(src, "tree-listing.txt"), dest)
    return dest


def build_classic_dir(tmp_path, version: str = "1.5") -> str:
    """An unpacked classic OFED tarball ``<tmp>/OFED-<version>`` (1.5 or 3.5: BUILD_ID + docs + layout)."""
    src = os.path.join(FIXTURES, "classic-ofed", "OFED-%s" % version)
    dest = os.path.join(str(tmp_path), "OFED-%s" % version)
    os.makedirs(os.path.join(dest, "docs"))
    shutil.copy(os.path.join(src, "BUILD_ID"), dest)
    shutil.copy(os.path.join(src, "docs", "OFED_release_notes.txt"), os.path.join(dest, "docs"))
    _layout_from_listing(os.path.join(src, "tree-listing.txt"), dest)
    return dest


def build_notes_only_dir(tmp_path, release: str) -> str:
    """``<tmp>/OFED-<release>/docs/OFED_release_notes.txt`` from release-notes/ (no BUILD_ID: header gives the version)."""
    dest = os.path.join(str(tmp_path), "OFED-%s" % release)
    os.makedirs(os.path.join(dest, "docs"))
    shutil.copy(os.path.join(FIXTURES, "release-notes", "OFED-%s_OFED_release_notes.txt" % release),
                os.path.join(dest, "docs", "OFED_release_notes.txt"))
    return dest


def make_tgz(directory: str, out: str) -> str:
    """Pack ``directory`` as ``out`` (gzip), with the directory name as the top-level member."""
    with tarfile.open(out, "w:gz") as tar:
        tar.add(directory, arcname=os.path.basename(directory))
    return out


def truncate(path: str, keep_fraction: float = 0.5) -> str:
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(max(1, int(size * keep_fraction)))
    return path
