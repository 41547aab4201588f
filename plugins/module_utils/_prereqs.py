# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Build prerequisites of the OFED / MLNX_OFED installers, per distribution family (pure, no I/O).

* ``family(distribution)``: ``debian``, ``redhat`` or ``suse`` from ``iser_ofed.kernel.distribution``.
* ``headers_candidates(family, kernel)``: the package names that can provide the build tree of ``kernel``,
  most specific first (the role tries them in order and names them all when none is installable).
* ``build_packages(family, flavor, dkms)``: compiler, binutils, make, perl and what each installer needs.
* ``parse_apt_policy(text)``, ``parse_rpm_query(text)``: read-only package lookups (``apt-cache policy``,
  ``rpm -q`` / ``dnf``/``zypper`` candidates) turned into ``{name: {installed, candidate}}``.
* ``pick_headers(candidates, lookup)``: the first candidate installed or installable, or ``None``.
* ``parse_df(text)``, ``space_shortfalls(...)``: free space of the unpack and tmp directories.

Debian/Ubuntu is tested on a real container; the RHEL family and SLES names are unit-tested only.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

FAMILIES = ("debian", "redhat", "suse")

# What every installer needs to build kernel modules (the guide: gcc, make, perl, binutils, headers).
BASE_PACKAGES = {
    "debian": ["gcc", "binutils", "make", "perl"],
    "redhat": ["gcc", "binutils", "make", "perl"],
    "suse": ["gcc", "binutils", "make", "perl"],
}

# Per installer. Classic OFED's install.pl builds and installs RPMs even on Debian (rpm --force-debian) and
# calls lsb_release; MLNX_OFED DEB bundles build the DKMS package with dpkg-dev tooling and python3 scripts.
FLAVOR_PACKAGES = {
    ("debian", "ofed"): ["rpm", "lsb-release"],
    ("debian", "mlnx_ofed"): ["dpkg-dev", "python3", "lsof"],
    ("redhat", "ofed"): ["rpm-build", "redhat-lsb-core"],
    ("redhat", "mlnx_ofed"): ["rpm-build", "python3", "lsof"],
    ("suse", "ofed"): ["rpm-build", "lsb-release"],
    ("suse", "mlnx_ofed"): ["rpm-build", "python3", "lsof"],
}

# Free space (MiB) the unpack and tmp directories need, per flavor: MLNX_OFED unpacks ~1 GiB and builds
# DKMS/kernel packages in --tmpdir (exit 28 when short); classic OFED builds every RPM from source.
MIN_FREE_MB = {"mlnx_ofed": 3072, "ofed": 2048}

_RHEL_VARIANT = re.compile(r"^(?P<base>.+?)\+(?P<variant>debug|rt|64k)$")
_SUSE_KERNEL = re.compile(r"^(?P<version>\d+\.\d+(?:\.\d+)?-[\d.]+)-(?P<flavor>[a-z0-9_]+)$")


def family(distribution: Optional[Dict[str, Any]]) -> str:
    """``debian``, ``redhat`` or ``suse`` from the kernel facts' distribution; ``""`` when unknown."""
    dist = distribution if isinstance(distribution, dict) else {}
    fam = str(dist.get("family") or "").lower()
    ident = str(dist.get("id") or "").lower()
    like = " ".join(str(x) for x in (dist.get("like") or [])) if isinstance(dist.get("like"), list) \
        else str(dist.get("like") or "")
    words = [fam, ident] + like.lower().split()
    for word in words:
        if word in ("debian", "ubuntu"):
            return "debian"
        if word in ("redhat", "rhel", "fedora", "centos", "rocky", "almalinux", "ol", "oracle"):
            return "redhat"
        if word in ("suse", "sles", "opensuse", "opensuse-leap", "sled"):
            return "suse"
    return ""


def headers_candidates(fam: str, kernel: str) -> List[str]:
    """Package names providing ``/lib/modules/<kernel>/build``, most specific first.

    >>> headers_candidates("debian", "6.1.0-56-amd64")
    ['linux-headers-6.1.0-56-amd64']
    >>> headers_candidates("redhat", "5.14.0-427.13.1.el9_4.x86_64")
    ['kernel-devel-5.14.0-427.13.1.el9_4.x86_64', 'kernel-devel-uname-r = 5.14.0-427.13.1.el9_4.x86_64']
    >>> headers_candidates("suse", "5.14.21-150500.55.39-default")
    ['kernel-default-devel-5.14.21-150500.55.39', 'kernel-default-devel']
    """
    kernel = (kernel or "").strip()
    if not kernel or fam not in FAMILIES:
        return []
    if fam == "debian":
        return ["linux-headers-%s" % kernel]
    if fam == "redhat":
        match = _RHEL_VARIANT.match(kernel)
        if match:
            # 5.14.0-427.el9.x86_64+debug is built by kernel-debug-devel-5.14.0-427.el9.x86_64
            base, variant = match.group("base"), match.group("variant")
            return ["kernel-%s-devel-%s" % (variant, base), "kernel-devel-uname-r = %s" % kernel]
        if "uek" in kernel:
            return ["kernel-uek-devel-%s" % kernel, "kernel-devel-uname-r = %s" % kernel]
        # kernel-devel provides kernel-devel-uname-r = <uname -r>: dnf and rpm -q --whatprovides take it as is
        return ["kernel-devel-%s" % kernel, "kernel-devel-uname-r = %s" % kernel]
    match = _SUSE_KERNEL.match(kernel)
    if not match:
        return []
    flavor, version = match.group("flavor"), match.group("version")
    # kernel-<flavor>-devel's version is <upstream>-<release>; the bare name is the fallback zypper resolves
    # to the newest, which only builds for kernel when it is the newest installed kernel (the role says so).
    return ["kernel-%s-devel-%s" % (flavor, version), "kernel-%s-devel" % flavor]


