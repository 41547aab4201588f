# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""What iscsi-scst's Makefile will decide about the RDMA headers, computed before the build runs.

Sources: SCST-project/scst ``iscsi-scst/Makefile`` (stored copy at commit 025574018e32, read through the code
index) for ``OFED_FLAVOR`` and the classic-OFED branch, and /work/shared/domain/scst-makefile-detection.md
(the project's reading of the late-2026 Makefile) for the MOFED package/header rules:

* ``OFED_FLAVOR``: ``in-tree`` without ``/usr/bin/ofed_info`` (only that path: a non-/usr prefix is not
  seen); otherwise ``MOFED``/``OFED``/``""`` from the first line of its output (see
  ``_ofed_info.scst_flavor``). An empty flavor takes the Makefile's non-MOFED branch.
* MOFED: DEB ``mlnx-ofed-kernel-dkms`` or ``mlnx-ofed-kernel-modules``; RPM ``mlnx-ofa_kernel-devel`` or
  legacy ``kernel-ib-devel``. Headers ``/usr/src/ofa_kernel/default/include``, forced
  ``include/linux/compat-2.6.h``, symbols ``/usr/src/ofa_kernel/default/Module.symvers``; ``MOFED_MAJOR``
  and ``MOFED_MINOR`` are the first two fields of the package version. The older stored Makefile instead
  used ``/var/lib/dkms/mlnx-ofed-kernel/<X.Y>/build`` for the DKMS package: reported as ``dkms_build_dir``.
* Other flavors: ``rpm -q kernel-ib-devel`` (OFED 1.x: ``/usr/src/ofa_kernel`` + ``config.mk``) and
  ``rpm -q compat-rdma-devel`` (OFED 3.x: ``/usr/src/compat-rdma``) count only when their output contains
  ``uname -r`` with ``-`` replaced by ``_``. The Makefile uses the *running* kernel here even when building
  for another one; compat-rdma wins when both match (it is evaluated last).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Sequence

from ansible_collections.iser.ofed.plugins.module_utils._ofed_info import scst_flavor
from ansible_collections.iser.ofed.plugins.module_utils._pkgquery import find

MAKEFILE_SOURCE = "SCST-project/scst iscsi-scst/Makefile (OFED_FLAVOR), domain doc scst-makefile-detection.md"
USR_OFED_INFO = "/usr/bin/ofed_info"
MOFED_DIR = "/usr/src/ofa_kernel/default"
OFA_DIR = "/usr/src/ofa_kernel"
COMPAT_RDMA_DIR = "/usr/src/compat-rdma"
HEADER_DIRS = (MOFED_DIR, OFA_DIR, COMPAT_RDMA_DIR)


def makefile_flavor(usr_ofed_info_exists: bool, usr_first_line: Optional[str]) -> str:
    """``OFED_FLAVOR`` as the Makefile computes it."""
    if not usr_ofed_info_exists:
        return "in-tree"
    return scst_flavor(usr_first_line)


def header_dir_facts(exists: Callable[[str], bool] = os.path.exists) -> Dict[str, Dict[str, Any]]:
    """Existence of the header directories and files the Makefile reads."""
    result = {}
    for path in HEADER_DIRS:
        result[path] = {
            "exists": exists(path),
            "include": exists(path + "/include"),
            "compat_h": exists(path + "/include/linux/compat-2.6.h"),
            "module_symvers": exists(path + "/Module.symvers"),
            "config_mk": exists(path + "/config.mk"),
        }
    return result


def _pkg_summary(pkg: Optional[Dict[str, Any]], name: str, manager: str) -> Dict[str, Any]:
    return {
        "name": name,
        "manager": manager,
        "installed": bool(pkg),
        "version": pkg.get("version") if pkg else None,
    }


def _leading_numbers(version: str, count: int) -> List[Optional[int]]:
    """``cut -f1 -d.`` / ``cut -f2 -d.`` of the version, as numbers when they are numbers."""
    fields = version.split(".")
    out = []  # type: List[Optional[int]]
    for i in range(count):
        value = fields[i].split("-")[0] if i < len(fields) else ""
        out.append(int(value) if value.isdigit() else None)
    return out


def compute(usr_ofed_info_exists: bool, usr_first_line: Optional[str], packages: Sequence[Dict[str, Any]],
            running_kernel: str, target_kernel: str, exists: Callable[[str], bool] = os.path.exists) -> Dict[str, Any]:
    """The ``scst_build`` fact: flavor, devel package, header dir, ``ready`` and human ``reasons``."""
    flavor = makefile_flavor(usr_ofed_info_exists, usr_first_line)
    reasons = []  # type: List[str]
    build = {
        "flavor": flavor,
        "source": MAKEFILE_SOURCE,
        "ofed_info": USR_OFED_INFO,
        "first_line": usr_first_line,
        "devel_package": None,
        "version": None,
        "mofed_major": None,
        "mofed_minor": None,
        "header_dir": None,
        "dkms_build_dir": None,
        "kernel_match": None,
    }  # type: Dict[str, Any]
    ready = True
    if flavor == "MOFED":
        deb = find(packages, "mlnx-ofed-kernel-dkms", "dpkg") or find(packages, "mlnx-ofed-kernel-modules", "dpkg")
        rpm = find(packages, "mlnx-ofa_kernel-devel", "rpm") or find(packages, "kernel-ib-devel", "rpm")
        pkg = deb or rpm
        if deb:
            build["devel_package"] = _pkg_summary(deb, deb["name"], "dpkg")
            build["version"] = deb["version"]
            if deb["name"] == "mlnx-ofed-kernel-dkms":
                build["dkms_build_dir"] = "/var/lib/dkms/mlnx-ofed-kernel/%s/build" % deb["version"].split("-")[0]
        elif rpm:
            build["devel_package"] = _pkg_summary(rpm, rpm["name"], "rpm")
            build["version"] = rpm.get("upstream_version") or rpm["version"]
        else:
            build["devel_package"] = _pkg_summary(None, "mlnx-ofed-kernel-dkms|mlnx-ofed-kernel-modules|"
                                                  "mlnx-ofa_kernel-devel|kernel-ib-devel", "dpkg|rpm")
            ready = False
            reasons.append("MLNX OFED has not been installed: none of mlnx-ofed-kernel-dkms, "
                           "mlnx-ofed-kernel-modules (DEB), mlnx-ofa_kernel-devel, kernel-ib-devel (RPM) "
                           "is installed")
        if pkg and build["version"]:
            build["mofed_major"], build["mofed_minor"] = _leading_numbers(build["version"], 2)
        build["header_dir"] = MOFED_DIR
        checks = (
            (MOFED_DIR + "/include", "header directory"),
            (MOFED_DIR + "/include/linux/compat-2.6.h", "forced include compat-2.6.h"),
            (MOFED_DIR + "/Module.symvers", "MLNX_OFED Module.symvers"),
        )
        for path, what in checks:
            if not exists(path):
                ready = False
                reasons.append("%s %s is missing" % (what, path))
    else:
        pattern = running_kernel.replace("-", "_")
        kib = find(packages, "kernel-ib-devel", "rpm")
        crd = find(packages, "compat-rdma-devel", "rpm")
        kib_match = bool(kib and pattern in kib.get("nvra", ""))
        crd_match = bool(crd and pattern in crd.get("nvra", ""))
        build["kernel_match"] = {"kernel": running_kernel, "pattern": pattern,
                                 "kernel_ib_devel": kib_match, "compat_rdma_devel": crd_match}
        if crd_match:
            build["devel_package"] = _pkg_summary(crd, "compat-rdma-devel", "rpm")
            build["version"] = crd["version"]
            build["header_dir"] = COMPAT_RDMA_DIR
            needed = (COMPAT_RDMA_DIR + "/include", COMPAT_RDMA_DIR + "/include/linux/compat-2.6.h")
        elif kib_match:
            build["devel_package"] = _pkg_summary(kib, "kernel-ib-devel", "rpm")
            build["version"] = kib["version"]
            build["header_dir"] = OFA_DIR
            needed = (OFA_DIR + "/include", OFA_DIR + "/config.mk")
        else:
            needed = ()
        for path in needed:
            if not exists(path):
                ready = False
                reasons.append("%s is missing" % path)
        if target_kernel != running_kernel and (kib or crd):
            reasons.append("the Makefile matches kernel-ib-devel/compat-rdma-devel against the running kernel "
                           "%s, not the target %s" % (running_kernel, target_kernel))
        if flavor == "OFED" and not (kib_match or crd_match):
            ready = False
            reasons.append("classic OFED is installed but no kernel-ib-devel/compat-rdma-devel RPM whose name "
                           "contains %s: the Makefile would build against the kernel's own RDMA headers" % pattern)
        elif flavor == "":
            ready = False
            reasons.append("the first line of /usr/bin/ofed_info (%r) starts with neither MLNX_OFED, "
                           "OFED-internal nor OFED-: the Makefile gets an empty OFED_FLAVOR" % (usr_first_line,))
        elif flavor == "in-tree":
            reasons.append("no /usr/bin/ofed_info: the Makefile builds against the kernel's in-tree RDMA headers")
    build["ready"] = ready
    build["reasons"] = reasons
    return build
