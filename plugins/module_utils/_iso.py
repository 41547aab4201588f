# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Read an ISO 9660 bundle image (MLNX_OFED_LINUX-<ver>-<distro>-<arch>.iso) without mounting it.

The vendor's ISO holds the tree of the ``.tgz``'s top directory at its root, with Rock Ridge (POSIX names,
modes and symlinks) and Joliet. This reads it with the pure-Python ``pycdlib`` (imported only when an ISO is
read, so everything else works without it) and turns it into a ``.tgz`` whose top directory is the bundle's
name: what the rest of the collection already stages and unpacks. File modes and symlinks come from Rock
Ridge; owners are root, times are the ISO's directory record times. The ``.tgz`` is reproducible (same ISO,
same bytes) and is written under a temporary name and renamed, so an interrupted conversion leaves nothing
that looks done.
"""
from __future__ import annotations

import calendar
import gzip
import hashlib
import os
import posixpath
import struct
import tarfile
import tempfile
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional

PYCDLIB_REQUIREMENT = "pycdlib==1.22.0"
SECTOR = 2048
PVD_OFFSET = 16 * SECTOR
MAX_DEPTH = 32  # bundles are shallow; a deeper tree is a damaged or hostile image


class IsoError(ValueError):
    """The ISO image cannot be read; the message names the file and what to do."""


class IsoEntry(NamedTuple):
    path: str  # relative to the ISO root, "/"-separated, no leading "/"
    kind: str  # "dir", "file" or "symlink"
    mode: int  # permission bits (07777)
    size: int
    mtime: int
    target: str  # symlink target ("" otherwise)


def is_iso_image(path: str) -> bool:
    """``path`` starts like an ISO 9660 image: a volume descriptor ``CD001`` at sector 16."""
    try:
        with open(path, "rb") as handle:
            handle.seek(PVD_OFFSET)
            head = handle.read(6)
    except OSError:
        return False
    return len(head) == 6 and head[1:6] == b"CD001"


def declared_size(path: str) -> int:
    """Bytes the image says it has (volume space size x logical block size of the primary descriptor)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(PVD_OFFSET)
            pvd = handle.read(SECTOR)
    except OSError as exc:
        raise IsoError("cannot read %s: %s" % (path, exc.strerror or exc))
    if len(pvd) < 136 or pvd[1:6] != b"CD001":
        raise IsoError("%s is not an ISO 9660 image (no volume descriptor at sector 16): give the bundle's .iso or "
                       ".tgz" % path)
    if pvd[0] != 1:
        raise IsoError("%s is an ISO 9660 image without a primary volume descriptor first: it is damaged" % path)
    blocks = struct.unpack_from("<I", pvd, 80)[0]
    block_size = struct.unpack_from("<H", pvd, 128)[0]
    return blocks * block_size


def check_complete(path: str) -> None:
    """Refuse an image shorter than it declares (an interrupted download or copy)."""
    want = declared_size(path)
    have = os.path.getsize(path)
    if have < want:
        raise IsoError("%s is truncated: the ISO image declares %d bytes but the file has %d; download it again and "
                       "compare its checksum" % (path, want, have))


def _pycdlib() -> Any:
    try:
        import pycdlib  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise IsoError("reading an ISO image needs the Python package pycdlib on the controller (where the image is "
                       "read), which is not installed for this Python: install it (pip install %s, or the "
                       "collection's requirements.txt into the execution environment), or use the .tgz bundle of "
                       "the same release" % PYCDLIB_REQUIREMENT)
    return pycdlib


def _record_time(rec: Any) -> int:
    """Seconds since the epoch of a directory record's date (0 when the image leaves it empty)."""
    date = rec.date
    try:
        when = calendar.timegm((1900 + date.years_since_1900, date.month, date.day_of_month,
                                date.hour, date.minute, date.second, 0, 0, 0))
    except (TypeError, ValueError, OverflowError):
        return 0
    return max(0, when - date.gmtoffset * 15 * 60) if date.month else 0


