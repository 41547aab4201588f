# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Which IB stack is loaded, and does the host need a reboot, for ``iser.ofed.loaded_stack``.

Two questions finalize asks on a host that can load modules:

* **Are the loaded modules the intended stack's?** For each module the kernel has loaded, the file
  ``modinfo -k <running> <name>`` resolves (what ``modprobe`` loads, through ``modules.dep``) must lie where
  the intended stack puts its modules: below ``/lib/modules/<k>/kernel/`` for the distribution's in-tree
  stack, below ``updates/`` (classic OFED, ``updates/dkms/`` for DKMS builds), ``extra/`` (MLNX_OFED RPMs) or
  ``weak-updates/`` for OFED; and the module in memory must be that file: the GNU build-id the kernel shows
  in ``/sys/module/<m>/notes/.note.gnu.build-id`` equals the one in the file's ELF notes (Debian's kernels
  have no ``CONFIG_MODULE_SRCVERSION_ALL``, so in-tree modules have no ``srcversion``; it is compared when
  both sides have one and there is no build-id). A module loaded before the install keeps the old build
  until it is reloaded: ``stale``.
* **Is a reboot (or a driver restart) still due?** A stage record of the journal whose data says
  ``reboot_required`` (``restart_required``) and that was written after the host booted (its ``time`` is
  later than ``btime`` of ``/proc/stat``) is still due; one written before the boot has been served by it.
  An ``ofed_install`` record for a kernel other than the running one also wants a reboot (its modules
  cannot load into another kernel).

