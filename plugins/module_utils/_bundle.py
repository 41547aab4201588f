# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Read an OFED / MLNX_OFED bundle: an unpacked directory or a tar archive, never extracted.

One pass over the bundle records every file's relative path (from the bundle root) and keeps the text of
the few small files the release check needs (``.mlnx``, ``.arch``, ``distro``, ``BUILD_ID``,
``docs/OFED_release_notes.txt``, ``Packages`` indexes, ``.supported_kernels``...). Archives are read with
``tarfile`` member by member (nothing is written to disk). ISO 9660 images (``.iso``, as the vendor also
publishes MLNX_OFED) are read without mounting through ``_iso`` (Rock Ridge names; needs ``pycdlib``, on the
controller).
"""
from __future__ import annotations

import os
import posixpath
import tarfile
import zlib
from typing import Callable, Dict, List, Optional, Tuple

from ansible_collections.iser.ofed.plugins.module_utils import _iso

MAX_TEXT_BYTES = 8 * 1024 * 1024
# Basenames whose text is kept (the release check reads nothing else).
WANTED_BASENAMES = frozenset((
    ".mlnx", ".arch", "distro", ".supported_kernels", "supported_kernels", "BUILD_ID",
    "OFED_release_notes.txt", "Packages",
))
# A bundle root is a directory that holds one of these.
ROOT_MARKERS = (".mlnx", "BUILD_ID", "docs/OFED_release_notes.txt", "mlnxofedinstall", "install.pl")


class BundleError(ValueError):
    """The bundle cannot be read; the message names the path and what was expected."""


class Bundle:
    """What was read from a bundle: relative file paths and the text of the wanted files."""

    def __init__(self, path: str, kind: str, root: str, files: List[str], texts: Dict[str, str]) -> None:
        self.path = path
        self.kind = kind  # "directory", "archive" or "iso"
        self.root = root  # the bundle root inside the directory/archive/image ("" = the top)
        self.files = files  # relative to root, "/"-separated, sorted
        self.texts = texts  # relative path -> text

    def has(self, rel: str) -> bool:
        return rel in self.texts or rel in self.files

    def text(self, rel: str) -> Optional[str]:
        return self.texts.get(rel)

    def describe(self, rel: str = "") -> str:
        """A human-readable location: ``/x/B.tgz:MLNX_OFED_LINUX-5.0/.mlnx`` or ``/x/B/.mlnx``."""
        inner = posixpath.join(self.root, rel) if rel else self.root
        if self.kind in ("archive", "iso"):
            return "%s:%s" % (self.path, inner) if inner else self.path
        return os.path.join(self.path, inner) if inner else self.path


def _wanted(rel: str) -> bool:
    return posixpath.basename(rel) in WANTED_BASENAMES


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def find_root(paths: List[str]) -> Optional[str]:
    """The shallowest directory (depth 0 or 1) holding a root marker; ``None`` when none is found."""
    present = set(paths)
    candidates = [""] + sorted({p.split("/", 1)[0] for p in paths if "/" in p})
    for cand in candidates:
        prefix = cand + "/" if cand else ""
        if any(prefix + marker in present for marker in ROOT_MARKERS):
            return cand
    return None


def _find_root(paths: List[str]) -> str:
    """As ``find_root``, ``""`` when none is found (the release check then says what is missing)."""
    root = find_root(paths)
    return "" if root is None else root


def _relativize(root: str, files: List[str], texts: Dict[str, str]) -> Tuple[List[str], Dict[str, str]]:
    if not root:
        return sorted(files), texts
    prefix = root + "/"
    rel_files = sorted(f[len(prefix):] for f in files if f.startswith(prefix))
    rel_texts = {k[len(prefix):]: v for k, v in texts.items() if k.startswith(prefix)}
    return rel_files, rel_texts


def read_directory(path: str, wanted: Callable[[str], bool] = _wanted) -> Bundle:
    files: List[str] = []
    texts: Dict[str, str] = {}
    errors: List[str] = []
    for dirpath, dirnames, filenames in os.walk(path, onerror=lambda e: errors.append(str(e))):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, path)
        depth = 0 if rel_dir == "." else rel_dir.count(os.sep) + 1
        if depth > 6:  # bundles are shallow (DEBS/<repo>/x.deb); do not wander into huge trees
            dirnames[:] = []
        for name in filenames:
            rel = name if rel_dir == "." else posixpath.join(rel_dir.replace(os.sep, "/"), name)
            files.append(rel)
            if wanted(rel):
                full = os.path.join(dirpath, name)
                try:
                    if os.path.getsize(full) <= MAX_TEXT_BYTES:
                        with open(full, "rb") as handle:
                            texts[rel] = _decode(handle.read())
                except OSError as exc:
                    raise BundleError("cannot read %s: %s" % (full, exc.strerror or exc))
    if errors and not files:
        raise BundleError("cannot list bundle directory %s: %s" % (path, errors[0]))
    root = _find_root(files)
    rel_files, rel_texts = _relativize(root, files, texts)
    return Bundle(path, "directory", root, rel_files, rel_texts)


def read_archive(path: str, wanted: Callable[[str], bool] = _wanted) -> Bundle:
    files: List[str] = []
    texts: Dict[str, str] = {}
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for member in tar:
                name = member.name
                while name.startswith("./"):
                    name = name[2:]
                name = name.lstrip("/")
                if not name or member.isdir():
                    continue
                files.append(name)
                if member.isfile() and wanted(name) and member.size <= MAX_TEXT_BYTES:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        texts[name] = _decode(handle.read())
    except (tarfile.TarError, EOFError, zlib.error, OSError, ValueError) as exc:
        detail = str(exc) or exc.__class__.__name__
        if files:
            raise BundleError("%s is truncated or corrupt: the tar archive stops after %d readable entries (%s); "
                              "download it again and compare its checksum" % (path, len(files), detail))
        raise BundleError("%s is not a readable tar archive (.tgz/.tar.gz/.tar): %s" % (path, detail))
    if not files:
        raise BundleError("%s is an empty archive: expected an unpacked OFED or MLNX_OFED bundle inside" % path)
    root = _find_root(files)
    rel_files, rel_texts = _relativize(root, files, texts)
    return Bundle(path, "archive", root, rel_files, rel_texts)


def read_iso(path: str, wanted: Callable[[str], bool] = _wanted) -> Bundle:
    """Read an ISO 9660 image (Rock Ridge names) as ``read_archive`` reads a tar: paths and wanted texts."""
    files: List[str] = []
    texts: Dict[str, str] = {}
    try:
        with _iso.IsoImage(path) as image:
            for entry in image.entries():
                if entry.kind == "dir":
                    continue
                files.append(entry.path)
                if entry.kind == "file" and wanted(entry.path) and entry.size <= MAX_TEXT_BYTES:
                    texts[entry.path] = _decode(image.read(entry.path))
    except _iso.IsoError as exc:
        raise BundleError(str(exc))
    if not files:
        raise BundleError("%s is an empty ISO image: expected an OFED or MLNX_OFED bundle inside" % path)
    root = _find_root(files)
    rel_files, rel_texts = _relativize(root, files, texts)
    return Bundle(path, "iso", root, rel_files, rel_texts)


def read_bundle(path: str) -> Bundle:
    """Read ``path`` (directory, ``.tgz``/``.tar.gz``/``.tar``/``.tar.*``, ``.iso``); ``BundleError`` on any
    problem."""
    if not os.path.exists(path):
        raise BundleError("bundle %s does not exist (on the host the module runs on; use delegate_to: localhost "
                          "to read a bundle on the controller)" % path)
    if os.path.isdir(path):
        return read_directory(path)
    if not os.access(path, os.R_OK):
        raise BundleError("bundle %s is not readable by the user the module runs as" % path)
    if path.lower().endswith(".iso") or _iso.is_iso_image(path):
        return read_iso(path)
    return read_archive(path)
