# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Drift of a prepared host, for ``iser.ofed.drift_facts``: what changed under the pipeline since it ran.

Two kinds of drift, both found on later runs (``docs/facts.md``, ``iser_ofed.drift``):

* a kernel without the installed stack's modules. OFED and MLNX_OFED put their modules under
  ``/lib/modules/<k>/updates/`` (classic OFED, MLNX_OFED on SLES), ``updates/dkms/`` (DKMS: Debian, Ubuntu,
  DOCA), ``extra/mlnx-ofa_kernel/`` (MLNX_OFED RPMs) or, as symlinks for kABI-compatible kernels,
  ``weak-updates/``. A kernel installed after the stack (a distro kernel update) has none there until DKMS,
  ``mlnxofedinstall --add-kernel-support`` or a new install builds them: booted, it loads the stock modules.
  Also flagged: a kernel whose OFED modules are there but that ``modules.dep`` does not resolve to them
  (``depmod`` did not run) and one that lacks some of the modules the other kernels have;
* a quarantine (``iser.ofed.stock_modules``) undone behind its back: stock files back at their original
  path (a distro kernel package reinstalled or updated them), and quarantined copies that no longer match
  the sha256 of their manifest (or are gone).

Pure functions over a ``modules_root`` (``/lib/modules``) and a ``state_dir``; nothing here raises for a
missing or unreadable file: it becomes an ``errors`` item. Each drift item is ``{code, kernel, msg, fix}``.
"""
from __future__ import annotations

import os
import re

from ansible_collections.iser.ofed.plugins.module_utils._journal import JournalError, load_journal
from ansible_collections.iser.ofed.plugins.module_utils._kernel import read_file
from ansible_collections.iser.ofed.plugins.module_utils._modules_dep import (
    is_module_file, module_name_from_path, parse_modules_dep)
from ansible_collections.iser.ofed.plugins.module_utils._quarantine import (
    QuarantineError, load_manifest, scan, sha256_file)

# Where OFED modules live below /lib/modules/<k> (weak-updates: RHEL kABI symlinks to another kernel's).
OFED_TOPS = ("updates", "extra", "weak-updates")
# The module every OFED flavor builds: a kernel without it has no OFED stack.
MARKER_MODULE = "ib_core"

# Installed packages that put OFED kernel modules on the host (DEB and RPM names of the three flavors).
_KERNEL_PACKAGE_RE = re.compile(
    r"^(kernel-ib|compat-rdma|mlnx-ofa_kernel-modules|kmod-mlnx-ofa_kernel|mlnx-ofa_kernel-kmp-.*"
    r"|mlnx-ofed-kernel-(dkms|modules)|mlnx-ofa_kernel)(\s|$)")

FLAVOR_NAMES = {"mlnx_ofed": "MLNX_OFED", "ofed": "OFED"}

# kernel statuses
OK = "ok"
MISSING = "missing"
INCOMPLETE = "incomplete"
NOT_INDEXED = "not_indexed"
NO_STACK = "no_stack"
NOT_INSTALLED = "not_installed"


def _item(code: str, kernel: str | None, msg: str, fix: str) -> dict:
    return {"code": code, "kernel": kernel, "msg": msg, "fix": fix}


def _error(code: str, msg: str) -> dict:
    return {"code": code, "msg": msg}


# ----------------------------------------------------------------------------------------------- kernels


def kernel_trees(modules_root: str) -> list[str]:
    """Releases with an installed module tree below ``modules_root``: a directory holding ``kernel/`` or
    ``modules.dep``. What a removed kernel package leaves behind (an ``updates/`` only) does not count."""
    try:
        names = sorted(os.listdir(modules_root))
    except OSError:
        return []
    out = []
    for name in names:
        path = os.path.join(modules_root, name)
        if os.path.isdir(path) and (os.path.isdir(os.path.join(path, "kernel"))
                                    or os.path.isfile(os.path.join(path, "modules.dep"))):
            out.append(name)
    return out


def ofed_modules(modules_dir: str) -> dict[str, str]:
    """``{name: rel_path}`` of the module files (and module symlinks) below ``updates/``, ``extra/`` and
    ``weak-updates/`` of one kernel tree; the first found wins for a name (sorted walk)."""
    found: dict[str, str] = {}
    for top in OFED_TOPS:
        base = os.path.join(modules_dir, top)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if is_module_file(name):
                    rel = os.path.relpath(os.path.join(dirpath, name), modules_dir)
                    found.setdefault(module_name_from_path(name), rel)
    return found


def _top_dirs(rels: list[str]) -> list[str]:
    """``updates/dkms``, ``extra/mlnx-ofa_kernel``, ``updates``: the first two levels of each path's directory."""
    out: set[str] = set()
    for rel in rels:
        parts = rel.split("/")[:-1]
        out.add("/".join(parts[:2]) if len(parts) > 1 else parts[0])
    return sorted(out)


