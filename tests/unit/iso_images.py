# SPDX-License-Identifier: GPL-3.0-or-later
"""Real ISO 9660 images of the fixture MLNX_OFED bundle, as the vendor publishes them next to the .tgz.

``tests/fixture_builders/build_mlnx_bundle.py`` builds the .tgz; its top directory is unpacked and written
with xorriso (Debian package ``xorriso``, installed by scripts/host-setup.sh) at the image's root, with Rock
Ridge (POSIX names, modes, symlinks) and Joliet, as in MLNX_OFED_LINUX-<ver>-<distro>-<arch>.iso.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILDER = os.path.join(REPO, "tests", "fixture_builders", "build_mlnx_bundle.py")


def xorriso() -> str:
    path = shutil.which("xorriso")
    assert path, "xorriso is not installed: run scripts/host-setup.sh (or apt-get install xorriso)"
    return path


def build_tgz(out_dir: str, distro: str = "skip-distro-check") -> str:
    """The fixture bundle ``MLNX_OFED_LINUX-5.0-2.1.8.0-<distro>-x86_64.tgz`` in ``out_dir``."""
    done = subprocess.run([sys.executable, BUILDER, "--out", out_dir, "--distro", distro],
                          capture_output=True, text=True, check=True, timeout=300)
    return done.stdout.split()[0]


def unpack(tgz: str, dest: str) -> str:
    """Unpack ``tgz`` into ``dest`` (modes and symlinks kept); returns its top directory."""
    with tarfile.open(tgz) as tar:
        top = tar.getnames()[0].split("/")[0]
        kwargs = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
        tar.extractall(dest, **kwargs)
    return os.path.join(dest, top)


def make_iso(tree: str, out: str, rock_ridge: bool = True) -> str:
    """``tree``'s contents at the root of a new ISO image ``out`` (Joliet always, Rock Ridge unless told)."""
    if rock_ridge:
        argv = [xorriso(), "-as", "mkisofs", "-R", "-J", "-V", "MLNX_OFED", "-o", out, tree]
    else:  # the mkisofs emulation always writes Rock Ridge; the native command can leave it out
        argv = [xorriso(), "-outdev", "stdio:" + out, "-rockridge", "off", "-joliet", "on", "-map", tree, "/"]
    subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300)
    return out


def tar_listing(tgz: str) -> dict:
    """name -> (type, mode, uid, gid, linkname, sha256 of the content) of every member, names relative to
    the top directory (``""`` for the top itself)."""
    listing = {}
    with tarfile.open(tgz) as tar:
        for member in tar:
            rel = member.name.rstrip("/").split("/", 1)[1] if "/" in member.name.rstrip("/") else ""
            digest = None
            if member.isfile():
                digest = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
            listing[rel] = (member.type, member.mode & 0o7777, member.uid, member.gid, member.linkname, digest)
    return listing


def tree_listing(root: str) -> dict:
    """The same for an unpacked tree on disk (uid/gid as they are)."""
    listing = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            stat = os.lstat(full)
            if os.path.islink(full):
                listing[rel] = ("link", os.readlink(full))
            elif os.path.isdir(full):
                listing[rel] = ("dir", stat.st_mode & 0o7777)
            else:
                with open(full, "rb") as handle:
                    listing[rel] = ("file", stat.st_mode & 0o7777, hashlib.sha256(handle.read()).hexdigest())
    return listing