Pure functions; no I/O here. Nothing raises on garbage input: it becomes a status or an error string.
"""
from __future__ import annotations

import calendar
import gzip
import lzma
import re
import struct
import time

# Where each stack puts its modules below /lib/modules/<k>.
IN_TREE = "in_tree"
OFED = "ofed"
OTHER = "other"
STACKS = (IN_TREE, OFED)
OFED_TOPS = ("updates", "extra", "weak-updates")

# Per-module statuses.
OK = "ok"
NOT_LOADED = "not_loaded"
BUILTIN = "builtin"
NO_FILE = "no_file"
WRONG_ORIGIN = "wrong_origin"
STALE = "stale"
BAD_STATUSES = (NO_FILE, WRONG_ORIGIN, STALE)

_JOURNAL_TIME = "%Y-%m-%dT%H:%M:%SZ"
_MODINFO_LINE = re.compile(r"^(?P<key>[A-Za-z0-9_.-]+):\s*(?P<value>.*)$")


def parse_modinfo(text: str) -> dict[str, str]:
    """``modinfo <name>`` output -> ``{key: value}`` (first value of repeated keys such as ``alias``)."""
    fields: dict[str, str] = {}
    for line in (text or "").splitlines():
        match = _MODINFO_LINE.match(line)
        if match and match.group("key") not in fields:
            fields[match.group("key")] = match.group("value").strip()
    return fields


def parse_notes(data: bytes, big_endian: bool = False) -> list[tuple[str, int, bytes]]:
    """ELF note entries ``(name, type, desc)`` of a note section (or a ``/sys/module/<m>/notes/*`` file).

    Truncated input ends the list instead of raising.
    """
    fmt = ">III" if big_endian else "<III"
    notes = []
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from(fmt, data, pos)
        pos += 12
        name_end = pos + namesz
        desc_start = pos + ((namesz + 3) & ~3)
        desc_end = desc_start + descsz
        if desc_end > len(data):
            break
        notes.append((data[pos:name_end].rstrip(b"\0").decode("ascii", "replace"), ntype, data[desc_start:desc_end]))
        pos = desc_start + ((descsz + 3) & ~3)
    return notes


NT_GNU_BUILD_ID = 3


def build_id_of_notes(data: bytes, big_endian: bool = False) -> str | None:
    """Hex GNU build-id from note bytes, None without one."""
    for name, ntype, desc in parse_notes(data, big_endian):
        if name == "GNU" and ntype == NT_GNU_BUILD_ID and desc:
            return desc.hex()
    return None


def decompress_module(data: bytes, filename: str) -> bytes | None:
    """The ELF bytes of a module file (``.ko``, ``.ko.xz``, ``.ko.gz``); None for ``.ko.zst`` (no zstd in
    the standard library) or a file that does not decompress."""
    try:
        if filename.endswith(".xz"):
            return lzma.decompress(data)
        if filename.endswith(".gz"):
            return gzip.decompress(data)
    except (lzma.LZMAError, OSError, EOFError):
        return None
    if filename.endswith(".zst"):
        return None
    return data


def elf_build_id(data: bytes) -> str | None:
    """Hex GNU build-id of an ELF file (a kernel module), from its SHT_NOTE sections; None when the file
    is not ELF, is truncated, or has no build-id."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    is64, big = data[4] == 2, data[5] == 2
    end = ">" if big else "<"
    try:
        if is64:
            shoff, = struct.unpack_from(end + "Q", data, 0x28)
            shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
        else:
            shoff, = struct.unpack_from(end + "I", data, 0x20)
            shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        for i in range(shnum):
            base = shoff + i * shentsize
            if is64:
                _name, stype, _flags, _addr, offset, size = struct.unpack_from(end + "IIQQQQ", data, base)
            else:
                _name, stype, _flags, _addr, offset, size = struct.unpack_from(end + "IIIIII", data, base)
            if stype != 7:  # SHT_NOTE
                continue
            found = build_id_of_notes(data[offset:offset + size], big)
            if found:
                return found
    except struct.error:
        return None
    return None


def origin_of(path: str | None, kernel: str, modules_root: str = "/lib/modules") -> tuple[str, str | None]:
    """``(origin, path relative to /lib/modules/<kernel>)`` of a module file.

    ``origin`` is ``in_tree`` below ``kernel/``, ``ofed`` below ``updates/``, ``extra/`` or ``weak-updates/``,
    ``other`` anywhere else (another kernel's tree, an ``insmod``-ed file); the relative path is None then.
    """
    if not path:
        return OTHER, None
    base = modules_root.rstrip("/") + "/" + kernel + "/"
    if not path.startswith(base):
        return OTHER, None
    rel = path[len(base):]
    top = rel.split("/", 1)[0]
    if top == "kernel":
        return IN_TREE, rel
    if top in OFED_TOPS:
        return OFED, rel
    return OTHER, rel


def judge_module(name: str, sysfs: dict, modinfo: dict[str, str] | None, kernel: str, expected: str,
                 modules_root: str = "/lib/modules") -> dict:
    """One module's verdict.

    ``sysfs``: ``{"present": bool, "initstate": str|None, "srcversion": str|None, "build_id": str|None}`` from
    ``/sys/module/<name>`` (a built-in module has a directory but no ``initstate``); ``modinfo``: parsed
    ``modinfo -k`` output plus ``build_id`` (of the file, elf_build_id), None when modinfo found no file.
    ``expected``: ``in_tree`` or ``ofed``.
    """
    rec = {"name": name, "loaded": False, "status": NOT_LOADED, "loaded_build_id": sysfs.get("build_id"),
           "loaded_srcversion": sysfs.get("srcversion"), "file": None, "origin": None, "file_build_id": None,
           "file_srcversion": None, "compared": None, "expected": expected, "msg": ""}
    if not sysfs.get("present"):
        rec["msg"] = "%s is not loaded" % name
        return rec
    if not sysfs.get("initstate"):
        rec.update(status=BUILTIN, msg="%s is built into kernel %s (no file to compare)" % (name, kernel))
        return rec
    rec["loaded"] = True
    if modinfo is None or not modinfo.get("filename"):
        rec.update(status=NO_FILE, msg="%s is loaded but modinfo -k %s finds no file for it: it cannot be loaded "
                                       "again (purged or removed since)" % (name, kernel))
        return rec
    origin, rel = origin_of(modinfo["filename"], kernel, modules_root)
    rec.update(file=modinfo["filename"], origin=origin, file_srcversion=modinfo.get("srcversion"),
               file_build_id=modinfo.get("build_id"))
    if origin != expected:
        rec.update(status=WRONG_ORIGIN,
                   msg="%s resolves to %s (%s), not to the %s stack's directory (%s)"
                       % (name, modinfo["filename"], origin, expected,
                          "kernel/" if expected == IN_TREE else "/".join(OFED_TOPS)))
        return rec
    for key in ("build_id", "srcversion"):
        mem, disk = sysfs.get(key), modinfo.get(key)
        if not (mem and disk):
            continue
        rec["compared"] = key
        if mem != disk:
            rec.update(status=STALE,
                       msg="the %s in memory (%s %s) is not %s (%s %s): it was loaded before that file was "
                           "installed; reload the stack (driver restart or reboot)"
                           % (name, key, mem, modinfo["filename"], key, disk))
            return rec
        rec.update(status=OK, msg="%s loaded from %s (%s, %s %s matches)" % (name, rel, origin, key, mem))
        return rec
    rec.update(status=OK, msg="%s resolves to %s (%s); no build-id or srcversion on both sides to prove the "
                              "loaded one is that file" % (name, rel, origin))
    return rec


def summarize(records: list[dict]) -> dict:
    """``{loaded, mismatches, ok}`` over judge_module records."""
    bad = [r for r in records if r["status"] in BAD_STATUSES]
    return {"loaded": [r["name"] for r in records if r["loaded"]],
            "mismatches": [{"name": r["name"], "status": r["status"], "msg": r["msg"]} for r in bad],
            "ok": not bad}


def parse_btime(proc_stat: str) -> int | None:
    """The boot time (epoch seconds) from ``/proc/stat``'s ``btime`` line, None without one."""
    for line in (proc_stat or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "btime" and parts[1].isdigit():
            return int(parts[1])
    return None


def journal_epoch(stamp: object) -> int | None:
    """A journal ``time`` (``2025-01-31T10:12:03Z``) as epoch seconds; None when it does not parse."""
    if not isinstance(stamp, str):
        return None
    try:
        return calendar.timegm(time.strptime(stamp, _JOURNAL_TIME))
    except ValueError:
        return None


def due_after_boot(journal: dict, btime: int | None, running_kernel: str) -> dict:
    """What the journal says is still due on this boot: ``{reboot: {required, reasons}, restart: {...}}``.

    A record counts when its stage is ``done`` and it was written at or after the boot (``time >= btime``;
    with an unknown boot time every such record counts). Rolled-back or failed stages ask for nothing.
    """
    reboot: list[str] = []
    restart: list[str] = []
    stages = journal.get("stages") if isinstance(journal, dict) else None
    for name, rec in sorted((stages or {}).items()):
        if not isinstance(rec, dict) or rec.get("status") != "done":
            continue
        data = rec.get("data") if isinstance(rec.get("data"), dict) else {}
        when = journal_epoch(rec.get("time"))
        if btime is not None and (when is None or when < btime):
            continue
        stamp = rec.get("time")
        if data.get("reboot_required") is True:
            reboot.append("%s reported reboot_required at %s, after the last boot" % (name, stamp))
        kernel = data.get("kernel")
        if name == "ofed_install" and isinstance(kernel, str) and kernel and kernel != running_kernel:
            reboot.append("ofed_install installed the stack for kernel %s at %s; the running kernel is %s"
                          % (kernel, stamp, running_kernel))
        if data.get("restart_required") is True:
            restart.append("%s reported restart_required (%s) at %s"
                           % (name, data.get("restart_command") or "driver restart", stamp))
    return {"reboot": {"required": bool(reboot), "reasons": reboot},
            "restart": {"required": bool(restart), "reasons": restart}}


def expected_stack(journal: dict) -> tuple[str, str]:
    """``(stack, why)``: ``ofed`` when the journal's ``ofed_install`` record is done, else ``in_tree``."""
    stages = journal.get("stages") if isinstance(journal, dict) else None
    rec = (stages or {}).get("ofed_install")
    if isinstance(rec, dict) and rec.get("status") == "done":
        data = rec.get("data") if isinstance(rec.get("data"), dict) else {}
        return OFED, "journal: ofed_install done (%s %s)" % (data.get("flavor") or "?", data.get("version") or "?")
    status = rec.get("status") if isinstance(rec, dict) else None
    return IN_TREE, "journal: no finished ofed_install (%s): the distribution's in-tree stack" % (status or "none")