def build_packages(fam: str, flavor: str = "", dkms: bool = False) -> List[str]:
    """Compiler toolchain plus what the installer of ``flavor`` needs on ``fam`` (headers not included)."""
    if fam not in FAMILIES:
        return []
    names = list(BASE_PACKAGES[fam])
    names += FLAVOR_PACKAGES.get((fam, flavor), [])
    if dkms and flavor == "mlnx_ofed":
        names.append("dkms")
    seen: List[str] = []
    for name in names:
        if name not in seen:
            seen.append(name)
    return seen


def parse_apt_policy(text: str) -> Dict[str, Dict[str, Optional[str]]]:
    """``apt-cache policy NAME...`` → ``{name: {installed, candidate}}`` (``None`` for ``(none)``).

    Names apt does not know at all print nothing and are absent from the result.
    """
    result: Dict[str, Dict[str, Optional[str]]] = {}
    current: Optional[str] = None
    for line in (text or "").splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            current = line.rstrip()[:-1]
            result[current] = {"installed": None, "candidate": None}
            continue
        if current is None:
            continue
        stripped = line.strip()
        for key in ("installed", "candidate"):
            prefix = key.capitalize() + ":"
            if stripped.startswith(prefix):
                value = stripped[len(prefix):].strip()
                result[current][key] = None if value in ("", "(none)") else value
    return result


def parse_rpm_query(names: List[str], rc_installed: Dict[str, int], rc_available: Dict[str, int]) -> Dict[str, Dict[str, Optional[str]]]:
    """Per-name exit codes of ``rpm -q --whatprovides NAME`` and of the dnf/zypper availability query → lookup.

    RPM families answer "is it there" with exit codes, not with a table; 0 means yes.
    """
    result: Dict[str, Dict[str, Optional[str]]] = {}
    for name in names:
        installed = rc_installed.get(name) == 0
        available = rc_available.get(name) == 0
        if installed or available:
            result[name] = {"installed": name if installed else None, "candidate": name if available or installed else None}
    return result


def pick_headers(candidates: List[str], lookup: Dict[str, Dict[str, Optional[str]]]) -> Dict[str, Any]:
    """The first candidate installed (preferred) or installable; says which names were tried."""
    lookup = lookup if isinstance(lookup, dict) else {}
    for name in candidates:
        row = lookup.get(name) or {}
        if row.get("installed"):
            return {"package": name, "installed": True, "installable": True, "tried": list(candidates)}
    for name in candidates:
        row = lookup.get(name) or {}
        if row.get("candidate"):
            return {"package": name, "installed": False, "installable": True, "tried": list(candidates)}
    return {"package": None, "installed": False, "installable": False, "tried": list(candidates)}


def parse_df(text: str) -> List[Dict[str, Any]]:
    """``df -P -k DIR...`` → ``[{filesystem, mount, avail_mb}]`` in argument order (header skipped)."""
    rows: List[Dict[str, Any]] = []
    for line in (text or "").splitlines()[1:]:
        parts = line.split()
        if len(parts) < 6 or not parts[3].isdigit():
            continue
        rows.append({"filesystem": parts[0], "mount": " ".join(parts[5:]), "avail_mb": int(parts[3]) // 1024})
    return rows


def space_shortfalls(dirs: List[str], df_rows: List[Dict[str, Any]], need_mb: int) -> List[Dict[str, Any]]:
    """Directories whose filesystem has less than ``need_mb`` MiB free (``df`` rows in ``dirs`` order).

    Two directories on one filesystem share its space: the need is counted once per directory on it.
    """
    if len(df_rows) != len(dirs):
        raise ValueError("df reported %d filesystems for %d directories" % (len(df_rows), len(dirs)))
    per_mount: Dict[str, int] = {}
    for row in df_rows:
        per_mount[row["mount"]] = per_mount.get(row["mount"], 0) + int(need_mb)
    short = []
    for directory, row in zip(dirs, df_rows):
        need = per_mount[row["mount"]]
        if row["avail_mb"] < need:
            short.append({"dir": directory, "mount": row["mount"], "avail_mb": row["avail_mb"], "need_mb": need})
    return short
