# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Package queries through ``dpkg-query`` and ``rpm``: argv builders and pure output parsers.

Both managers may exist on one host: classic OFED installs RPMs on Debian/Ubuntu with ``--force-debian``,
so ``rpm -q`` is asked there too. Parsers are checked against real captures
(tests/unit/fixtures/captured/pkg-query).
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

DPKG_FORMAT = "${Package}\\t${Version}\\t${db:Status-Abbrev}\\n"
RPM_FORMAT = "%{NAME}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n"

# Names iscsi-scst's Makefile and the installers use (domain doc sections 0, 4; DOCA names: doca-ofed and
# doca-ofed-userspace are the DOCA-OFED meta packages, doca-all/-networking/-roce the DOCA-Host profiles,
# doca-host the repository set-up package; the mlnx-ofed-kernel-* packages are shared with MLNX_OFED).
# rpm -q takes no patterns, so the DOCA names are listed one by one there.
DEB_NAMES = (
    "ofed-scripts",
    "mlnx-ofed-kernel-dkms",
    "mlnx-ofed-kernel-modules",
    "mlnx-ofed-kernel-utils",
    "mlnx-ofed-*",
    "doca-ofed",
    "doca-*",
    "compat-rdma*",
    "kernel-ib*",
)
RPM_NAMES = (
    "ofed-scripts",
    "mlnx-ofa_kernel",
    "mlnx-ofa_kernel-devel",
    "mlnx-ofa_kernel-modules",
    "kmod-mlnx-ofa_kernel",
    "kernel-ib",
    "kernel-ib-devel",
    "compat-rdma",
    "compat-rdma-devel",
    "doca-ofed",
    "doca-ofed-userspace",
    "doca-all",
    "doca-networking",
    "doca-roce",
    "doca-host",
)

_NO_MATCH_RE = re.compile(r"^dpkg-query: no packages found matching (?P<name>\S+)\s*$")
_RPM_NOT_INSTALLED_RE = re.compile(r"^package (?P<name>\S+) is not installed\s*$")


def dpkg_argv(names: Sequence[str] = DEB_NAMES) -> List[str]:
    return ["dpkg-query", "-W", "-f=" + DPKG_FORMAT] + list(names)


def rpm_argv(names: Sequence[str] = RPM_NAMES) -> List[str]:
    return ["rpm", "-q", "--qf", RPM_FORMAT] + list(names)


def _status_installed(abbrev: str) -> bool:
    """``db:Status-Abbrev`` is want/status/error; status ``i`` = installed and configured."""
    return len(abbrev) >= 2 and abbrev[1] == "i"


def parse_dpkg_query(rc: int, stdout: str, stderr: str) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """Parse ``dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' NAMES...``.

    dpkg-query lists known packages (also removed ones, status ``rc``/``un``) and exits 1 when any name or
    pattern matched nothing, saying so on stderr: that is normal. Any other stderr line, or a non-zero exit
    without such a line, is an error (second item of the result).
    """
    packages = []  # type: List[Dict[str, Any]]
    for line in (stdout or "").splitlines():
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            return packages, "unexpected dpkg-query output line: %r" % (line[:200],)
        name = parts[0].split(":", 1)[0]
        version = parts[1]
        abbrev = parts[2] if len(parts) > 2 else ""
        if not version and not _status_installed(abbrev):
            continue  # known to dpkg but never installed (status "un"): nothing to report
        packages.append({
            "name": name,
            "version": version or None,
            "status": abbrev.strip() or None,
            "installed": _status_installed(abbrev) if abbrev else True,
            "manager": "dpkg",
        })
    other = [ln for ln in (stderr or "").splitlines() if ln.strip() and not _NO_MATCH_RE.match(ln)]
    if other:
        return packages, "dpkg-query exited %s: %s" % (rc, " ".join(other)[:500])
    if rc not in (0, 1):
        return packages, "dpkg-query exited %s" % (rc,)
    if rc == 1 and not (stderr or "").strip():
        return packages, "dpkg-query exited 1 without saying why"
    return packages, None


def parse_rpm_query(rc: int, stdout: str, stderr: str) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """Parse ``rpm -q --qf '%{NAME}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n' NAMES...``.

    rpm prints ``package X is not installed`` on stdout for each missing name and exits with the number
    of missing names. Lines with fewer than three tab-separated fields, stderr text, or an exit code that
    does not match the missing count are errors.
    """
    packages = []  # type: List[Dict[str, Any]]
    missing = 0
    for line in (stdout or "").splitlines():
        if not line.strip():
            continue
        if _RPM_NOT_INSTALLED_RE.match(line):
            missing += 1
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            return packages, "unexpected rpm output line: %r" % (line[:200],)
        name, version, release = parts[0], parts[1], parts[2]
        arch = parts[3] if len(parts) > 3 else None
        nvra = "%s-%s-%s" % (name, version, release) + ("." + arch if arch and arch != "(none)" else "")
        packages.append({
            "name": name,
            "version": "%s-%s" % (version, release),
            "upstream_version": version,
            "release": release,
            "arch": arch,
            "nvra": nvra,
            "installed": True,
            "manager": "rpm",
        })
    err = (stderr or "").strip()
    if err:
        return packages, "rpm -q exited %s: %s" % (rc, err[:500])
    if rc != missing and not (rc == 255 and missing > 255):
        return packages, "rpm -q exited %s but reported %s missing package(s)" % (rc, missing)
    return packages, None


def parse_rpm_nvra_lines(stdout: str) -> List[str]:
    """Plain ``rpm -q NAME`` / ``rpm -qa`` output: the installed NVRA lines (``ofed-scripts-1.5-0.x86_64``)."""
    return [ln.strip() for ln in (stdout or "").splitlines()
            if ln.strip() and not _RPM_NOT_INSTALLED_RE.match(ln.strip())]


def parse_dpkg_default(stdout: str) -> Dict[str, str]:
    """Default ``dpkg-query -W NAME`` output (``name[:arch]<TAB>version``) as ``{name: version}``."""
    result = {}
    for line in (stdout or "").splitlines():
        if "\t" in line:
            name, version = line.split("\t", 1)
            result[name.split(":", 1)[0]] = version.strip()
    return result


def find(packages: Sequence[Dict[str, Any]], name: str, manager: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The installed package ``name`` (optionally from one manager), or ``None``."""
    for pkg in packages:
        if pkg["name"] == name and pkg.get("installed") and (manager is None or pkg["manager"] == manager):
            return pkg
    return None
