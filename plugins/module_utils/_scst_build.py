# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Readiness of the iscsi-scst build for one target kernel: the ``iser_ofed.scst_build`` fact.

``_scst.compute`` (shared with ``ofed_facts``) decides what iscsi-scst's Makefile does with the RDMA headers:
the flavor, the devel package, the header directory. This file adds what that decision does not cover and
turns the lot into coded, blocking ``reasons`` with the fix in each message:

* ``KVER``/``KDIR`` as the Makefile derives them: ``KVER`` defaults to ``uname -r``, ``KDIR`` to
  ``/lib/modules/$KVER/build``; ``KDIR`` alone makes it read ``$KDIR/include/config/kernel.release``. On Debian
  that file holds the upstream version (``6.1.192``) while the tree builds for ``6.1.0-56-amd64`` (its
  ``.kernelvariables`` overrides ``KERNELRELEASE``): captured in tests/unit/fixtures/captured/debian12-kernel-build.
* isert-scst is built only when InfiniBand is enabled for ``KVER``: ``/lib/modules/$KVER/modules.symbols``
  lists ``ib_register_client``, or ``$KDIR/.config`` has ``CONFIG_INFINIBAND=m|y``.
* MLNX_OFED's ``/usr/src/ofa_kernel/default`` is, as DKMS and the RPMs install it, a link to
  ``<arch>/<kver>``: a link to another kernel's tree means ``Module.symvers`` of the wrong kernel. A plain
  directory is dated by the ``KVERSION=`` line of its ``config.mk``/``configure.mk.kernel`` (written by
  mlnx-ofa_kernel's configure) when it has one.
* The compiler the kernel tree asks for (Debian: ``CC = ... gcc-12`` in ``$KDIR/.kernelvariables``, else the
  first word of ``CONFIG_CC_VERSION_TEXT``), ``make``, ``ld``, ``perl``.

Everything is read below ``root`` (tests point it at a constructed tree); paths in the result are the host's.
"""
from __future__ import annotations

import os
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.iser.ofed.plugins.module_utils import _pkgquery as pq
from ansible_collections.iser.ofed.plugins.module_utils import _scst
from ansible_collections.iser.ofed.plugins.module_utils._kernel import parse_config_option
from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import module_name_from_path

Which = Callable[[str], Optional[str]]

FLAVORS = ("MOFED", "OFED", "in-tree")
# The collection's own flavor names (iser_ofed_flavor) are accepted and mean the Makefile's.
FLAVOR_ALIASES = {"mlnx_ofed": "MOFED", "ofed": "OFED", "in_tree": "in-tree", "inbox": "in-tree"}
IB_SYMBOL = "ib_register_client"
OFED_MODULE_DIRS = ("updates/", "extra/")
_KVERSION_RE = re.compile(r"^\s*KVERSION\s*:?=\s*(\S+)\s*$", re.MULTILINE)
_RELEASE_RE = re.compile(r"^\d+\.\d+")
_KV_RELEASE_RE = re.compile(r"^\s*(?:override\s+)?KERNELRELEASE\s*:?=\s*(\S+)\s*$")
_KV_CC_RE = re.compile(r"^\s*(?:override\s+)?CC\s*:?=\s*(.+?)\s*$")
_MAKE_REF_RE = re.compile(r"\$\([^()]*(?:\([^()]*\)[^()]*)*\)")


def normalize_flavor(value: Optional[str]) -> str:
    """``MOFED``/``OFED``/``in-tree`` (or ``""``: no expectation) from the Makefile's or the collection's name."""
    text = (value or "").strip()
    if text in FLAVORS or text == "":
        return text
    return FLAVOR_ALIASES.get(text.lower(), text)


def _reason(code: str, msg: str) -> Dict[str, str]:
    return {"code": code, "msg": msg}


def _join(root: str, path: str, follow_last: bool = True) -> str:
    """``path`` below ``root``, with symlinks resolved inside ``root`` (absolute links restart at ``root``)."""
    if root in ("", "/"):
        return path
    parts = [p for p in path.split("/") if p]
    done = []  # type: List[str]
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *(done + [part]))
        if (parts or follow_last) and os.path.islink(candidate) and hops < 40:
            hops += 1
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        done.append(part)
    return os.path.join(root, *done)


def _logical_realpath(root: str, path: str) -> str:
    """``path`` with every symlink resolved, as the host sees it (inside ``root``)."""
    if root in ("", "/"):
        return os.path.realpath(path)
    rel = os.path.relpath(_join(root, path), root)
    return "/" if rel == "." else "/" + rel


def read_text(root: str, path: str, errors: List[Dict[str, str]], limit: int = 4 * 1024 * 1024) -> Optional[str]:
    """Text of ``path`` below ``root``; None when absent; ``FILE_UNREADABLE`` in ``errors`` when unreadable."""
    full = _join(root, path)
    if not os.path.exists(full):
        return None
    try:
        with open(full, encoding="utf-8", errors="replace") as handle:
            return handle.read(limit)
    except OSError as exc:
        errors.append(_reason("FILE_UNREADABLE", "cannot read %s: %s" % (path, exc.strerror or exc)))
        return None


def parse_kernelvariables(text: Optional[str]) -> Dict[str, Optional[str]]:
    """``{"kernelrelease", "cc"}`` from Debian's ``$KDIR/.kernelvariables`` (make syntax).

    ``CC = $(if $(DEBIAN_KERNEL_USE_CCACHE),$(CCACHE)) $(CROSS_COMPILE)gcc-12`` gives ``gcc-12``: make
    references are dropped and the last word is the compiler.
    """
    out = {"kernelrelease": None, "cc": None}  # type: Dict[str, Optional[str]]
    for line in (text or "").splitlines():
        match = _KV_RELEASE_RE.match(line)
        if match:
            out["kernelrelease"] = match.group(1)
            continue
        match = _KV_CC_RE.match(line)
        if match:
            words = _MAKE_REF_RE.sub(" ", match.group(1)).split()
            out["cc"] = words[-1] if words else None
    return out


def cc_from_config(config_text: Optional[str]) -> Optional[str]:
    """First word of ``CONFIG_CC_VERSION_TEXT`` (``gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0`` -> ``gcc-12``)."""
    found, value = parse_config_option(config_text or "", "CONFIG_CC_VERSION_TEXT")
    if not found or not value:
        return None
    word = value.split()[0]
    return word if re.match(r"^[A-Za-z0-9_.+-]+$", word) else None


def symbol_providers(modules_symbols: str, symbol: str = IB_SYMBOL) -> List[str]:
    """Modules that ``modules.symbols`` names for ``symbol`` (``alias symbol:<symbol> <module>``)."""
    prefix = "alias symbol:%s " % symbol
    return [line[len(prefix):].strip() for line in modules_symbols.splitlines() if line.startswith(prefix)]


def module_paths(modules_dep: str, names: Sequence[str]) -> List[str]:
    """Paths (relative to /lib/modules/<kver>) that ``modules.dep`` lists for the module ``names``."""
    wanted = set(names)
    paths = []
    for line in modules_dep.splitlines():
        path = line.partition(":")[0].strip()
        if path and module_name_from_path(path) in wanted:
            paths.append(path)
    return paths


def resolve_target(root: str, running: str, target_kernel: Optional[str], kdir: Optional[str],
                   errors: List[Dict[str, str]]) -> Dict[str, Any]:
    """``KVER``/``KDIR`` as iscsi-scst's Makefile derives them from what is given."""
    kernel = target_kernel or None
    release_file = None  # type: Optional[str]
    if kernel:
        source = "target_kernel"
        kdir = kdir or "/lib/modules/%s/build" % kernel
    elif kdir:
        source = "kdir include/config/kernel.release"
        release_file = (read_text(root, kdir.rstrip("/") + "/include/config/kernel.release", errors) or "").strip()
        kernel = release_file or None
    else:
        source = "uname -r"
        kernel = running
        kdir = "/lib/modules/%s/build" % kernel
    variables = parse_kernelvariables(read_text(root, kdir.rstrip("/") + "/.kernelvariables", errors))
    full = _join(root, kdir)
    return {
        "kernel": kernel,
        "kernel_source": source,
        "kdir": kdir,
        "kdir_exists": os.path.isdir(full),
        "kdir_dangling": os.path.islink(_join(root, kdir, follow_last=False)) and not os.path.exists(full),
        "kdir_kernel_release": release_file,
        "kdir_builds_for": variables["kernelrelease"],
        "kernel_cc_variables": variables["cc"],
    }


def infiniband_facts(root: str, kernel: Optional[str], kdir: str, errors: List[Dict[str, str]]) -> Dict[str, Any]:
    """Is InfiniBand enabled for ``kernel`` the way the Makefile tests it, and who provides the symbol."""
    modules_dir = "/lib/modules/%s" % kernel if kernel else None
    symbols_path = modules_dir + "/modules.symbols" if modules_dir else None
    symbols = read_text(root, symbols_path, errors) if symbols_path else None
    providers = symbol_providers(symbols) if symbols is not None else []
    paths = []  # type: List[str]
    if providers and modules_dir:
        paths = module_paths(read_text(root, modules_dir + "/modules.dep", errors) or "", providers)
    config_path = kdir.rstrip("/") + "/.config"
    config = read_text(root, config_path, errors)
    found, value = parse_config_option(config or "", "CONFIG_INFINIBAND")
    config_value = value if found else None
    if providers:
        source = "modules.symbols"  # type: Optional[str]
    elif config_value in ("m", "y"):
        source = "config"
    else:
        source = None
    return {
        "enabled": source is not None,
        "source": source,
        "modules_symbols": symbols_path,
        "modules_symbols_exists": symbols is not None,
        "symbol": IB_SYMBOL,
        "symbol_listed": bool(providers),
        "symbol_modules": providers,
        "symbol_module_paths": paths,
        "ofed_modules": any(p.startswith(OFED_MODULE_DIRS) for p in paths),
        "config": config_path if config is not None else None,
        "config_infiniband": config_value,
    }


def ofa_tree_kernel(root: str, path: str, errors: List[Dict[str, str]]) -> Dict[str, Any]:
    """Which kernel ``path`` (``/usr/src/ofa_kernel/default``) was built for, and how we know."""
    full = _join(root, path, follow_last=False)
    link = os.readlink(full) if os.path.islink(full) else None
    out = {"path": path, "link": link, "resolved": None, "kernel": None,
           "kernel_source": None}  # type: Dict[str, Any]
    if link is not None:
        # the whole chain: dpkg's alternative default -> /etc/alternatives/ofa_kernel_headers -> <arch>/<kver>
        target = _logical_realpath(root, path)
        out["resolved"] = target
        rel = os.path.relpath(target, _scst.OFA_DIR) if target.startswith(_scst.OFA_DIR + "/") else None
        parts = rel.split("/") if rel else []
        if len(parts) in (1, 2) and _RELEASE_RE.match(parts[-1]):
            out["kernel"], out["kernel_source"] = parts[-1], "default symlink"
    if out["kernel"] is None:
        for name in ("configure.mk.kernel", "config.mk"):
            match = _KVERSION_RE.search(read_text(root, path + "/" + name, errors) or "")
            if match:
                out["kernel"], out["kernel_source"] = match.group(1), "%s KVERSION" % name
                break
    return out


def ofa_trees(root: str, arch: str) -> List[str]:
    """Kernels that have a ``/usr/src/ofa_kernel/<arch>/<kver>`` tree."""
    full = _join(root, "%s/%s" % (_scst.OFA_DIR, arch))
    try:
        return sorted(d for d in os.listdir(full) if os.path.isdir(os.path.join(full, d)))
    except OSError:
        return []


def toolchain_facts(root: str, kdir: str, variables_cc: Optional[str], which: Which,
                    errors: List[Dict[str, str]]) -> Dict[str, Any]:
    """Paths of the kernel's compiler, ``cc``/``gcc`` (user-space tools), ``make``, ``ld``, ``perl``."""
    kernel_cc, cc_source = variables_cc, ".kernelvariables" if variables_cc else None
    if not kernel_cc:
        kernel_cc = cc_from_config(read_text(root, kdir.rstrip("/") + "/.config", errors))
        cc_source = "CONFIG_CC_VERSION_TEXT" if kernel_cc else None
    kernel_cc = kernel_cc or "gcc"
    return {
        "gcc": which(kernel_cc),
        "kernel_cc": kernel_cc,
        "kernel_cc_source": cc_source,
        "cc": which("gcc") or which("cc"),
        "make": which("make"),
        "ld": which("ld"),
        "perl": which("perl"),
    }


def _headers_package(manager: Optional[str], kernel: str) -> str:
    if manager == "rpm":
        return "kernel-devel-%s" % kernel
    if manager == "dpkg":
        return "linux-headers-%s" % kernel
    return "linux-headers-%s (Debian/Ubuntu) or kernel-devel-%s (RPM)" % (kernel, kernel)


def _tool_packages(manager: Optional[str], missing: Sequence[str], kernel_cc: str) -> str:
    names = {"gcc": kernel_cc if kernel_cc != "gcc" else "gcc", "make": "make", "ld": "binutils",
             "perl": "perl" if manager != "rpm" else "perl-interpreter"}
    return ", ".join(sorted({names[t] for t in missing}))


def _flavor_fix(expected: str, actual: str) -> str:
    if expected == "MOFED":
        return ("install MLNX_OFED with ofed-scripts (it ships /usr/bin/ofed_info): run the ofed_install stage "
                "with iser_ofed_flavor=mlnx_ofed")
    if expected == "OFED":
        return ("install classic OFED with ofed-scripts (it ships /usr/bin/ofed_info): run the ofed_install stage "
                "with iser_ofed_flavor=ofed")
    return ("remove the OFED stack (the rollback playbook, scope install) so that /usr/bin/ofed_info is gone, "
            "or expect %s" % (actual or "the flavor installed"))


def _mofed_checks(build: Dict[str, Any], tree: Dict[str, Any], kernel: Optional[str], arch: str,
                  trees: List[str], exists: Callable[[str], bool], manager: Optional[str],
                  reasons: List[Dict[str, str]], warnings: List[Dict[str, str]]) -> None:
    base = _scst.MOFED_DIR
    pkg = build.get("devel_package") or {}
    if not pkg.get("installed"):
        name = "mlnx-ofa_kernel-devel" if manager == "rpm" else "mlnx-ofed-kernel-dkms"
        reasons.append(_reason("MOFED_DEVEL_MISSING", "MLNX OFED has not been installed: none of "
                               "mlnx-ofed-kernel-dkms, mlnx-ofed-kernel-modules (DEB), mlnx-ofa_kernel-devel, "
                               "kernel-ib-devel (RPM) is installed; install %s from the bundle (the ofed_install "
                               "stage installs it)" % name))
    if not exists(base + "/include"):
        reasons.append(_reason("HEADER_DIR_MISSING", "MLNX_OFED header directory %s/include is missing: "
                               "reinstall mlnx-ofed-kernel-dkms (its DKMS build creates it) or "
                               "mlnx-ofa_kernel-devel" % base))
    if not exists(base + "/include/linux/compat-2.6.h"):
        reasons.append(_reason("COMPAT_HEADER_MISSING", "%s/include/linux/compat-2.6.h is missing: the Makefile "
                               "forces it into every isert-scst object; reinstall the MLNX_OFED kernel devel "
                               "package (mlnx-ofed-kernel-dkms / mlnx-ofa_kernel-devel)" % base))
    if not exists(base + "/Module.symvers"):
        reasons.append(_reason("MODULE_SYMVERS_MISSING", "%s/Module.symvers is missing: isert-scst would link "
                               "against unknown MLNX_OFED symbols; rebuild mlnx-ofed-kernel for the target kernel "
                               "(dkms autoinstall -k %s) or reinstall the devel package" % (base, kernel)))
    elif tree["kernel"] and kernel and tree["kernel"] != kernel:
        where = "%s -> %s" % (base, tree["link"]) if tree["link"] else base
        tree_path = "%s/%s/%s" % (_scst.OFA_DIR, arch, kernel)
        alternative = (tree["link"] or "").startswith("/etc/alternatives/")
        point = ("update-alternatives --set %s %s" % (os.path.basename(tree["link"]), tree_path) if alternative
                 else "ln -sfn %s/%s %s" % (arch, kernel, base))
        fix = ("point it at the target's tree: %s" % point
               if kernel in trees else
               "build mlnx-ofed-kernel for %s first (dkms autoinstall -k %s, or rerun the ofed_install stage "
               "with iser_ofed_target_kernel=%s)" % (kernel, kernel, kernel))
        reasons.append(_reason("MODULE_SYMVERS_WRONG_KERNEL", "Module.symvers of the wrong kernel: %s was built "
                               "for %s (%s), the target kernel is %s; %s"
                               % (where, tree["kernel"], tree["kernel_source"], kernel, fix)))
    elif not tree["kernel"]:
        warnings.append(_reason("MODULE_SYMVERS_KERNEL_UNKNOWN", "%s is a plain directory without a KVERSION "
                                "line in config.mk/configure.mk.kernel: which kernel its Module.symvers was "
                                "built for cannot be checked" % base))


def _classic_checks(build: Dict[str, Any], flavor: str, running: str, kernel: Optional[str],
                    packages: Sequence[Dict[str, Any]], exists: Callable[[str], bool],
                    reasons: List[Dict[str, str]]) -> Dict[str, Any]:
    match = build.get("kernel_match") or {}
    installed = [p for p in packages if p.get("manager") == "rpm" and p.get("installed", True)
                 and p.get("name") in ("kernel-ib-devel", "compat-rdma-devel")]
    matched = bool(match.get("kernel_ib_devel") or match.get("compat_rdma_devel"))
    classic = {
        "running_kernel": running,
        "pattern": match.get("pattern"),
        "packages": [p.get("nvra") or p.get("name") for p in installed],
        "kernel_ib_devel": match.get("kernel_ib_devel"),
        "compat_rdma_devel": match.get("compat_rdma_devel"),
        "running_kernel_match": matched if (flavor == "OFED" or installed) else None,
    }
    if flavor != "OFED" and not matched:
        return classic
    if flavor == "OFED" and not installed:
        reasons.append(_reason("CLASSIC_DEVEL_MISSING", "classic OFED is installed but neither kernel-ib-devel "
                               "(OFED 1.x) nor compat-rdma-devel (OFED 3.x) is: the Makefile would build against "
                               "the kernel's own RDMA headers; install OFED with its devel packages "
                               "(kernel-ib-devel=y / compat-rdma-devel=y in ofed.conf, the ofed_install stage)"))
    elif flavor == "OFED" and not matched:
        reasons.append(_reason("CLASSIC_DEVEL_KERNEL_MISMATCH", "%s installed, but the Makefile only uses it when "
                               "its rpm -q output contains the running kernel %s as %s: rebuild OFED for the "
                               "running kernel (install.pl on that kernel, the ofed_install stage)"
                               % (", ".join(classic["packages"]), running, match.get("pattern"))))
    if kernel and kernel != running:
        reasons.append(_reason("CLASSIC_TARGET_NOT_RUNNING", "classic OFED: the Makefile matches "
                               "kernel-ib-devel/compat-rdma-devel against the RUNNING kernel (uname -r = %s), "
                               "not the target %s, so a build for %s cannot be trusted to use OFED's headers; "
                               "boot %s and run the build there" % (running, kernel, kernel, kernel)))
    if build.get("header_dir") == _scst.OFA_DIR and not exists(_scst.OFA_DIR + "/config.mk"):
        reasons.append(_reason("CONFIG_MK_MISSING", "%s/config.mk (BACKPORT_INCLUDES) is missing: the Makefile "
                               "includes it; reinstall kernel-ib-devel" % _scst.OFA_DIR))
    if build.get("header_dir") and not exists(build["header_dir"] + "/include"):
        reasons.append(_reason("HEADER_DIR_MISSING", "%s/include is missing: reinstall %s"
                               % (build["header_dir"], (build.get("devel_package") or {}).get("name"))))
    compat_h = _scst.COMPAT_RDMA_DIR + "/include/linux/compat-2.6.h"
    if build.get("header_dir") == _scst.COMPAT_RDMA_DIR and not exists(compat_h):
        reasons.append(_reason("COMPAT_HEADER_MISSING", "%s/include/linux/compat-2.6.h is missing: the Makefile "
                               "forces it in; reinstall compat-rdma-devel" % _scst.COMPAT_RDMA_DIR))
    return classic


def assess(root: str, running: str, arch: str, target_kernel: Optional[str], kdir: Optional[str],
           expected_flavor: Optional[str], usr_ofed_info_exists: bool, usr_first_line: Optional[str],
           packages: Sequence[Dict[str, Any]], which: Which, manager: Optional[str] = None,
           errors: Optional[List[Dict[str, str]]] = None) -> Dict[str, Any]:
    """Build ``iser_ofed.scst_build`` (schema in docs/facts.md). ``manager``: ``dpkg``/``rpm`` for the fixes."""
    errors = errors if errors is not None else []
    reasons = []  # type: List[Dict[str, str]]
    warnings = []  # type: List[Dict[str, str]]

    def exists(path: str) -> bool:
        return os.path.exists(_join(root, path))

    target = resolve_target(root, running, target_kernel, kdir, errors)
    kernel = target["kernel"]
    expected = normalize_flavor(expected_flavor)
    build = _scst.compute(usr_ofed_info_exists, usr_first_line, packages, running, kernel or running,
                          exists=exists)
    flavor = build["flavor"]

    if kernel is None:
        reasons.append(_reason("TARGET_KERNEL_UNKNOWN", "%s/include/config/kernel.release is missing, so the "
                               "Makefile cannot tell the kernel release from KDIR alone: give target_kernel "
                               "(make KVER=<release>)" % target["kdir"]))
    elif target["kdir_builds_for"] and target["kdir_builds_for"] != kernel:
        reasons.append(_reason("KVER_MISMATCH", "KDIR %s builds for %s (its .kernelvariables overrides "
                               "KERNELRELEASE) but the Makefile takes KVER=%s (%s): modules.symbols, depmod and "
                               "the install directory would be looked up under /lib/modules/%s; give "
                               "target_kernel=%s (make KVER=%s KDIR=%s)"
                               % (target["kdir"], target["kdir_builds_for"], kernel, target["kernel_source"],
                                  kernel, target["kdir_builds_for"], target["kdir_builds_for"], target["kdir"])))
    if not target["kdir_exists"]:
        how = "is a dangling symlink" if target["kdir_dangling"] else "does not exist"
        reasons.append(_reason("KDIR_MISSING", "the kernel build tree %s %s: install %s (the build_prereqs "
                               "stage installs the headers for iser_ofed_target_kernel)"
                               % (target["kdir"], how, _headers_package(manager, kernel or "<release>"))))

    infiniband = infiniband_facts(root, kernel, target["kdir"], errors)
    if not infiniband["enabled"]:
        seen = ("%s does not list %s" % (infiniband["modules_symbols"], IB_SYMBOL)
                if infiniband["modules_symbols_exists"] else "%s is missing" % infiniband["modules_symbols"])
        conf = ("%s has CONFIG_INFINIBAND=%s" % (infiniband["config"], infiniband["config_infiniband"])
                if infiniband["config"] and infiniband["config_infiniband"] else
                "%s/.config does not enable CONFIG_INFINIBAND" % target["kdir"])
        reasons.append(_reason("IB_DISABLED", "InfiniBand is not enabled for %s as the Makefile tests it (%s; %s), "
                               "so isert-scst would not be built. The stock-module purge removes %s from "
                               "modules.symbols until OFED's modules are installed: install OFED (the ofed_install "
                               "stage; its modules under updates/ count once depmod -a %s has run), or use a kernel "
                               "built with CONFIG_INFINIBAND=m" % (kernel, seen, conf, IB_SYMBOL, kernel)))

    if expected and flavor != expected:
        reasons.append(_reason("FLAVOR_MISMATCH", "the Makefile will compute OFED_FLAVOR=%s but %s is expected "
                               "(%s): %s" % (flavor or '""', expected,
                                             "no /usr/bin/ofed_info" if not usr_ofed_info_exists else
                                             "first line of /usr/bin/ofed_info: %r" % (usr_first_line,),
                                             _flavor_fix(expected, flavor))))
    elif not expected and flavor == "in-tree":
        warnings.append(_reason("IN_TREE_HEADERS", "no /usr/bin/ofed_info: the build uses the kernel's in-tree "
                                "RDMA headers (give expected_flavor to make that a requirement or a refusal)"))
    if flavor == "":
        reasons.append(_reason("OFED_INFO_UNRECOGNISED", "the first line of /usr/bin/ofed_info (%r) starts with "
                               "neither MLNX_OFED, OFED-internal nor OFED-: the Makefile gets an empty OFED_FLAVOR "
                               "and silently uses in-tree headers; reinstall ofed-scripts from the bundle"
                               % (usr_first_line,)))

    arch_trees = ofa_trees(root, arch)
    tree = ofa_tree_kernel(root, _scst.MOFED_DIR, errors)
    if flavor == "MOFED":
        _mofed_checks(build, tree, kernel, arch, arch_trees, exists, manager, reasons, warnings)
    classic = _classic_checks(build, flavor, running, kernel, packages, exists, reasons)

    header_dir = build.get("header_dir")
    ofed = {
        "package": (build.get("devel_package") or {}).get("name") if (build.get("devel_package") or {}).get(
            "installed") else None,
        "package_manager": (build.get("devel_package") or {}).get("manager"),
        "version": build.get("version"),
        "mofed_major": build.get("mofed_major"),
        "mofed_minor": build.get("mofed_minor"),
        "header_dir": header_dir,
        "header_dir_exists": bool(header_dir) and exists(header_dir + "/include"),
        "compat_header": (header_dir + "/include/linux/compat-2.6.h"
                          if header_dir in (_scst.MOFED_DIR, _scst.COMPAT_RDMA_DIR) else None),
        "compat_header_exists": None,
        "config_mk": header_dir + "/config.mk" if header_dir == _scst.OFA_DIR else None,
        "module_symvers": header_dir + "/Module.symvers" if header_dir else None,
        "module_symvers_exists": bool(header_dir) and exists(header_dir + "/Module.symvers"),
        "module_symvers_kernel": tree["kernel"] if header_dir == _scst.MOFED_DIR else None,
        "module_symvers_kernel_source": tree["kernel_source"] if header_dir == _scst.MOFED_DIR else None,
        "default_link": tree["link"],
        "default_resolved": tree["resolved"],
        "trees": arch_trees,
        "ofed_info_first_line": usr_first_line,
        "dkms_build_dir": build.get("dkms_build_dir"),
    }
    if ofed["compat_header"]:
        ofed["compat_header_exists"] = exists(ofed["compat_header"])

    tools = toolchain_facts(root, target["kdir"], target["kernel_cc_variables"], which, errors)
    missing = [t for t in ("gcc", "make", "ld", "perl") if not tools[t]]
    if missing:
        reasons.append(_reason("TOOLCHAIN_MISSING", "%s not found (the kernel tree builds with %s%s): install %s "
                               "(the build_prereqs stage)"
                               % (", ".join(tools["kernel_cc"] if t == "gcc" else t for t in missing),
                                  tools["kernel_cc"],
                                  " from %s" % tools["kernel_cc_source"] if tools["kernel_cc_source"] else "",
                                  _tool_packages(manager, missing, tools["kernel_cc"]))))
    if not tools["cc"]:
        warnings.append(_reason("USERSPACE_CC_MISSING", "neither gcc nor cc is on PATH: iscsi-scst's plain "
                                "`make` builds its user-space tools (usr/: iscsi-scstd, iscsi-scst-adm) with cc "
                                "before the kernel modules; install gcc (the build_prereqs stage)"))

    isert = bool(infiniband["enabled"])
    return {
        "kernel": kernel,
        "kernel_source": target["kernel_source"],
        "kdir": target["kdir"],
        "kdir_exists": target["kdir_exists"],
        "kdir_kernel_release": target["kdir_kernel_release"],
        "kdir_builds_for": target["kdir_builds_for"],
        "running_kernel": running,
        "target_is_running": kernel == running,
        "flavor": flavor,
        "expected_flavor": expected,
        "flavor_matches": (flavor == expected) if expected else None,
        "ofed": ofed,
        "infiniband": infiniband,
        "classic": classic,
        "toolchain": tools,
        "isert_will_build": isert,
        "ready": isert and not reasons,
        "reasons": reasons,
        "warnings": warnings,
        "source": _scst.MAKEFILE_SOURCE,
        "errors": errors,
    }


def query_packages(run: Callable[[List[str]], Tuple[Optional[int], str, str]], which: Which,
                   errors: List[Dict[str, str]], extra: Sequence[str] = ()) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """Installed OFED packages from ``dpkg-query`` and ``rpm`` (both when both exist) and the main manager;
    ``extra``: more package names to ask both for."""
    packages = []  # type: List[Dict[str, Any]]
    manager = None  # type: Optional[str]
    extra = tuple(extra)
    for tool, argv, parser, name in (("dpkg-query", pq.dpkg_argv(pq.DEB_NAMES + extra), pq.parse_dpkg_query, "dpkg"),
                                     ("rpm", pq.rpm_argv(pq.RPM_NAMES + extra), pq.parse_rpm_query, "rpm")):
        binary = which(tool)
        if not binary:
            continue
        manager = manager or name
        rc, out, err = run([binary] + argv[1:])
        found, problem = parser(rc if rc is not None else -1, out, err)
        packages.extend(found)
        if problem:
            errors.append(_reason("PKG_QUERY_FAILED", problem[:600]))
    return packages, manager