def resolved_by_modules_dep(dep_text: str | None, name: str = MARKER_MODULE) -> str | None:
    """Where ``modules.dep`` resolves ``name``: ``ofed`` (below updates/extra/weak-updates), ``stock`` (any other
    path), ``absent`` (not listed); None without a modules.dep."""
    if dep_text is None:
        return None
    modules, _bad = parse_modules_dep(dep_text)
    info = modules.get(name)
    if info is None:
        return "absent"
    path = info["path"].lstrip("/")
    # old depmod wrote absolute paths: /lib/modules/<k>/updates/...
    match = re.match(r"^lib/modules/[^/]+/(.*)$", path)
    if match:
        path = match.group(1)
    return "ofed" if path.split("/", 1)[0] in OFED_TOPS else "stock"


def kernel_packages(packages: list[str]) -> list[str]:
    """The installed packages (names) that bring OFED kernel modules."""
    return sorted({p for p in packages if _KERNEL_PACKAGE_RE.match(p or "")})


def stack_info(flavor: str | None, version: str | None, packages: list[str], journal: dict | None) -> dict:
    """The installed stack as the facts (``flavor``, ``version``, ``packages``) or, failing them, the journal's
    ``ofed_install`` record (status ``done``) say. ``source`` is ``facts``, ``journal`` or None (none known)."""
    record = ((journal or {}).get("stages") or {}).get("ofed_install") or {}
    data = record.get("data") or {}
    kpkgs = kernel_packages(packages)
    if flavor:
        source = "facts"
    elif record.get("status") == "done" and data.get("flavor"):
        flavor, version, source = data.get("flavor"), version or data.get("version") or data.get("release"), "journal"
    else:
        flavor, source = None, None
    return {
        "flavor": flavor or None,
        "version": (version or None) if flavor else None,
        "source": source,
        "kernel_packages": kpkgs,
        "dkms": any(p.endswith("-dkms") for p in kpkgs),
        "installed_for": data.get("kernel") if record.get("status") == "done" else None,
    }


def kernel_fix(stack: dict, kernel: str) -> str:
    """How to give ``kernel`` the stack's modules, by the way the stack was installed."""
    rerun = "rerun the ofed_install stage for it (iser_ofed_target_kernel=%s)" % kernel
    if stack.get("dkms"):
        return ("install linux-headers-%s and run `dkms autoinstall -k %s` (DKMS builds the stack's modules for it), "
                "or %s" % (kernel, kernel, rerun))
    if stack.get("flavor") == "mlnx_ofed":
        return ("%s: mlnxofedinstall --add-kernel-support builds MLNX_OFED for a kernel its bundle has no "
                "packages for" % rerun)
    return "%s: install.pl -k %s builds the kernel package for it" % (rerun, kernel)


def assess_kernel(modules_root: str, kernel: str, running: str, target: str, reference: set[str],
                  stack: dict, errors: list[dict]) -> tuple[dict, list[dict]]:
    """One kernel's entry and its drift items."""
    modules_dir = os.path.join(modules_root, kernel)
    installed = kernel in kernel_trees(modules_root)
    entry: dict = {"kernel": kernel, "installed": installed, "running": kernel == running, "target": kernel == target,
                   "modules_dir": modules_dir, "ofed_modules": 0, "ofed_dirs": [], "missing_modules": [],
                   "modules_dep": None, "status": NOT_INSTALLED}
    if not installed:
        return entry, []
    found = ofed_modules(modules_dir)
    entry["ofed_modules"] = len(found)
    entry["ofed_dirs"] = _top_dirs(list(found.values()))
    entry["modules_dep"] = resolved_by_modules_dep(read_file("/", os.path.join(modules_dir, "modules.dep"), errors))
    if not stack.get("flavor"):
        entry["status"] = NO_STACK
        return entry, []
    role = " and ".join(w for w, on in (("booted", kernel == running), ("target", kernel == target)) if on)
    what = "the %s kernel %s" % (role, kernel) if role else "kernel %s (installed)" % kernel
    name = ("%s %s" % (FLAVOR_NAMES.get(stack["flavor"], stack["flavor"]), stack.get("version") or "")).strip()
    items: list[dict] = []
    if MARKER_MODULE not in found:
        entry["status"] = MISSING
        entry["missing_modules"] = sorted(reference)
        items.append(_item(
            "OFED_MODULES_MISSING", kernel,
            "%s has no %s modules (no %s below %s/{%s}): booted, it loads the distro's IB modules (or none, after "
            "the stock purge)" % (what, name, MARKER_MODULE, modules_dir, ",".join(OFED_TOPS)),
            kernel_fix(stack, kernel)))
        return entry, items
    missing = sorted(reference - set(found))
    entry["missing_modules"] = missing
    if entry["modules_dep"] in ("stock", "absent"):
        entry["status"] = NOT_INDEXED
        items.append(_item(
            "OFED_MODULES_NOT_INDEXED", kernel,
            "%s has %d %s modules in %s but its modules.dep resolves %s to %s: depmod did not run after they "
            "were installed, modprobe loads the wrong ones"
            % (what, len(found), name, ", ".join(entry["ofed_dirs"]), MARKER_MODULE,
               "a stock module" if entry["modules_dep"] == "stock" else "nothing"),
            "run `depmod -a %s`" % kernel))
    elif missing:
        entry["status"] = INCOMPLETE
        items.append(_item(
            "OFED_MODULES_INCOMPLETE", kernel,
            "%s lacks %d of the %s modules other kernels have: %s (a failed or partial build)"
            % (what, len(missing), name, ", ".join(missing[:12]) + (" ..." if len(missing) > 12 else "")),
            kernel_fix(stack, kernel)))
    else:
        entry["status"] = OK
    return entry, items


