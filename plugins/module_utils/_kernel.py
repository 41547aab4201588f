# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Kernel facts for ``iser.ofed.kernel_facts``: pure functions over files below a ``root`` prefix.

``gather_kernel_facts`` builds the ``iser_ofed.kernel`` dictionary described in ``docs/facts.md``. It never
raises for missing or unreadable files: it records ``{code, msg}`` items in ``errors`` instead.
"""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Sequence

from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import is_module_file, parse_modules_dep
from ansible_collections.iser.ofed.plugins.module_utils._mounts import (
    describe_mount, parse_mountinfo, parse_proc_mounts)
from ansible_collections.iser.ofed.plugins.module_utils._proc_modules import parse_proc_modules, select_ib_modules
from ansible_collections.iser.ofed.plugins.module_utils._virt import detect_container, detect_vm

# Distro IB/Mellanox module directories, relative to /lib/modules/<kver>. A trailing ``/*`` stands for each
# subdirectory (mlx4, mlx5, mlxfw, mlxsw, ...), reported one by one. The stock-module purge reuses this list.
DEFAULT_STOCK_MODULE_DIRS = (
    "kernel/drivers/infiniband",
    "kernel/drivers/net/mlx4",
    "kernel/drivers/net/ethernet/mellanox/*",
)

# Where OFED / MLNX_OFED put their modules: never purged.
OFED_MODULE_DIRS = ("updates", "extra", "updates/dkms")

SECURE_BOOT_EFIVAR = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

_FAMILIES = (
    ("debian", ("debian", "ubuntu", "linuxmint", "raspbian", "pop")),
    ("redhat", ("rhel", "fedora", "centos", "rocky", "almalinux", "ol", "amzn", "scientific", "cloudlinux")),
    ("suse", ("suse", "sles", "sled", "opensuse", "opensuse-leap", "opensuse-tumbleweed")),
)

Runner = Callable[[Sequence[str]], "tuple[int, str, str] | None"]


def _error(code: str, msg: str) -> dict:
    return {"code": code, "msg": msg}


def _join(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def read_file(root: str, path: str, errors: list[dict]) -> str | None:
    """Text of ``path`` under ``root``; None when absent; ``FILE_UNREADABLE`` when present but unreadable."""
    full = _join(root, path)
    if not os.path.lexists(full):
        return None
    try:
        with open(full, encoding="utf-8", errors="surrogateescape") as handle:
            return handle.read()
    except OSError as exc:
        errors.append(_error("FILE_UNREADABLE", "cannot read %s: %s" % (path, exc.strerror or exc)))
        return None


def parse_config_option(text: str, option: str = "CONFIG_INFINIBAND") -> tuple[bool, str | None]:
    """``(found, value)`` of a kernel ``.config`` option: ``m``/``y``/string, None for ``is not set``."""
    set_re = re.compile(r"^%s=(.*)$" % re.escape(option))
    unset = "# %s is not set" % option
    for line in text.splitlines():
        line = line.strip()
        match = set_re.match(line)
        if match:
            return True, match.group(1).strip().strip('"')
        if line == unset:
            return True, None
    return False, None


def modules_symbols_has(text: str, symbol: str = "ib_register_client") -> bool:
    """True when ``modules.symbols`` has ``alias symbol:<symbol> <module>``."""
    prefix = "alias symbol:%s " % symbol
    return any(line.startswith(prefix) for line in text.splitlines())


def distribution_family(dist_id: str | None, id_like: str | None) -> str | None:
    """``debian``/``redhat``/``suse`` from the os-release ``ID`` and ``ID_LIKE``; None when unknown."""
    ids = [i for i in [(dist_id or "").lower()] + (id_like or "").lower().split() if i]
    for family, members in _FAMILIES:
        if any(i in members or (family == "suse" and i.startswith(("opensuse", "sles"))) for i in ids):
            return family
    return None


def distribution_facts(root: str = "/") -> dict:
    """id, version, major_version, codename, family, like and pretty_name via Ansible's vendored distro."""
    from ansible.module_utils import distro

    if root in ("", "/"):
        info = distro
    else:
        try:
            info = distro.LinuxDistribution(root_dir=root)
        except TypeError:  # a system ``distro`` older than 1.6 has no root_dir
            info = distro.LinuxDistribution(include_lsb=False,
                                            os_release_file=os.path.join(root, "etc/os-release"))
    dist_id = info.id() or None
    like = info.like() or None
    return {
        "id": dist_id,
        "version": info.version() or None,
        "major_version": info.major_version() or None,
        "codename": info.codename() or None,
        "family": distribution_family(dist_id, like),
        "like": like,
        "pretty_name": info.name(pretty=True) or None,
    }