class IsoImage:
    """An opened image; use as a context manager. Every entry is read through its Rock Ridge name."""

    def __init__(self, path: str) -> None:
        self.path = path
        check_complete(path)
        pycdlib = _pycdlib()
        self._exc = pycdlib.pycdlibexception.PyCdlibException
        self._iso = pycdlib.PyCdlib()
        try:
            self._iso.open(path)
        except self._exc as exc:
            raise IsoError("%s is not a readable ISO 9660 image (it is corrupt): %s; download it again and compare "
                           "its checksum" % (path, exc))
        except (OSError, ValueError, struct.error) as exc:
            raise IsoError("cannot read the ISO image %s: %s" % (path, exc))
        if not self._iso.has_rock_ridge():
            self.close()
            raise IsoError("%s has no Rock Ridge extensions: its file names, modes (mlnxofedinstall must stay "
                           "executable) and symlinks cannot be read. The vendor's ISO images have them; use the "
                           ".tgz bundle of the same release instead" % path)

    def __enter__(self) -> "IsoImage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._iso.close()
        except self._exc:
            pass

    def _children(self, rr_dir: str) -> List[Any]:
        try:
            return [rec for rec in self._iso.list_children(rr_path=rr_dir) if not (rec.is_dot() or rec.is_dotdot())]
        except self._exc as exc:
            raise IsoError("%s is corrupt: cannot list %s: %s" % (self.path, rr_dir, exc))

    def entries(self) -> Iterator[IsoEntry]:
        """Every directory, file and symlink under the root, depth first, names sorted."""
        stack = [("", 0)]
        while stack:
            rel_dir, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise IsoError("%s is corrupt: directories nest deeper than %d levels" % (self.path, MAX_DEPTH))
            subdirs = []
            for rec in sorted(self._children("/" + rel_dir), key=lambda r: r.rock_ridge.name() if r.rock_ridge else b""):
                rock = rec.rock_ridge
                if rock is None:
                    raise IsoError("%s is corrupt: an entry of /%s has no Rock Ridge record" % (self.path, rel_dir))
                name = rock.name().decode("utf-8", errors="surrogateescape")
                if not name or "/" in name or name in (".", ".."):
                    raise IsoError("%s is corrupt: bad file name %r in /%s" % (self.path, name, rel_dir))
                rel = posixpath.join(rel_dir, name) if rel_dir else name
                mode = rock.get_file_mode() & 0o7777
                if rock.is_symlink():
                    target = rock.symlink_path().decode("utf-8", errors="surrogateescape")
                    yield IsoEntry(rel, "symlink", mode, 0, _record_time(rec), target)
                elif rec.is_dir():
                    yield IsoEntry(rel, "dir", mode, 0, _record_time(rec), "")
                    subdirs.append((rel, depth + 1))
                else:
                    yield IsoEntry(rel, "file", mode, rec.get_data_length(), _record_time(rec), "")
            stack.extend(reversed(subdirs))

    def open(self, rel: str) -> Any:
        """A readable file object for the file ``rel``."""
        try:
            return self._iso.open_file_from_iso(rr_path="/" + rel)
        except self._exc as exc:
            raise IsoError("%s is corrupt: cannot read %s: %s" % (self.path, rel, exc))

    def read(self, rel: str) -> bytes:
        with self.open(rel) as handle:
            return handle.read()


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def archive_stem(iso_path: str) -> str:
    """The bundle's name from the image's file name: ``MLNX_OFED_LINUX-...-x86_64.iso`` -> ``MLNX_OFED_LINUX-...``."""
    name = os.path.basename(iso_path.rstrip("/"))
    return name[:-4] if name.lower().endswith(".iso") else name