# ----------------------------------------------------------------------------------------------- quarantine


def assess_quarantine(modules_root: str, qdir: str, kernel: str, errors: list[dict]) -> tuple[dict | None, list[dict]]:
    """The entry of one ``<state_dir>/quarantine/<kernel>`` and its drift items; None without a manifest."""
    manifest_path = os.path.join(qdir, "manifest.json")
    try:
        manifest = load_manifest(manifest_path)
    except QuarantineError as exc:
        return ({"kernel": kernel, "manifest": manifest_path, "state": None, "kernel_installed": None, "files": 0,
                 "reappeared": [], "reappeared_differ": [], "copy_mismatch": [], "copy_missing": []},
                [_item("QUARANTINE_MANIFEST_UNREADABLE", kernel, str(exc),
                       "inspect %s by hand: neither stock_purge nor rollback will touch this quarantine" % qdir)])
    if manifest is None:
        return None, []
    modules_dir = manifest.get("modules_dir") or os.path.join(modules_root, kernel)
    files_dir = os.path.join(qdir, "files")
    entries = [e for e in manifest["entries"] if isinstance(e, dict) and e.get("type") in ("file", "link")]
    by_path = {e["path"]: e for e in entries}
    entry = {"kernel": kernel, "manifest": manifest_path, "state": manifest["state"],
             "kernel_installed": os.path.isdir(modules_dir), "files": len(entries), "reappeared": [],
             "reappeared_differ": [], "copy_mismatch": [], "copy_missing": []}
    if manifest["state"] == "restored":
        return entry, []
    items: list[dict] = []
    if manifest["state"] in ("pending", "restoring"):
        verb = "quarantine" if manifest["state"] == "pending" else "restore"
        items.append(_item(
            "QUARANTINE_INTERRUPTED", kernel,
            "the %s of kernel %s's stock modules was interrupted (manifest state %s)" % (verb, kernel, manifest["state"]),
            "rerun the stock_purge stage for kernel %s to finish the move, or iser.ofed.rollback (scope purge) to "
            "undo it" % kernel))
        return entry, items
    if not entry["kernel_installed"]:
        return entry, []
    try:
        back = [e for e in scan(modules_dir, list(manifest.get("dirs") or []), with_hash=False)
                if e["type"] != "dir"]
    except (OSError, QuarantineError) as exc:
        errors.append(_error("FILE_UNREADABLE", "cannot scan %s: %s" % (modules_dir, exc)))
        back = []
    for found in back:
        rel = found["path"]
        entry["reappeared"].append(rel)
        rec = by_path.get(rel)
        if not _same(os.path.join(modules_dir, rel), rec, errors):
            entry["reappeared_differ"].append(rel)
    for rec in entries:
        path = os.path.join(files_dir, rec["path"])
        if not os.path.lexists(path):
            if rec["path"] not in entry["reappeared"]:
                entry["copy_missing"].append(rec["path"])
        elif not _same(path, rec, errors):
            entry["copy_mismatch"].append(rec["path"])
    if entry["reappeared"]:
        differ = entry["reappeared_differ"]
        if differ:
            fix = ("%d of them differ from the quarantined copies (an updated package): the quarantine no longer "
                   "describes this kernel's files. Compare them, move %s aside by hand, then rerun the stock_purge "
                   "stage for kernel %s" % (len(differ), qdir, kernel))
        else:
            fix = ("they are identical to the quarantined copies: run iser.ofed.rollback (scope purge, "
                   "iser_ofed_target_kernel=%s; identical files are reconciled), then rerun the stock_purge stage "
                   "for it" % kernel)
        items.append(_item(
            "QUARANTINE_FILES_REAPPEARED", kernel,
            "%d quarantined stock file(s) of kernel %s are back at their original path (a distro kernel package "
            "reinstalled or updated them): %s"
            % (len(entry["reappeared"]), kernel, _some(entry["reappeared"])), fix))
    if entry["copy_mismatch"] or entry["copy_missing"]:
        parts = []
        if entry["copy_mismatch"]:
            parts.append("%d no longer match their sha256 (%s)" % (len(entry["copy_mismatch"]),
                                                                   _some(entry["copy_mismatch"])))
        if entry["copy_missing"]:
            parts.append("%d are gone (%s)" % (len(entry["copy_missing"]), _some(entry["copy_missing"])))
        items.append(_item(
            "QUARANTINE_COPY_MISMATCH", kernel,
            "in the quarantine of kernel %s (%s), %s: a rollback would refuse those files"
            % (kernel, files_dir, " and ".join(parts)),
            "reinstall the kernel package of %s to get its stock modules back (apt-get install --reinstall "
            "linux-image-%s / dnf reinstall kernel-modules-%s), then move %s aside" % (kernel, kernel, kernel, qdir)))
    return entry, items