def layout_of(rel: str) -> str:
    """Tag a module directory with its layout: ``infiniband``, ``mlx4_old``, ``mellanox`` or ``other``."""
    if rel.startswith("kernel/drivers/infiniband"):
        return "infiniband"
    if rel.startswith("kernel/drivers/net/mlx4"):
        return "mlx4_old"
    if rel.startswith("kernel/drivers/net/ethernet/mellanox"):
        return "mellanox"
    return "other"


def scan_dir(path: str) -> dict:
    """Count regular files (symlinks not followed), module files, bytes and module suffixes below ``path``."""
    files = modules = size = 0
    suffixes: set[str] = set()
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            files += 1
            size += st.st_size
            if is_module_file(name):
                modules += 1
                suffixes.add(name[name.index(".ko"):])
    return {"files": files, "modules": modules, "bytes": size, "suffixes": sorted(suffixes)}


def expand_module_dirs(modules_dir: str, rels: Sequence[str]) -> list[str]:
    """Expand ``dir/*`` entries into the subdirectories that exist; keep ``dir`` itself when it has none."""
    out: list[str] = []
    for rel in rels:
        rel = rel.strip("/")
        if rel.endswith("/*"):
            parent = rel[:-2]
            full = os.path.join(modules_dir, parent)
            subdirs = []
            if os.path.isdir(full):
                subdirs = sorted(d for d in os.listdir(full) if os.path.isdir(os.path.join(full, d))
                                 and not os.path.islink(os.path.join(full, d)))
            out.extend(["%s/%s" % (parent, d) for d in subdirs] or [parent])
        else:
            out.append(rel)
    return out


def module_dir_facts(root: str, modules_dir: str, rels: Sequence[str], tag_layout: bool = True) -> list[dict]:
    """One entry per (expanded) directory: rel, path, layout, exists, files, modules, bytes, suffixes."""
    full_modules_dir = _join(root, modules_dir)
    entries = []
    for rel in expand_module_dirs(full_modules_dir, rels):
        full = os.path.join(full_modules_dir, rel)
        exists = os.path.isdir(full)
        entry = {"rel": rel, "path": os.path.join(modules_dir, rel), "exists": exists}
        if tag_layout:
            entry["layout"] = layout_of(rel)
        entry.update(scan_dir(full) if exists else {"files": 0, "modules": 0, "bytes": 0, "suffixes": []})
        entries.append(entry)
    return entries


def build_tree_facts(root: str, modules_dir: str) -> dict:
    """``build``/``source`` links of /lib/modules/<kver>: existence and dangling symlinks."""
    facts: dict = {}
    for name in ("build", "source"):
        path = os.path.join(modules_dir, name)
        full = _join(root, path)
        is_link = os.path.islink(full)
        exists = os.path.exists(full)
        facts["%s_dir" % name] = path
        facts["%s_dir_exists" % name] = exists
        facts["%s_dir_dangling" % name] = is_link and not exists
        facts["%s_dir_link" % name] = os.readlink(full) if is_link else None
    return facts


def kernel_config_facts(root: str, kver: str, errors: list[dict]) -> dict:
    """``CONFIG_INFINIBAND`` from ``<build>/.config``, else ``/boot/config-<kver>``."""
    for path in ("/lib/modules/%s/build/.config" % kver, "/boot/config-%s" % kver):
        text = read_file(root, path, errors)
        if text is None:
            continue
        found, value = parse_config_option(text)
        return {"path": path, "infiniband": value, "infiniband_found": found}
    return {"path": None, "infiniband": None, "infiniband_found": False}


