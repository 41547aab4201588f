# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Is this host converged for this site run? The checks behind ``iser.ofed.site_state`` (the fast path).

A converged ``iser.ofed.site`` run would only re-read the host: preflight, validate, build_prereqs,
ofed_install's "already installed" check and iscsi_scst's modinfo check. ``iser.ofed.site_state`` reads the
same real state in one module execution, and the playbook sends only the hosts that are NOT converged
through the pipeline. Any doubt is "not converged": the pipeline then decides, as it always did.

The checks, in order (each is a pure function of what the module read; the first that fails names the
reason, and the module stops reading there):

1. ``check_inputs``: the fast path covers a bundle archive whose checksum is known (given, or computed on the
   controller from the controller's file), the SCST source's identity computed on the controller, no forced
   rebuild;
2. ``check_lock``: no site lock on the host (a run in progress, or one that died: the pipeline handles it);
3. ``check_journal``: the journal's ``site`` transaction is finished (``site_transaction``, the same rule as
   the pipeline) for the bundle validate recorded, and that record is this run's bundle: same archive name,
   flavor, wanted version, target kernel; no pipeline stage left ``started``/``failed``; nothing finalize
   left due that this run would do (``check_finalize``: a reboot it allows, a driver restart, a wrong stack);
4. ``check_bundle``: the staged archive validate recorded is still there with the expected checksum;
5. ``check_stack``: ``ofed_info -s`` names the flavor and version ofed_install recorded, its packages are
   installed (ofed-scripts, the stack's kernel package, the kernel headers validate named);
6. ``check_drift``: ``drift_facts``' findings (a kernel without the stack's modules, quarantined stock files
   put back, quarantined copies changed) are none, and none of its reads failed;