def _same(path: str, rec: dict | None, errors: list[dict]) -> bool:
    """True when the file/link at ``path`` is what the manifest record says."""
    if rec is None:
        return False
    if rec["type"] == "link":
        return os.path.islink(path) and os.readlink(path) == rec.get("target")
    if os.path.islink(path) or not os.path.isfile(path):
        return False
    try:
        return sha256_file(path) == rec.get("sha256")
    except OSError as exc:
        errors.append(_error("FILE_UNREADABLE", "cannot read %s: %s" % (path, exc.strerror or exc)))
        return False


def _some(paths: list[str], limit: int = 5) -> str:
    return ", ".join(paths[:limit]) + (" ..." if len(paths) > limit else "")


def quarantine_kernels(state_dir: str) -> list[str]:
    try:
        names = sorted(os.listdir(os.path.join(state_dir, "quarantine")))
    except OSError:
        return []
    return [n for n in names if os.path.isdir(os.path.join(state_dir, "quarantine", n)) and not n.startswith(".")]


# ----------------------------------------------------------------------------------------------- all


def gather_drift(modules_root: str, state_dir: str, running: str, target: str | None = None,
                 flavor: str | None = None, version: str | None = None, packages: list[str] | None = None) -> dict:
    """Build ``iser_ofed.drift`` (format in docs/facts.md)."""
    errors: list[dict] = []
    target = target or running
    journal = None
    journal_info = {"path": os.path.join(state_dir, "journal.json"), "present": False, "ofed_install": None}
    try:
        journal = load_journal(state_dir)
        journal_info["present"] = os.path.isfile(journal_info["path"])
    except JournalError as exc:
        errors.append(_error("JOURNAL_UNREADABLE", str(exc)))
    record = ((journal or {}).get("stages") or {}).get("ofed_install")
    if record:
        data = record.get("data") or {}
        journal_info["ofed_install"] = {"status": record.get("status"), "flavor": data.get("flavor"),
                                        "version": data.get("version"), "kernel": data.get("kernel")}
    stack = stack_info(flavor, version, list(packages or []), journal)

    names = kernel_trees(modules_root)
    for extra in (running, target):
        if extra and extra not in names:
            names.append(extra)
    reference: set[str] = set()
    for name in names:
        found = ofed_modules(os.path.join(modules_root, name))
        if MARKER_MODULE in found:
            reference |= set(found)
    # A stack without kernel modules (a userspace-only DOCA install) leaves every kernel without them: no drift.
    expects_modules = bool(stack["flavor"]) and bool(reference or stack["kernel_packages"])
    stack["kernel_modules_expected"] = expects_modules
    judged = stack if expects_modules else dict(stack, flavor=None)

    kernels, items = [], []
    for name in sorted(names):
        entry, found_items = assess_kernel(modules_root, name, running, target, reference, judged, errors)
        kernels.append(entry)
        items.extend(found_items)
    quarantines = []
    for name in quarantine_kernels(state_dir):
        entry, found_items = assess_quarantine(modules_root, os.path.join(state_dir, "quarantine", name), name, errors)
        if entry is not None:
            quarantines.append(entry)
        items.extend(found_items)
    return {
        "detected": bool(items),
        "count": len(items),
        "findings": items,
        "codes": sorted({i["code"] for i in items}),
        "stack": stack,
        "running_kernel": running,
        "target_kernel": target,
        "modules_root": modules_root,
        "state_dir": state_dir,
        "kernels": kernels,
        "quarantines": quarantines,
        "journal": journal_info,
        "errors": errors,
    }
