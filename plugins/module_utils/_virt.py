# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Container and VM detection from files under a ``root`` prefix plus optional ``systemd-detect-virt`` output.

In a container, ``/proc/modules`` and ``uname -r`` belong to the host: modules cannot be managed from
there. A VM runs its own kernel, so modules stay manageable.
"""
from __future__ import annotations

import os
import re

# /proc/1/cgroup path fragments -> container runtime (hints only: cgroup namespaces hide them).
_CGROUP_HINTS = (
    ("/libpod-", "podman"),
    ("/docker/", "docker"),
    ("/docker-", "docker"),
    ("/lxc/", "lxc"),
    ("/lxc.payload", "lxc"),
    ("/kubepods", "kubernetes"),
    ("/machine.slice/machine-", "systemd-nspawn"),
)

# (field, regex, systemd-detect-virt style name) for /sys/class/dmi/id
_DMI_VM = (
    ("product_name", r"^KVM", "kvm"),
    ("sys_vendor", r"^QEMU", "qemu"),
    ("product_name", r"^Standard PC", "qemu"),
    ("sys_vendor", r"^VMware", "vmware"),
    ("product_name", r"^VMware", "vmware"),
    ("product_name", r"^VirtualBox", "oracle"),
    ("sys_vendor", r"^innotek", "oracle"),
    ("sys_vendor", r"^Xen", "xen"),
    ("product_name", r"^HVM domU", "xen"),
    ("sys_vendor", r"^Amazon EC2", "amazon"),
    ("sys_vendor", r"^Google", "google"),
    ("product_name", r"^Virtual Machine", "microsoft"),
    ("sys_vendor", r"^Parallels", "parallels"),
    ("sys_vendor", r"^Bochs", "bochs"),
)


def _read(root: str, path: str, binary: bool = False):
    try:
        with open(os.path.join(root, path.lstrip("/")), "rb" if binary else "r") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def _detect_virt_value(result) -> str | None:
    """``(rc, stdout)`` of ``systemd-detect-virt --container|--vm`` -> name, or None for ``none``/failure."""
    if not result:
        return None
    rc, out = result[0], (result[1] or "").strip()
    if rc == 0 and out and out != "none":
        return out.splitlines()[0].strip()
    return None


def detect_container(root: str = "/", detect_virt: tuple | None = None) -> dict:
    """Return ``{"container": name|None, "evidence": [...]}``.

    ``detect_virt`` is ``(rc, stdout)`` of ``systemd-detect-virt --container`` or None when not run.
    Checks, all recorded as evidence: the tool's answer, ``/run/.containerenv`` (podman), ``/.dockerenv``
    (docker), ``container=`` in ``/proc/1/environ``, ``/run/systemd/container``, and ``/proc/1/cgroup``.
    The first of these that names a runtime wins.
    """
    found: list[tuple[str, str]] = []
    tool = _detect_virt_value(detect_virt)
    if tool:
        found.append((tool, "systemd-detect-virt --container: %s" % tool))
    if os.path.exists(os.path.join(root, "run/.containerenv")):
        found.append(("podman", "/run/.containerenv exists"))
    if os.path.exists(os.path.join(root, ".dockerenv")):
        found.append(("docker", "/.dockerenv exists"))
    environ = _read(root, "/proc/1/environ", binary=True)
    if environ:
        for item in environ.split(b"\0"):
            if item.startswith(b"container="):
                value = item.split(b"=", 1)[1].decode("utf-8", "replace").strip()
                if value:
                    found.append((value, "container=%s in /proc/1/environ" % value))
    marker = _read(root, "/run/systemd/container")
    if marker and marker.strip():
        found.append((marker.strip(), "/run/systemd/container: %s" % marker.strip()))
    cgroup = _read(root, "/proc/1/cgroup")
    if cgroup:
        for fragment, name in _CGROUP_HINTS:
            if fragment in cgroup:
                found.append((name, "/proc/1/cgroup mentions %s" % fragment.strip("/-.")))
                break
    return {"container": found[0][0] if found else None, "evidence": [why for _name, why in found]}


def detect_vm(root: str = "/", detect_virt: tuple | None = None) -> dict:
    """Return ``{"vm": name|None, "evidence": [...]}``.

    ``detect_virt`` is ``(rc, stdout)`` of ``systemd-detect-virt --vm``. Without an answer from it, DMI
    ``sys_vendor``/``product_name`` name the hypervisor; the ``hypervisor`` CPU flag alone gives ``unknown``.
    """
    evidence: list[str] = []
    vm = _detect_virt_value(detect_virt)
    if vm:
        evidence.append("systemd-detect-virt --vm: %s" % vm)
    dmi = {}
    for field in ("sys_vendor", "product_name"):
        value = _read(root, "/sys/class/dmi/id/%s" % field)
        if value:
            dmi[field] = value.strip()
    for field, pattern, name in _DMI_VM:
        if field in dmi and re.search(pattern, dmi[field]):
            evidence.append("DMI %s: %s" % (field, dmi[field]))
            vm = vm or name
            break
    cpuinfo = _read(root, "/proc/cpuinfo")
    if cpuinfo and re.search(r"^flags\s*:.*\bhypervisor\b", cpuinfo, re.MULTILINE):
        evidence.append("cpu flag hypervisor")
        vm = vm or "unknown"
    return {"vm": vm, "evidence": evidence}