7. ``check_scst``: the journal's iscsi_scst build is this run's (source id, kernel, OFED version, install
   method), every module is found by ``modinfo -k <kernel>`` under ``/lib/modules/<kernel>/`` with that
   kernel's vermagic, and isert-scst is linked with the ib_register_client CRC of the headers it was built
   against (what iscsi_scst's own converged check reads).
"""
from __future__ import annotations

import hashlib
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from ansible_collections.iser.ofed.plugins.module_utils import _ofed_info as oi
from ansible_collections.iser.ofed.plugins.module_utils import _ofed_version as ov
from ansible_collections.iser.ofed.plugins.module_utils._site_txn import (
    OPEN_TRANSACTION, _dict, _stages, site_transaction, where_it_stands)

# The module iscsi_scst checks the headers of (modinfo name form: '-' for '_').
ISERT = "isert-scst"
CRC_SYMBOL = "ib_register_client"
# The stack's kernel package, per flavor (DEB and RPM names; one of them must be installed).
KERNEL_PACKAGES = {
    "mlnx_ofed": ("mlnx-ofed-kernel-dkms", "mlnx-ofed-kernel-modules", "mlnx-ofa_kernel-modules",
                  "kmod-mlnx-ofa_kernel", "mlnx-ofa_kernel"),
    "ofed": ("compat-rdma", "kernel-ib"),
}
_MODULE_SUFFIX_RE = re.compile(r"\.ko(\.(xz|zst|gz))?$")
_MODINFO_ERROR_RE = re.compile(r"ERROR: (?:Module (?P<name>\S+) not found|could not get modinfo from '(?P<name2>[^']+)')")


class NotConverged(Exception):
    """One reason the host is not converged for this run (the message says which, and what was read)."""


def _need(ok: Any, reason: str) -> None:
    if not ok:
        raise NotConverged(reason)


# ------------------------------------------------------------------------------------------------- inputs
def parse_checksum(text: Optional[str]) -> Optional[Tuple[str, str]]:
    """``algo:hex`` (iser_ofed_bundle_checksum's form, as validate reads it) -> ``(algo, hex)``; None if empty."""
    text = (text or "").strip()
    if not text:
        return None
    algo, _sep, hexpart = text.rpartition(":")
    return (algo or "sha256").lower(), hexpart.lower()


def check_inputs(want: Dict[str, Any]) -> None:
    _need(want.get("source", "bundle") == "bundle",
          "iser_ofed_source is %s: the fast path covers bundle installs only" % want.get("source"))
    _need(want.get("bundle_name"), "no bundle archive named (iser_ofed_bundle_path/url): nothing to compare with")
    _need(parse_checksum(want.get("bundle_checksum")),
          "the bundle's checksum is not known (a host-side bundle without iser_ofed_bundle_checksum): cannot tell "
          "whether it changed")
    _need(want.get("scst_source_id"),
          "the SCST source's identity is not known on the controller (a git source, or none given): cannot tell "
          "whether it changed")
    _need(not want.get("scst_force_rebuild"), "iscsi_scst_force_rebuild is true")


def check_lock(lock_present: bool, lock_path: str) -> None:
    _need(not lock_present, "%s is present (a run holds the host, or one died): the pipeline decides" % lock_path)


# ------------------------------------------------------------------------------------------------ journal
def check_journal(journal: Any, want: Dict[str, Any]) -> Dict[str, Any]:
    """The validate record this run's inputs agree with, when the journal's transaction is finished for it."""
    stages = _stages(journal)
    _need(stages, "the host has no journal: never installed by iser.ofed")
    val = _dict(stages.get("validate"))
    vdata = _dict(val.get("data"))
    _need(val.get("status") == "done", "validate's last record is %s, not done" % (val.get("status") or "missing"))
    kernel = want["kernel"]
    _need(vdata.get("name") == want["bundle_name"],
          "validate recorded bundle %s, this run gives %s" % (vdata.get("name"), want["bundle_name"]))
    _need(vdata.get("flavor") == want.get("flavor"),
          "validate recorded flavor %s, this run wants %s" % (vdata.get("flavor"), want.get("flavor")))
    _need(not want.get("version") or ov.matches(str(want["version"]), str(vdata.get("version") or "")),
          "validate recorded version %s, this run wants %s" % (vdata.get("version"), want.get("version")))
    _need(vdata.get("kernel") == kernel,
          "validate recorded target kernel %s, this run targets %s" % (vdata.get("kernel"), kernel))
    txn = site_transaction(journal, vdata, want.get("running") or "")
    stands = where_it_stands(journal)
    _need(txn["finished"], "the journal's transaction is not finished for %s %s on kernel %s%s" % (
        vdata.get("flavor"), vdata.get("version"), kernel,
        (" (open: %s)" % ", ".join(stands["open"])) if stands["open"] else ""))
    _need(not stands["open"], "journal stages left open: %s" % ", ".join(stands["open"]))
    site = _dict(stages.get("site"))
    _need(site.get("status") not in OPEN_TRANSACTION,
          "the journal's site record is %s (an open transaction)" % site.get("status"))
    check_finalize(_dict(_dict(stages.get("finalize")).get("data")), bool(want.get("reboot")))
    return vdata


def _true(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


def check_finalize(fdata: Dict[str, Any], reboot_allowed: bool) -> None:
    """What finalize left due, that a pipeline run would now do: a reboot this run allows on a host that can
    load modules (finalize recorded no ``services_skipped`` reason), a driver restart on such a host, or a
    loaded stack that was not the intended one. A reboot due on a host that cannot load modules (a container,
    whose running kernel is the build machine's) or that this run does not allow would be reported again,
    not done: that host is still converged."""
    manageable = not fdata.get("services_skipped")
    reboot = _dict(fdata.get("reboot"))
    reasons = "; ".join(str(r) for r in reboot.get("reasons") or []) or "no reason recorded"
    _need(not (manageable and reboot_allowed and _true(reboot.get("pending"))),
          "finalize recorded a reboot still due (%s) and this run allows it (iser_ofed_site_reboot)" % reasons)
    restart = _dict(fdata.get("restart"))
    _need(not (manageable and _true(restart.get("pending"))),
          "finalize recorded a driver restart still due (%s)" % (
              "; ".join(str(r) for r in restart.get("reasons") or []) or "no reason recorded"))
    modules = fdata.get("modules")
    _need(not (isinstance(modules, dict) and modules.get("ok") is False),
          "finalize found loaded modules that are not the intended stack's (%s)" % (
              ", ".join(str(m) for m in modules.get("mismatches") or []) if isinstance(modules, dict) else ""))


def check_bundle(vdata: Dict[str, Any], want: Dict[str, Any], archive_digest: Optional[str]) -> None:
    algo, expected = parse_checksum(want.get("bundle_checksum")) or ("sha256", "")
    archive = vdata.get("archive")
    _need(archive, "validate recorded no staged archive (a bundle directory used in place)")
    _need(archive_digest is not None, "the staged bundle %s is gone or unreadable" % archive)
    _need(archive_digest == expected, "the staged bundle %s has %s %s, this run's bundle %s" % (
        archive, algo, archive_digest, expected))


# -------------------------------------------------------------------------------------------------- stack
def installed_packages(packages: Sequence[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    return {p["name"]: p for p in packages if p.get("installed")}


def check_stack(vdata: Dict[str, Any], info_rc: Optional[int], info_out: str,
                packages: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """The installed stack (``ofed_info -s`` + packages) is the bundle validate recorded (which the finished
    transaction's ofed_install record names too); returns it."""
    cls = oi.classify_first_line(oi.first_line(info_out)) if info_rc == 0 else {"kind": None}
    if info_rc is None:
        said = "did not run"
    elif info_rc:
        said = "exited %s" % info_rc
    else:
        said = "printed %r" % oi.clean_text(oi.first_line(info_out))
    _need(cls.get("kind"), "ofed_info -s %s" % said)
    stack = oi.decide_stack(dict(cls, source="ofed_info -s"), list(packages), None)
    _need(stack["flavor"] == vdata.get("flavor"),
          "ofed_info -s says %s, validate recorded %s" % (stack["flavor"], vdata.get("flavor")))
    have = ov.parse_version(stack["version"])
    _need(have is not None and have == ov.parse_version(str(vdata.get("version") or "")),
          "ofed_info -s says version %s, the bundle is %s" % (stack["version"], vdata.get("version")))
    names = installed_packages(packages)
    _need("ofed-scripts" in names, "ofed-scripts is not installed")
    kernel_pkgs = [n for n in KERNEL_PACKAGES.get(str(stack["flavor"]), ()) if n in names]
    _need(kernel_pkgs, "none of the stack's kernel packages (%s) is installed"
          % ", ".join(KERNEL_PACKAGES.get(str(stack["flavor"]), ())))
    headers = vdata.get("headers_package")
    _need(not headers or headers in names, "the kernel headers validate named (%s) are not installed" % headers)
    return {"flavor": stack["flavor"], "version": stack["version"],
            "kernel_packages": kernel_pkgs, "ofed_scripts": names["ofed-scripts"].get("version")}


def check_drift(drift: Dict[str, Any]) -> None:
    findings = drift.get("findings") or []
    _need(not drift.get("detected"), "drift: %s" % "; ".join(f.get("msg", f.get("code", "?")) for f in findings))
    _need(not drift.get("errors"), "drift_facts could not read everything: %s" % "; ".join(
        e.get("msg", "?") for e in drift.get("errors") or []))
    _need(drift.get("stack", {}).get("kernel_modules_expected"),
          "no OFED kernel modules are expected for the stack (cannot judge its kernels)")
    target = [k for k in drift.get("kernels") or [] if k.get("target")]
    _need(target and target[0].get("status") == "ok",
          "the target kernel's OFED modules are %s" % (target[0].get("status") if target else "not found"))


# --------------------------------------------------------------------------------------------------- SCST
def parse_modinfo(stdout: str) -> Dict[str, Dict[str, str]]:
    """``modinfo -k K m1 m2...`` output -> ``{name: {filename, vermagic}}`` (name: '-' for '_', no .ko)."""
    found: Dict[str, Dict[str, str]] = {}
    current: Optional[str] = None
    for line in (stdout or "").splitlines():
        key, _sep, value = line.partition(":")
        value = value.strip()
        if key == "filename":
            current = _MODULE_SUFFIX_RE.sub("", os.path.basename(value)).replace("_", "-")
            found[current] = {"filename": value, "vermagic": ""}
        elif key == "vermagic" and current is not None and not found[current]["vermagic"]:
            found[current]["vermagic"] = value
    return found


def crc_from_modversions(stdout: str, symbol: str = CRC_SYMBOL) -> Optional[str]:
    """``modprobe --dump-modversions <file>``: ``0x...<TAB>symbol`` lines -> the symbol's CRC (lower case)."""
    for line in (stdout or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] == symbol and parts[0].lower().startswith("0x"):
            return parts[0].lower()
    return None


def crc_from_symvers(text: str, symbol: str = CRC_SYMBOL) -> Optional[str]:
    """A ``Module.symvers`` (``crc<TAB>symbol<TAB>module<TAB>export[<TAB>namespace]``) -> the symbol's CRC."""
    for line in (text or "").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[1] == symbol and parts[0].lower().startswith("0x"):
            return parts[0].lower()
    return None


def scst_record(journal: Any, want: Dict[str, Any], stack: Dict[str, Any]) -> Dict[str, Any]:
    """The journal's iscsi_scst build, when it is this run's (source, kernel, OFED version, method)."""
    rec = _dict(_stages(journal).get("iscsi_scst"))
    data = _dict(rec.get("data"))
    ident = _dict(data.get("identity"))
    _need(rec.get("status") == "done", "iscsi_scst's last record is %s, not done" % (rec.get("status") or "missing"))
    _need(ident.get("source_id") == want["scst_source_id"],
          "iscsi_scst was built from %s, this run gives %s" % (ident.get("source_id"), want["scst_source_id"]))
    _need(ident.get("kernel") == want["kernel"],
          "iscsi_scst was built for kernel %s, this run targets %s" % (ident.get("kernel"), want["kernel"]))
    _need(ident.get("ofed_version") == stack["version"],
          "iscsi_scst was built against OFED %s, %s is installed" % (ident.get("ofed_version"), stack["version"]))
    method = want.get("scst_install_method", "make_install")
    _need(ident.get("install_method") == method,
          "iscsi_scst was installed by %s, this run asks for %s" % (ident.get("install_method"), method))
    _need(ident.get("flavor") == ident.get("expected_flavor"),
          "iscsi_scst's build used %s headers, %s were intended" % (ident.get("flavor"), ident.get("expected_flavor")))
    return data


def modinfo_errors(stderr: str) -> Dict[str, str]:
    """``modinfo``'s error lines by module name ('-' for '_'): ``Module x not found.`` (not in modules.dep)
    and ``could not get modinfo from 'x': <reason>`` (modules.dep names a file that is gone)."""
    errors: Dict[str, str] = {}
    for line in (stderr or "").splitlines():
        match = _MODINFO_ERROR_RE.search(line)
        if match:
            errors[(match.group("name") or match.group("name2")).replace("_", "-")] = line.strip()
    return errors


def check_scst_modules(found: Dict[str, Dict[str, str]], modules: Sequence[str], kernel: str,
                       stderr: str = "") -> None:
    bad = []
    errors = modinfo_errors(stderr)
    for name in modules:
        key = name.replace("_", "-")
        mod = found.get(key)
        if key in errors:
            bad.append("%s: %s" % (name, errors[key]))
        elif mod is None:
            bad.append("%s not found" % name)
        elif not mod["filename"].startswith("/lib/modules/%s/" % kernel):
            bad.append("%s is %s, not under /lib/modules/%s/" % (name, mod["filename"], kernel))
        elif not mod["vermagic"].startswith(kernel + " "):
            bad.append("%s has vermagic '%s'" % (name, mod["vermagic"]))
    _need(not bad, "modinfo -k %s: %s" % (kernel, "; ".join(bad)))


def check_scst_crc(linked: Optional[str], expected: Optional[str], symvers: str) -> None:
    _need(linked and expected and linked == expected,
          "isert-scst is linked with %s CRC %s, %s has %s" % (CRC_SYMBOL, linked, symvers or "(no Module.symvers)",
                                                              expected))


# ------------------------------------------------------------------------------------------------- result
def result(converged: bool, reason: str, read: Dict[str, Any], journal: Any) -> Dict[str, Any]:
    return {"converged": converged, "reason": reason, "read": read, "journal": journal if journal else {}}


def summary(read: Dict[str, Any]) -> str:
    """One line for the report: what the converged check read."""
    stack = _dict(read.get("stack"))
    scst = _dict(read.get("scst"))
    return "converged (fast path): %s %s for kernel %s (ofed_info -s, %s), no drift, %s built from %s" % (
        stack.get("flavor"), stack.get("version"), read.get("kernel"), ", ".join(stack.get("kernel_packages") or []),
        ", ".join(scst.get("modules") or []), scst.get("source_id"))


def modules_of(want: Dict[str, Any]) -> List[str]:
    return [str(m) for m in want.get("scst_modules") or []]


# ----------------------------------------------------------------------------------- inputs (controller side)
def file_digest(path: str, algo: str) -> Optional[str]:
    """Hex digest of a regular file; None when it is not one or cannot be read (or ``algo`` is unknown)."""
    if not os.path.isfile(path):
        return None
    try:
        hasher = hashlib.new(algo)
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(block)
    except (OSError, ValueError):
        return None
    return hasher.hexdigest()


def _basename(text: str) -> str:
    return os.path.basename(text.rstrip("/"))


def fast_inputs(bundle_path: str = "", bundle_url: str = "", bundle_checksum: str = "", scst_path: str = "",
                scst_url: str = "", scst_checksum: str = "", scst_git: str = "", scst_version: str = "") -> Dict[str, str]:
    """This run's bundle and SCST source identities as the controller knows them (empty: unknown).

    The bundle: its file name (what validate records) and ``algo:hex`` from ``iser_ofed_bundle_checksum``, else
    sha256 of the controller's file. An ISO image is converted by validate (the staged archive is another
    file): unknown. The SCST source id follows iscsi_scst's rule (``source.yml``): a URL's checksum, a
    controller archive's checksum (sha1 unless a checksum is given), ``dir:<path>@<version>`` for a controller
    directory; a git source (its commit is known only after fetching) or a host-side source is unknown.
    """
    name = _basename(urlsplit(bundle_url).path if bundle_url else bundle_path)
    given = parse_checksum(bundle_checksum)
    checksum = ""
    if name.lower().endswith(".iso"):
        name = ""
    elif given:
        checksum = "%s:%s" % given
    elif bundle_path and not bundle_url:
        local = file_digest(os.path.expanduser(bundle_path), "sha256")
        checksum = "sha256:%s" % local if local else ""
    scst_given = parse_checksum(scst_checksum)
    scst_id = ""
    if scst_url:
        scst_id = "%s:%s" % scst_given if scst_given else ""
    elif scst_git:
        scst_id = ""
    elif scst_path:
        local_path = os.path.expanduser(scst_path)
        if os.path.isdir(local_path):
            scst_id = "dir:%s@%s" % (scst_path, scst_version)
        else:
            algo = scst_given[0] if scst_given else "sha1"
            local = file_digest(local_path, algo)
            scst_id = "%s:%s" % (algo, local) if local else ""
    return {"bundle_name": name, "bundle_checksum": checksum, "scst_source_id": scst_id}