def _tarinfo(name: str, entry: IsoEntry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = entry.mode
    info.mtime = entry.mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target
    else:
        info.size = entry.size
    return info


def write_tgz(image: IsoImage, entries: List[IsoEntry], root: str, top: str, dest: str) -> int:
    """Write the entries under ``root`` (``""`` = the image's root) as ``dest``, a .tgz whose top directory is
    ``top``. Returns the number of members. Reproducible: no time or name in the gzip header."""
    prefix = root + "/" if root else ""
    chosen = [e for e in entries if e.path.startswith(prefix)]
    top_entry = next((e for e in entries if e.path == root), None) if root else None
    top_info = _tarinfo(top, top_entry or IsoEntry(top, "dir", 0o755, 0, max([e.mtime for e in chosen] or [0]), ""))
    count = 0
    with open(dest, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                tar.addfile(top_info)
                count += 1
                for entry in chosen:
                    info = _tarinfo(posixpath.join(top, entry.path[len(prefix):]), entry)
                    if entry.kind == "file":
                        with image.open(entry.path) as handle:
                            try:
                                tar.addfile(info, handle)
                            except OSError as exc:  # tarfile: "unexpected end of data"
                                raise IsoError("%s is corrupt: %s stops short of its %d bytes (%s); download it "
                                               "again and compare its checksum" % (image.path, entry.path,
                                                                                   entry.size, exc))
                    else:
                        tar.addfile(info)
                    count += 1
    return count


def convert(iso_path: str, dest_dir: str, find_root: Callable[[List[str]], Optional[str]], check_mode: bool = False,
            digest: Optional[str] = None) -> Dict[str, Any]:
    """Turn the bundle image ``iso_path`` into ``<dest_dir>/iso-<sha256 of the image>/<bundle name>.tgz``.

    ``find_root`` picks the bundle's directory among the image's file paths (``""`` = the image root, the
    vendor layout; ``None`` when no bundle is there: refused). An archive already there is the same
    conversion of the same image: nothing is written (``changed`` false).
    """
    digest = digest or sha256_file(iso_path)
    with IsoImage(iso_path) as image:
        entries = list(image.entries())
        files = [e.path for e in entries if e.kind != "dir"]
        root = find_root(files)
        if root is None:
            raise IsoError("%s holds no OFED or MLNX_OFED bundle: none of .mlnx, BUILD_ID, "
                           "docs/OFED_release_notes.txt, mlnxofedinstall, install.pl is at its root or one directory "
                           "down; give the bundle's .iso (MLNX_OFED_LINUX-<ver>-<distro>-<arch>.iso) or .tgz"
                           % iso_path)
        top = posixpath.basename(root) if root else archive_stem(iso_path)
        cache = os.path.join(dest_dir, "iso-" + digest)
        archive = os.path.join(cache, top + ".tgz")
        result = {"archive": archive, "root": top, "iso_sha256": digest, "changed": False}
        if os.path.isfile(archive):
            result.update(members=None, sha256=sha256_file(archive))
            return result
        result["changed"] = True
        if check_mode:
            result.update(members=None, sha256=None)
            return result
        os.makedirs(cache, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".%s." % top, suffix=".tmp", dir=cache)
        os.close(fd)
        try:
            members = write_tgz(image, entries, root, top, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, archive)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        result.update(members=members, sha256=sha256_file(archive))
        return result


def run(src: str, dest: str, find_root: Callable[[List[str]], Optional[str]], check_mode: bool) -> Dict[str, Any]:
    """What ``iser.ofed.ofed_bundle_iso`` returns (module and action alike): ``convert``'s result with a diff, or
    ``failed`` and ``msg``."""
    if not os.path.isfile(src):
        return {"failed": True, "changed": False, "src": src,
                "msg": "ISO image %s does not exist (on the host the conversion runs on: the controller)" % src}
    try:
        result = convert(src, dest, find_root, check_mode=check_mode)
    except IsoError as exc:
        return {"failed": True, "changed": False, "src": src, "msg": str(exc)}
    except OSError as exc:
        return {"failed": True, "changed": False, "src": src,
                "msg": "cannot write the converted archive under %s: %s" % (dest, exc.strerror or exc)}
    if result["changed"]:
        result["diff"] = {"before": {"path": result["archive"], "state": "absent"},
                          "after": {"path": result["archive"], "state": "file"}}
    return result
