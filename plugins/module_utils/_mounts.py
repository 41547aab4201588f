# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Is ``/`` (or ``/boot``) read-only or carried over RDMA?

Mounts come from ``/proc/self/mountinfo`` (fallback ``/proc/mounts``). A mount is on RDMA when:

* it is NFS with ``proto=rdma``/``proto=rdma6`` or the ``rdma`` option (``nfs-rdma``);
* its block device (``/sys/dev/block/<major:minor>``, resolved, following ``slaves/`` of dm/md devices)
  sits below a SCSI host whose ``/sys/class/scsi_host/hostN/proc_name`` is ``iscsi_iser`` (``iser``) or
  ``ib_srp`` (``srp``);
* its block device is an NVMe namespace whose controller's ``/sys/class/nvme/nvmeX/transport`` (or, for a
  multipath namespace, any controller of ``/sys/class/nvme-subsystem/nvme-subsysX/``) is ``rdma``
  (``nvme-rdma``).

Every function takes a ``root`` prefix so tests can point it at a constructed tree.
"""
from __future__ import annotations

import glob
import os
import re

_OCTAL_RE = re.compile(r"\\([0-7]{3})")


def _unescape(value: str) -> str:
    return _OCTAL_RE.sub(lambda m: chr(int(m.group(1), 8)), value)


def parse_mountinfo(text: str) -> tuple[list[dict], list[str]]:
    """Parse ``/proc/<pid>/mountinfo``; return ``(mounts, bad_lines)`` in file order."""
    mounts: list[dict] = []
    bad: list[str] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        fields = raw.split()
        try:
            sep = fields.index("-", 6)
            mounts.append({
                "major_minor": fields[2],
                "mount": _unescape(fields[4]),
                "options": fields[5].split(","),
                "fstype": fields[sep + 1],
                "device": _unescape(fields[sep + 2]),
                "super_options": fields[sep + 3].split(",") if len(fields) > sep + 3 else [],
            })
        except (ValueError, IndexError):
            bad.append(raw)
    return mounts, bad


def parse_proc_mounts(text: str) -> tuple[list[dict], list[str]]:
    """Parse ``/proc/mounts`` (fstab format); ``major_minor`` is unknown there (None)."""
    mounts: list[dict] = []
    bad: list[str] = []
    for raw in text.splitlines():
        fields = raw.split()
        if not fields:
            continue
        if len(fields) < 4:
            bad.append(raw)
            continue
        mounts.append({
            "major_minor": None,
            "mount": _unescape(fields[1]),
            "options": fields[3].split(","),
            "fstype": fields[2],
            "device": _unescape(fields[0]),
            "super_options": [],
        })
    return mounts, bad


def find_mount(mounts: list[dict], path: str) -> dict | None:
    """The mount that holds ``path``: longest matching mount point, the last one wins on ties."""
    best = None
    for mount in mounts:
        point = mount["mount"]
        if point == path or point == "/" or path.startswith(point.rstrip("/") + "/"):
            if best is None or len(point) >= len(best["mount"]):
                best = mount
    return best


def _read_text(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _nvme_transport(root: str, real: str) -> str | None:
    candidates = []
    ctrl = re.search(r"/nvme(\d+)/nvme\d+(c\d+)?n\d+", real)
    if ctrl:
        candidates.append(os.path.join(root, "sys/class/nvme/nvme%s/transport" % ctrl.group(1)))
    subsys = re.search(r"/nvme-subsys(\d+)/", real)
    if subsys:
        candidates.extend(sorted(glob.glob(os.path.join(
            root, "sys/class/nvme-subsystem/nvme-subsys%s/nvme*/transport" % subsys.group(1)))))
    name = re.match(r"nvme(\d+)(c\d+)?n\d+", os.path.basename(real))
    if name and not candidates:
        candidates.append(os.path.join(root, "sys/class/nvme/nvme%s/transport" % name.group(1)))
    for candidate in candidates:
        if _read_text(candidate) == "rdma":
            return "nvme-rdma"
    return None


def block_rdma_transport(root: str, major_minor: str | None, _depth: int = 0) -> tuple[str | None, list[str]]:
    """``(iser|srp|nvme-rdma|None, evidence)`` for the block device ``major:minor`` under ``root``/sys."""
    evidence: list[str] = []
    if not major_minor or major_minor.startswith("0:") or _depth > 8:
        return None, evidence
    link = os.path.join(root, "sys/dev/block", major_minor)
    if not os.path.exists(link):
        return None, ["no /sys/dev/block/%s" % major_minor]
    real = os.path.realpath(link)
    rel = "/" + os.path.relpath(real, root)
    evidence.append("/sys/dev/block/%s -> %s" % (major_minor, rel))
    host = re.search(r"/host(\d+)/", rel)
    if host:
        proc_name = _read_text(os.path.join(root, "sys/class/scsi_host/host%s/proc_name" % host.group(1)))
        evidence.append("scsi host%s proc_name: %s" % (host.group(1), proc_name))
        if proc_name and "iser" in proc_name:
            return "iser", evidence
        if proc_name == "ib_srp":
            return "srp", evidence
    nvme = _nvme_transport(root, rel)
    if nvme:
        evidence.append("NVMe controller transport rdma")
        return nvme, evidence
    for slaves_dir in (os.path.join(real, "slaves"), os.path.join(os.path.dirname(real), "slaves")):
        if not os.path.isdir(slaves_dir):
            continue
        for slave in sorted(os.listdir(slaves_dir)):
            dev = _read_text(os.path.join(slaves_dir, slave, "dev"))
            if dev:
                found, more = block_rdma_transport(root, dev, _depth + 1)
                evidence.extend(more)
                if found:
                    return found, evidence
        break
    return None, evidence


def describe_mount(root: str, mounts: list[dict], path: str) -> dict:
    """Facts for the mount holding ``path``: device, fstype, read-only, RDMA transport and evidence."""
    mount = find_mount(mounts, path)
    if mount is None:
        return {"path": path, "mount": None, "device": None, "fstype": None, "read_only": None,
                "rdma": None, "rdma_transport": None, "evidence": []}
    options = set(mount["options"]) | set(mount["super_options"])
    transport = None
    evidence: list[str] = []
    if mount["fstype"].startswith("nfs") and (
            "rdma" in options or "proto=rdma" in options or "proto=rdma6" in options):
        transport = "nfs-rdma"
        evidence.append("%s mount with RDMA transport option" % mount["fstype"])
    else:
        transport, evidence = block_rdma_transport(root, mount["major_minor"])
    return {
        "path": path,
        "mount": mount["mount"],
        "device": mount["device"],
        "fstype": mount["fstype"],
        "read_only": "ro" in mount["options"] or "ro" in mount["super_options"],
        "rdma": transport is not None,
        "rdma_transport": transport,
        "evidence": evidence,
    }