def secure_boot_facts(root: str, mokutil: tuple | None = None) -> dict:
    """Secure Boot state: ``/sys/firmware/efi`` absent -> disabled (legacy BIOS); else the efivar; else mokutil.

    The efivarfs file holds 4 attribute bytes then the value byte; the old sysfs ``vars/.../data`` the
    value only. ``mokutil`` is ``(rc, stdout)`` of ``mokutil --sb-state`` or None when not run.
    """
    if not os.path.isdir(_join(root, "/sys/firmware/efi")):
        return {"state": "disabled", "source": "no /sys/firmware/efi: legacy BIOS boot"}
    candidates = (
        ("/sys/firmware/efi/efivars/%s" % SECURE_BOOT_EFIVAR, 4),
        ("/sys/firmware/efi/vars/%s/data" % SECURE_BOOT_EFIVAR, 0),
    )
    for path, offset in candidates:
        try:
            with open(_join(root, path), "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        if len(data) > offset:
            return {"state": "enabled" if data[offset] == 1 else "disabled", "source": path}
    if mokutil and mokutil[0] == 0:
        text = (mokutil[1] or "").lower()
        if "secureboot enabled" in text:
            return {"state": "enabled", "source": "mokutil --sb-state"}
        if "secureboot disabled" in text:
            return {"state": "disabled", "source": "mokutil --sb-state"}
    return {"state": "unknown", "source": "EFI system without a readable %s variable" % SECURE_BOOT_EFIVAR}


def loaded_modules_facts(root: str, running: str, container: str | None, errors: list[dict]) -> dict:
    """``modules`` sub-dict: readable / manageable / reason / loaded_ib."""
    facts: dict = {"readable": False, "manageable": False, "reason": None, "loaded_ib": []}
    text = read_file(root, "/proc/modules", [])
    if text is None:
        exists = os.path.lexists(_join(root, "/proc/modules"))
        msg = "/proc/modules is %s: no loadable-module information here" % (
            "unreadable" if exists else "absent")
        errors.append(_error("PROC_MODULES_UNREADABLE", msg))
        facts["reason"] = msg
    else:
        facts["readable"] = True
        modules, bad = parse_proc_modules(text)
        if bad:
            errors.append(_error("PROC_MODULES_UNPARSEABLE", "%d line(s) of /proc/modules not understood, "
                                 "first: %r" % (len(bad), bad[0][:200])))
        dep_text = read_file(root, "/lib/modules/%s/modules.dep" % running, errors)
        dep_map = parse_modules_dep(dep_text)[0] if dep_text else {}
        facts["loaded_ib"] = select_ib_modules(modules, dep_map)
        facts["manageable"] = True
    if container:
        facts["manageable"] = False
        reason = "running in a container (%s): /proc/modules and uname -r belong to the host" % container
        facts["reason"] = reason if facts["reason"] is None else "%s; %s" % (reason, facts["reason"])
    return facts


def mount_facts(root: str, errors: list[dict]) -> tuple[dict, dict]:
    """``(root_fs, boot_fs)`` from /proc/self/mountinfo, else /proc/mounts."""
    mounts: list[dict] = []
    text = read_file(root, "/proc/self/mountinfo", errors)
    if text is not None:
        mounts, _bad = parse_mountinfo(text)
    else:
        text = read_file(root, "/proc/mounts", errors)
        if text is not None:
            mounts, _bad = parse_proc_mounts(text)
    if not mounts:
        errors.append(_error("FILE_UNREADABLE", "no mount table: /proc/self/mountinfo and /proc/mounts "
                             "are absent, unreadable or empty"))
    return describe_mount(root, mounts, "/"), describe_mount(root, mounts, "/boot")


def gather_kernel_facts(root: str, running: str, arch: str, distribution: dict,
                        target: str | None = None,
                        module_dirs: Sequence[str] = DEFAULT_STOCK_MODULE_DIRS,
                        run: Runner | None = None) -> dict:
    """Build ``iser_ofed.kernel``. ``run(argv)`` returns ``(rc, out, err)``, or None when the tool is absent."""
    errors: list[dict] = []
    run = run or (lambda argv: None)
    target = target or running
    modules_dir = "/lib/modules/%s" % target
    facts: dict = {
        "running": running,
        "target": target,
        "target_is_running": target == running,
        "arch": arch,
        "distribution": distribution,
        "modules_dir": modules_dir,
        "modules_dir_exists": os.path.isdir(_join(root, modules_dir)),
    }
    if not facts["modules_dir_exists"]:
        errors.append(_error("TARGET_KERNEL_NOT_INSTALLED", "%s does not exist: kernel %s is not installed "
                             "here" % (modules_dir, target)))
    facts.update(build_tree_facts(root, modules_dir))
    facts["config"] = kernel_config_facts(root, target, errors)
    symbols = read_file(root, modules_dir + "/modules.symbols", errors)
    facts["ib_register_client_in_modules_symbols"] = None if symbols is None else modules_symbols_has(symbols)
    facts["stock_dirs"] = module_dir_facts(root, modules_dir, module_dirs)
    facts["ofed_module_dirs"] = module_dir_facts(root, modules_dir, OFED_MODULE_DIRS, tag_layout=False)

    container = detect_container(root, _out(run(["systemd-detect-virt", "--container"])))
    vm = detect_vm(root, _out(run(["systemd-detect-virt", "--vm"])))
    facts["virtualization"] = {"container": container["container"], "vm": vm["vm"],
                               "evidence": container["evidence"] + vm["evidence"]}
    facts["modules"] = loaded_modules_facts(root, running, container["container"], errors)
    mok = None
    if os.path.isdir(_join(root, "/sys/firmware/efi")):
        mok = _out(run(["mokutil", "--sb-state"]))
    facts["secure_boot"] = secure_boot_facts(root, mok)
    facts["root_fs"], facts["boot_fs"] = mount_facts(root, errors)
    facts["errors"] = errors
    return facts


def _out(result) -> tuple | None:
    return None if result is None else (result[0], result[1])
