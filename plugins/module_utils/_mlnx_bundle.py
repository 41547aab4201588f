# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""MLNX_OFED bundle metadata: ``.mlnx``, ``.arch``, ``distro``, package indexes, kernel support.

What ``mlnxofedinstall`` checks, and how this module mirrors it:

* ``distro`` must equal the host's distro id (lower-case ID + VERSION_ID: ``ubuntu20.04``, ``rhel7.6``,
  ``sles12sp3``, ``debian10.0``) unless it reads ``skip-distro-check``; ``.arch`` must equal the host's
  architecture. Both mismatches make the installer exit 172.
* DEB bundles have no supported-kernels list. A kernel is supported when a prebuilt
  ``mlnx-ofed-kernel-modules*`` / ``mlnx-en-modules*`` package for it is in ``DEBS/**/Packages`` or among
  the ``.deb`` file names, or through DKMS (``mlnx-ofed-kernel-dkms`` present), which needs the target
  kernel's headers to build.
* RPM bundles list their kernels in ``.supported_kernels`` / ``supported_kernels`` (one per line) and ship
  ``mlnx-ofa_kernel-modules-*<kver with - turned into _>*`` RPMs. No real RPM bundle was available: this
  path is unit-tested on constructed data only.
"""
from __future__ import annotations

import posixpath
import re
from typing import Any, Dict, List, Optional

from ansible_collections.iser.ofed.plugins.module_utils import _kernel_version as kv

SKIP_DISTRO_CHECK = "skip-distro-check"
KERNEL_MODULE_DEB_PREFIXES = ("mlnx-ofed-kernel-modules", "mlnx-en-modules")
DKMS_PACKAGES = ("mlnx-ofed-kernel-dkms", "mlnx-en-dkms")
KERNEL_MODULE_RPM_PREFIX = "mlnx-ofa_kernel-modules"

_ARCH_ALIASES = {
    "amd64": "x86_64", "x86-64": "x86_64", "x64": "x86_64",
    "arm64": "aarch64", "ppc64el": "ppc64le",
    "i386": "x86", "i486": "x86", "i586": "x86", "i686": "x86",
}


class MlnxBundleError(ValueError):
    """The MLNX_OFED bundle metadata is missing or unusable."""


def normalize_arch(arch: Optional[str]) -> str:
    """``amd64`` → ``x86_64``, ``arm64`` → ``aarch64``, ``i686`` → ``x86``; others lower-cased."""
    value = (arch or "").strip().lower()
    return _ARCH_ALIASES.get(value, value)


# --- distro ids --------------------------------------------------------------------------------------

_RHEL_LIKE = ("redhat", "rhel", "centos", "rocky", "almalinux", "alma")


def mlnx_distro_id(distribution: str, version: str) -> str:
    """The MLNX_OFED distro id for Ansible-style facts.

    ``(Ubuntu, 20.04)`` → ``ubuntu20.04``; ``(Debian, 10)`` → ``debian10.0``; ``(Debian, 10.3)`` →
    ``debian10.3``; ``(RedHat, 7.6)`` and ``(CentOS, 7.6.1810)`` → ``rhel7.6``; ``(OracleLinux, 8.4)`` →
    ``ol8.4``; ``(SLES, 12.3)`` → ``sles12sp3``; ``(SLES, 15)`` → ``sles15sp0``; ``(Fedora, 31)`` →
    ``fc31``; ``(openEuler, 20.03)`` → ``openeuler20.03``. Anything else: lower-case name + version.
    """
    name = re.sub(r"[\s_-]+", "", (distribution or "").strip().lower())
    ver = (version or "").strip().lower()
    parts = [p for p in re.split(r"[.\s]+", ver) if p]
    major = parts[0] if parts else ""
    minor = parts[1] if len(parts) > 1 else ""
    if not name:
        raise MlnxBundleError("distribution is empty: pass distro (e.g. ubuntu20.04) or distribution and "
                              "distribution_version from the host facts")
    if name in ("sles", "suse", "slessap", "slesforsap", "sled"):
        minor = re.sub(r"^sp", "", minor)
        return "sles%ssp%s" % (major, minor or "0")
    if name in _RHEL_LIKE:
        return "rhel%s.%s" % (major, minor or "0")
    if name in ("oraclelinux", "ol", "oracle"):
        return "ol%s.%s" % (major, minor or "0")
    if name == "fedora":
        return "fc%s" % major
    if name == "debian":
        return "debian%s.%s" % (major, minor or "0")
    if name == "ubuntu":
        return "ubuntu%s.%s" % (major, minor or "04")
    if minor:
        return "%s%s.%s" % (name, major, minor)
    return "%s%s" % (name, major)


def mlnx_distro_matches(bundle_distro: str, host_distro: str) -> bool:
    """Whether a bundle's ``distro`` file accepts the host's MLNX_OFED distro id.

    Exact match (case-insensitive), plus one Debian rule: the 5.0 DEB installer builds its id from
    os-release ``ID`` + ``VERSION_ID``, which is the major release only on Debian (``debian12``), while
    the host id carries the point release (``debian12.12`` from ``/etc/debian_version``); a bundle id
    without a point release therefore accepts every point release of that major. A bundle that names a
    point release (``debian12.1``, as later vendor bundles do) must match it exactly.
    """
    bundle_id = (bundle_distro or "").strip().lower()
    host_id = (host_distro or "").strip().lower()
    if not bundle_id or not host_id:
        return False
    if bundle_id == host_id:
        return True
    found = re.match(r"^debian(\d+)$", bundle_id)
    return bool(found) and re.match(r"^debian%s(\.\d+)?$" % found.group(1), host_id) is not None


# --- package indexes ---------------------------------------------------------------------------------

def parse_packages_index(text: str) -> List[Dict[str, str]]:
    """Parse an apt ``Packages`` file into stanzas (field name → value; continuation lines dropped)."""
    stanzas: List[Dict[str, str]] = []
    current: Dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
                current = {}
            continue
        if line[:1] in (" ", "\t"):
            continue
        key, sep, value = line.partition(":")
        if sep:
            current[key.strip()] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def _deb_name_fields(filename: str) -> Dict[str, str]:
    """``pkg_version_arch.deb`` → ``{Package, Version, Filename}``."""
    base = posixpath.basename(filename)
    stem = base[:-4] if base.endswith(".deb") else base
    parts = stem.split("_")
    return {"Package": parts[0], "Version": parts[1] if len(parts) > 1 else "", "Filename": filename}


def _kernel_of_module_package(stanza: Dict[str, str]) -> Optional[str]:
    """The kernel a prebuilt module package is for: the text after ``kver.`` in its version or file name."""
    for field in ("Version", "Filename", "Package"):
        value = stanza.get(field, "")
        match = re.search(r"kver\.(.+?)(?:_[^_]*\.deb)?$", posixpath.basename(value))
        if match:
            return match.group(1)
    return None


def _is_module_package(name: str) -> bool:
    return any(name == p or name.startswith(p + "-") for p in KERNEL_MODULE_DEB_PREFIXES)


def _is_dkms_package(name: str) -> bool:
    return name in DKMS_PACKAGES


def deb_inventory(files: List[str], packages_texts: Dict[str, str]) -> Dict[str, Any]:
    """Kernel module packages and DKMS packages of a DEB bundle, from ``Packages`` indexes and file names."""
    stanzas: List[Dict[str, str]] = []
    for text in packages_texts.values():
        stanzas.extend(parse_packages_index(text))
    stanzas.extend(_deb_name_fields(f) for f in files if f.endswith(".deb"))
    module_pkgs: List[Dict[str, Any]] = []
    dkms: List[str] = []
    for stanza in stanzas:
        name = stanza.get("Package", "")
        if _is_module_package(name):
            entry = {"package": name, "version": stanza.get("Version", ""),
                     "kernel": _kernel_of_module_package(stanza),
                     "text": " ".join(stanza.get(f, "") for f in ("Package", "Version", "Filename"))}
            if entry not in module_pkgs:
                module_pkgs.append(entry)
        elif _is_dkms_package(name) and name not in dkms:
            dkms.append(name)
    return {"module_packages": module_pkgs, "dkms_packages": dkms}


def _contains_kernel(text: str, kernel: str) -> bool:
    return re.search(r"(?:^|[^\w.])%s(?:$|[^\w.-])" % re.escape(kernel), text) is not None or \
        re.search(r"(?:^|[._-])%s(?:$|[_\s])" % re.escape(kernel), text) is not None


def rpm_inventory(files: List[str], texts: Dict[str, str]) -> Dict[str, Any]:
    """Supported kernels (``.supported_kernels``/``supported_kernels``) and kernel module RPM names."""
    kernels: List[str] = []
    for rel in (".supported_kernels", "supported_kernels"):
        for line in (texts.get(rel) or "").splitlines():
            line = line.strip()
            if line and not line.startswith("#") and line not in kernels:
                kernels.append(line)
    rpms = [posixpath.basename(f) for f in files
            if f.endswith(".rpm") and posixpath.basename(f).startswith(KERNEL_MODULE_RPM_PREFIX)]
    return {"supported_kernels": kernels, "module_rpms": sorted(set(rpms))}


# --- the decision -------------------------------------------------------------------------------------

def read_metadata(texts: Dict[str, str], where: str = "bundle") -> Dict[str, str]:
    """``.mlnx`` (required), ``.arch`` and ``distro`` (first line of each)."""
    def first(rel: str) -> str:
        lines = (texts.get(rel) or "").strip().splitlines()
        return lines[0].strip() if lines else ""

    version = first(".mlnx")
    if not version:
        raise MlnxBundleError("%s: .mlnx is missing or empty (expected one line with the MLNX_OFED version, "
                              "e.g. 5.0-2.1.8.0)" % where)
    return {"version": version, "arch": first(".arch"), "distro": first("distro")}


def check_kernel(kernel: str, files: List[str], texts: Dict[str, str],
                 headers_present: Optional[bool]) -> Dict[str, Any]:
    """Whether the bundle's packages support ``kernel``: ``{supported, match, reason, nearest, packaging, detail}``."""
    kernel = kernel.strip()
    packages_texts = {k: v for k, v in texts.items() if posixpath.basename(k) == "Packages"}
    has_debs = bool(packages_texts) or any(f.endswith(".deb") for f in files)
    rpm = rpm_inventory(files, texts)
    has_rpms = bool(rpm["supported_kernels"]) or any(f.endswith(".rpm") for f in files)

    if has_rpms and not has_debs:
        under = kernel.replace("-", "_")
        listed = [k for k in rpm["supported_kernels"] if k == kernel or kv.same_up_to_flavour(k, kernel)]
        if listed:
            return {"supported": True, "match": "supported_kernels", "packaging": "rpm", "detail": listed[0],
                    "nearest": [], "reason": "kernel %s is listed in the bundle's supported kernels" % kernel}
        rpm_hits = [r for r in rpm["module_rpms"] if under in r]
        if rpm_hits:
            return {"supported": True, "match": "kernel_modules_package", "packaging": "rpm", "detail": rpm_hits[0],
                    "nearest": [], "reason": "the bundle ships %s, built for kernel %s" % (rpm_hits[0], kernel)}
        return {"supported": False, "match": "none", "packaging": "rpm", "detail": None,
                "nearest": kv.sort_by_closeness(kernel, rpm["supported_kernels"])[:5],
                "reason": "MLNX_OFED_LINUX does not have drivers for kernel %s: it is not in .supported_kernels "
                          "and no %s RPM is built for it" % (kernel, KERNEL_MODULE_RPM_PREFIX)}

    inventory = deb_inventory(files, packages_texts)
    for pkg in inventory["module_packages"]:
        if pkg["kernel"] == kernel or (pkg["kernel"] is None and _contains_kernel(pkg["text"], kernel)):
            return {"supported": True, "match": "kernel_modules_package", "packaging": "deb", "detail": pkg["package"],
                    "nearest": [], "reason": "the bundle ships %s %s, built for kernel %s"
                    % (pkg["package"], pkg["version"], kernel)}
    prebuilt = [p["kernel"] for p in inventory["module_packages"] if p["kernel"]]
    nearest = kv.sort_by_closeness(kernel, prebuilt)[:5]
    if inventory["dkms_packages"]:
        dkms = inventory["dkms_packages"][0]
        if headers_present is False:
            return {"supported": False, "match": "none", "packaging": "deb", "detail": dkms, "nearest": nearest,
                    "reason": "no prebuilt kernel modules for %s and %s needs the kernel headers "
                              "(/lib/modules/%s/build), which are not installed" % (kernel, dkms, kernel)}
        if headers_present is None:
            reason = ("supported via DKMS (%s builds the modules for %s), needs the kernel headers: whether they "
                      "are installed is unknown" % (dkms, kernel))
        else:
            reason = "supported via DKMS: %s builds the modules for %s against its installed headers" % (dkms, kernel)
        return {"supported": True, "match": "dkms", "packaging": "deb", "detail": dkms, "nearest": nearest,
                "reason": reason}
    return {"supported": False, "match": "none", "packaging": "deb" if has_debs else "unknown", "detail": None,
            "nearest": nearest,
            "reason": "MLNX_OFED_LINUX has no %s package for kernel %s and no DKMS package to build one"
                      % ("/".join(KERNEL_MODULE_DEB_PREFIXES), kernel)}
