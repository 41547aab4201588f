# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Filters behind the ``iser.ofed.preflight`` role and fleet report.

Pure functions, no I/O:

* ``preflight_record(facts, inputs, release_check)``: one host's report record (the JSON written per host),
  with the pipeline's ``blockers``, ``warnings`` and ``next`` computed from ``ansible_facts.iser_ofed``.
* ``preflight_error_record(host, status, msg, task, inputs)``: the record of a host preflight could not assess
  (failed or unreachable).
* ``fleet_summary(records)``, ``fleet_markdown(records)``, ``fleet_html(records)``: the fleet report.

The record format is documented in ``docs/preflight.md`` (``record_version`` 1); keep both in step.
"""
from __future__ import annotations

import html
import re
from typing import Any, Dict, List, Optional

from ansible_collections.iser.ofed.plugins.module_utils import _ofed_version as ofed_version

RECORD_VERSION = 2

FLAVORS = ("mlnx_ofed", "ofed")
FLAVOR_NAMES = {"mlnx_ofed": "MLNX_OFED", "ofed": "OFED"}

STATUS_READY = "ready"
STATUS_BLOCKED = "blocked"
STATUS_FAILED = "failed"
STATUS_UNREACHABLE = "unreachable"
STATUSES = (STATUS_READY, STATUS_BLOCKED, STATUS_FAILED, STATUS_UNREACHABLE)

VERDICT_SUPPORTED = "supported"
VERDICT_UNSUPPORTED = "unsupported"
VERDICT_UNKNOWN = "unknown"
VERDICT_NOT_CHECKED = "not_checked"

# Facts error codes that make the installed stack unknowable: the pipeline cannot decide what to replace.
BLOCKING_FACT_ERRORS = ("OFED_INFO_UNPARSEABLE", "OFED_INFO_FAILED")

# Facts error codes that a blocker already explains: not repeated as warnings.
COVERED_FACT_ERRORS = {
    "PROC_MODULES_UNREADABLE": "MODULES_NOT_MANAGEABLE",
    "TARGET_KERNEL_NOT_INSTALLED": "TARGET_KERNEL_MISSING",
}

COLUMNS = (
    "host",
    "distro",
    "kernel (running / target)",
    "flavor and version",
    "ofed-scripts",
    "supported",
    "hardware",
    "loaded IB modules",
    "blockers",
    "drift",
    "next",
)

Issue = Dict[str, str]


def _dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> List[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _issue(code: str, msg: str) -> Issue:
    return {"code": code, "msg": msg}


def version_matches(wanted: str, actual: str) -> bool:
    """The documented match rule (docs/facts.md): ``5.8`` matches ``5.8-3.0.7.0``, ``5.80`` does not.

    One rule for the whole collection: this delegates to ``_ofed_version.matches``.
    """
    wanted, actual = _str(wanted).strip(), _str(actual).strip()
    if not wanted or not actual:
        return False
    return ofed_version.matches(wanted, actual)


def flavor_name(flavor: Any) -> str:
    """Display name of a flavor (``mlnx_ofed`` -> ``MLNX_OFED``); unknown values are shown as given."""
    return FLAVOR_NAMES.get(_str(flavor), _str(flavor))


def headers_package(kernel: Dict[str, Any]) -> str:
    """The package that provides the build tree of the target kernel, by distribution family."""
    target = _str(kernel.get("target")) or _str(kernel.get("running"))
    family = _str(_dict(kernel.get("distribution")).get("family")).lower()
    if family == "redhat":
        return "kernel-devel-%s" % target
    if family == "suse":
        return "kernel-default-devel (matching %s)" % target
    return "linux-headers-%s" % target


def distro_text(kernel: Dict[str, Any]) -> str:
    dist = _dict(kernel.get("distribution"))
    if dist.get("pretty_name"):
        return _str(dist["pretty_name"])
    parts = [_str(dist.get("id")), _str(dist.get("version"))]
    text = " ".join(p for p in parts if p)
    if dist.get("codename"):
        text += " (%s)" % dist["codename"]
    return text


def _verdict(verdict: str, reason: str, bundle: Optional[str], result: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    result = result or {}
    release = _dict(result.get("release"))
    return {
        "verdict": verdict,
        "reason": reason,
        "bundle": bundle or None,
        "match": result.get("match"),
        "release": {"flavor": release.get("flavor"), "version": release.get("version"), "name": release.get("name")},
        "nearest": [_str(k) for k in _list(result.get("nearest"))],
    }


def release_verdict(release_check: Any, inputs: Dict[str, Any]) -> Dict[str, Any]:
    """Normalise the registered ``iser.ofed.ofed_release_check`` result into the record's ``supported``."""
    if not inputs.get("bundle_path"):
        if inputs.get("bundle_url"):
            reason = "bundle given by URL (iser_ofed_bundle_url): preflight does not download; the validate stage checks it"
        else:
            reason = "no bundle given: set iser_ofed_bundle_path (or iser_ofed_bundle_url) to check support"
        return _verdict(VERDICT_NOT_CHECKED, reason, _str(inputs.get("bundle_url")))
    result = _dict(release_check)
    bundle = _str(inputs.get("bundle_path"))
    if not result or result.get("skipped"):
        return _verdict(VERDICT_NOT_CHECKED, "the release check did not run", bundle)
    if result.get("failed"):
        return _verdict(VERDICT_UNKNOWN, _str(result.get("msg")) or "the release check failed", bundle)
    supported = result.get("supported")
    if supported is True:
        verdict = VERDICT_SUPPORTED
    elif supported is False:
        verdict = VERDICT_UNSUPPORTED
    else:
        verdict = VERDICT_UNKNOWN
    return _verdict(verdict, _str(result.get("reason") or result.get("msg")), bundle, result)


def _fact_errors(facts: Dict[str, Any]) -> List[Dict[str, str]]:
    errors = []
    for source in ("kernel", "ofed", "drift"):
        for item in _list(_dict(facts.get(source)).get("errors")):
            item = _dict(item)
            errors.append({"source": source, "code": _str(item.get("code")) or "UNKNOWN", "msg": _str(item.get("msg"))})
    return errors


def assess(facts: Dict[str, Any], inputs: Dict[str, Any], verdict: Dict[str, Any]) -> Dict[str, Any]:
    """Blockers (the pipeline must not go on), warnings and the ``next`` sentence for one host."""
    kernel = _dict(facts.get("kernel"))
    ofed = _dict(facts.get("ofed"))
    blockers: List[Issue] = []
    warnings: List[Issue] = []
    target = _str(kernel.get("target")) or _str(inputs.get("target_kernel")) or _str(kernel.get("running"))
    wanted_flavor = _str(inputs.get("flavor"))

    if not kernel:
        blockers.append(_issue("KERNEL_FACTS_MISSING", "iser.ofed.kernel_facts returned nothing for this host"))
    if not ofed:
        blockers.append(_issue("OFED_FACTS_MISSING", "iser.ofed.ofed_facts returned nothing for this host"))

    modules = _dict(kernel.get("modules"))
    if kernel and modules.get("manageable") is not True:
        reason = _str(modules.get("reason")) or "kernel modules cannot be loaded or unloaded here"
        blockers.append(_issue(
            "MODULES_NOT_MANAGEABLE",
            "%s; run the pipeline on the real host or VM (kernel_facts: iser_ofed.kernel.modules.manageable)" % reason,
        ))
    if kernel and kernel.get("modules_dir_exists") is False:
        blockers.append(_issue(
            "TARGET_KERNEL_MISSING",
            "%s does not exist: the target kernel %s is not installed; install it or fix iser_ofed_target_kernel"
            % (_str(kernel.get("modules_dir")) or "/lib/modules/" + target, target),
        ))
    if kernel and kernel.get("build_dir_exists") is False:
        blockers.append(_issue(
            "HEADERS_MISSING",
            "no kernel build tree for %s (%s): install %s"
            % (target, _str(kernel.get("build_dir")) or "/lib/modules/%s/build" % target, headers_package(kernel)),
        ))
    if verdict.get("verdict") == VERDICT_UNSUPPORTED:
        blockers.append(_issue(
            "KERNEL_UNSUPPORTED",
            "the bundle %s does not support kernel %s on %s: %s; choose another bundle (iser_ofed_bundle_path) or "
            "kernel (iser_ofed_target_kernel)"
            % (verdict.get("bundle"), target, distro_text(kernel) or "this distribution",
               (verdict.get("reason") or "no matching row")
               + ("; nearest supported: %s" % ", ".join(verdict["nearest"]) if verdict.get("nearest") else "")),
        ))
    release = _dict(verdict.get("release"))
    if wanted_flavor and release.get("flavor") and release["flavor"] != wanted_flavor:
        blockers.append(_issue(
            "BUNDLE_FLAVOR_MISMATCH",
            "the bundle %s is %s but iser_ofed_flavor is %s: fix iser_ofed_flavor or iser_ofed_bundle_path"
            % (verdict.get("bundle"), flavor_name(release["flavor"]), wanted_flavor),
        ))
    wanted_version = _str(inputs.get("version"))
    if wanted_version and release.get("version") and not version_matches(wanted_version, release["version"]):
        blockers.append(_issue(
            "BUNDLE_VERSION_MISMATCH",
            "the bundle %s is version %s but iser_ofed_version is %s: fix iser_ofed_version or iser_ofed_bundle_path"
            % (verdict.get("bundle"), release["version"], wanted_version),
        ))
    if verdict.get("verdict") == VERDICT_UNKNOWN:
        warnings.append(_issue("SUPPORT_UNKNOWN", "support verdict unknown: %s" % (verdict.get("reason") or "no reason given")))

    secure_boot = _str(_dict(kernel.get("secure_boot")).get("state"))
    if secure_boot == "enabled":
        blockers.append(_issue(
            "SECURE_BOOT_ENABLED",
            "Secure Boot is enabled: unsigned OFED modules will not load; disable it or enroll a MOK signing key first",
        ))
    elif kernel and secure_boot != "disabled":
        warnings.append(_issue("SECURE_BOOT_UNKNOWN", "Secure Boot state unknown (%s)" % (secure_boot or "not reported")))

    for key, label in (("root_fs", "root"), ("boot_fs", "boot")):
        mount = _dict(kernel.get(key))
        if mount.get("rdma") is True:
            blockers.append(_issue(
                "%s_ON_RDMA" % label.upper(),
                "the %s filesystem (%s on %s) depends on RDMA: unloading the IB stack would take it away"
                % (label, _str(mount.get("mount")), _str(mount.get("device"))),
            ))

    blocker_codes = {b["code"] for b in blockers}
    for error in _fact_errors(facts):
        if error["code"] in BLOCKING_FACT_ERRORS:
            blockers.append(_issue(
                error["code"],
                "%s; reinstall ofed-scripts from the bundle or remove the broken /usr/bin/ofed_info" % error["msg"],
            ))
        elif COVERED_FACT_ERRORS.get(error["code"]) not in blocker_codes:
            # A facts error a blocker already explains stays in "errors" only.
            warnings.append(_issue(error["code"], "%s facts: %s" % (error["source"], error["msg"])))

    installed = ofed.get("installed") is True
    have_flavor = _str(ofed.get("flavor"))
    scripts = _dict(ofed.get("ofed_scripts"))
    if installed and scripts.get("installed") is not True:
        blockers.append(_issue(
            "OFED_SCRIPTS_MISSING",
            "an OFED stack is installed but ofed-scripts is not: iscsi-scst's Makefile finds the OFED version "
            "through /usr/bin/ofed_info; install ofed-scripts from the same bundle",
        ))
    if installed and wanted_flavor and have_flavor and have_flavor != wanted_flavor:
        blockers.append(_issue(
            "FLAVOR_MISMATCH",
            "%s is installed but iser_ofed_flavor is %s: uninstall it first or set iser_ofed_flavor: %s"
            % (flavor_name(have_flavor), wanted_flavor, have_flavor),
        ))

    if not wanted_flavor:
        warnings.append(_issue("FLAVOR_NOT_SET", "iser_ofed_flavor is not set (mlnx_ofed or ofed): the install stages need it"))
    if not (inputs.get("bundle_path") or inputs.get("bundle_url")):
        warnings.append(_issue("BUNDLE_NOT_SET", "no bundle given (iser_ofed_bundle_path or iser_ofed_bundle_url)"))
    if kernel and kernel.get("target_is_running") is False:
        warnings.append(_issue(
            "TARGET_NOT_RUNNING",
            "target kernel %s is not the running kernel %s: modules can be built but not loaded before a reboot"
            % (target, _str(kernel.get("running"))),
        ))
    config = _dict(kernel.get("config"))
    if kernel.get("modules_dir_exists") is True and not config.get("infiniband") \
            and kernel.get("ib_register_client_in_modules_symbols") is not True:
        warnings.append(_issue(
            "KERNEL_IB_DISABLED",
            "neither CONFIG_INFINIBAND nor ib_register_client in modules.symbols for %s: iscsi-scst will not build isert"
            % target,
        ))
    if ofed and not _list(ofed.get("hardware")):
        warnings.append(_issue("NO_IB_HARDWARE", "no Mellanox/NVIDIA (PCI vendor 15b3) device found"))
    if inputs.get("state_dir_exists") is True:
        warnings.append(_issue(
            "STATE_DIR_PRESENT",
            "%s exists: an earlier run left its journal; the pipeline resumes from it" % _str(inputs.get("state_dir")),
        ))

    drift = _dict(facts.get("drift"))
    drift_items = [_dict(i) for i in _list(drift.get("findings"))]
    if drift_items:
        warnings.append(_issue(
            "DRIFT_DETECTED",
            "%d drift item%s since the pipeline ran: %s (the record's drift lists each with its fix)"
            % (len(drift_items), "" if len(drift_items) == 1 else "s",
               ", ".join("%s %s" % (_str(i.get("code")), _str(i.get("kernel"))) for i in drift_items)),
        ))

    steps = next_steps(kernel, ofed, inputs, verdict)
    if blockers:
        text = "blocked by %s" % ", ".join(b["code"] for b in blockers)
        if steps:
            text += "; then: " + "; ".join(steps)
    else:
        text = "; ".join(steps) or "nothing to do"
    if drift_items:
        fixes = ["%s %s" % (_str(i.get("code")), _str(i.get("kernel"))) for i in drift_items]
        text += "; fix the drift (%s)" % ", ".join(fixes)
    return {"blockers": blockers, "warnings": warnings, "next": text}


def next_steps(kernel: Dict[str, Any], ofed: Dict[str, Any], inputs: Dict[str, Any], verdict: Dict[str, Any]) -> List[str]:
    """What the install pipeline would do on this host, in words.

    Only ``iser_ofed_flavor`` chooses a stack (the install stages need it, warning ``FLAVOR_NOT_SET``): without
    it the plan keeps what is installed and installs nothing, whatever the bundle is. The bundle's version is
    the one installed when the bundle is of the wanted flavor; otherwise ``iser_ofed_version`` is named.
    """
    release = _dict(verdict.get("release"))
    wanted_flavor = _str(inputs.get("flavor"))
    bundle_flavor = _str(release.get("flavor"))
    if bundle_flavor and bundle_flavor != wanted_flavor:
        wanted_version = _str(inputs.get("version"))
    else:
        wanted_version = _str(release.get("version")) or _str(inputs.get("version"))
    have_flavor = _str(ofed.get("flavor"))
    have_version = _str(ofed.get("version"))
    installed = ofed.get("installed")
    current = ("%s %s" % (flavor_name(have_flavor) or "an unknown OFED", have_version)).strip()

    if not wanted_flavor:
        bundle = ("; the bundle is %s" % ("%s %s" % (flavor_name(bundle_flavor), _str(release.get("version")))).strip()
                  if bundle_flavor else "")
        if installed is True:
            return ["keep %s (iser_ofed_flavor not set: nothing to install%s)" % (current, bundle)]
        if installed is False:
            return ["no OFED installed; nothing to install (iser_ofed_flavor not set%s)" % bundle]
        return ["nothing to install (iser_ofed_flavor not set%s; installed OFED unknown)" % bundle]

    wanted = ("%s %s" % (flavor_name(wanted_flavor), wanted_version)).strip()
    if installed is True and have_flavor == wanted_flavor:
        if not wanted_version:
            return ["keep %s (already installed; iser_ofed_version not set and no bundle version: any version will do)"
                    % current, "build iscsi-scst against it"]
        if version_matches(wanted_version, have_version):
            return ["keep %s (already installed)" % current, "build iscsi-scst against it"]
    steps: List[str] = []
    if installed is True:
        steps.append("replace %s with %s" % (current, wanted))
    elif installed is False:
        steps.append("install %s" % wanted)
    else:
        steps.append("install %s (installed OFED unknown)" % wanted)
    loaded = _list(_dict(kernel.get("modules")).get("loaded_ib"))
    if loaded:
        steps.append("unload %d IB module%s" % (len(loaded), "" if len(loaded) == 1 else "s"))
    dirs = [d for d in (_dict(x) for x in _list(kernel.get("stock_dirs"))) if d.get("exists") and d.get("files")]
    if dirs:
        files = sum(int(d.get("files") or 0) for d in dirs)
        steps.append("quarantine %d stock IB module dir%s (%d files)" % (len(dirs), "" if len(dirs) == 1 else "s", files))
    steps.append("build iscsi-scst")
    return steps


def drift_record(drift: Any) -> Dict[str, Any]:
    """The record's ``drift``: ``iser_ofed.drift`` (``iser.ofed.drift_facts``) cut down to what a report shows.

    ``checked`` is false when the host has no drift facts (every other key is then empty).
    """
    drift = _dict(drift)
    kernels = [_dict(k) for k in _list(drift.get("kernels"))]
    return {
        "checked": bool(drift),
        "detected": bool(drift.get("findings")) if drift else None,
        "findings": [{k: _dict(i).get(k) for k in ("code", "kernel", "msg", "fix")} for i in _list(drift.get("findings"))],
        "kernels": [{k: x.get(k) for k in ("kernel", "running", "target", "status", "ofed_modules", "ofed_dirs")}
                    for x in kernels if x.get("installed") or x.get("running") or x.get("target")],
        "quarantines": [
            {"kernel": x.get("kernel"), "state": x.get("state"), "reappeared": len(_list(x.get("reappeared"))),
             "copy_mismatch": len(_list(x.get("copy_mismatch"))), "copy_missing": len(_list(x.get("copy_missing")))}
            for x in (_dict(y) for y in _list(drift.get("quarantines")))],
    }


def preflight_record(facts: Any, inputs: Any = None, release_check: Any = None, host: Any = None) -> Dict[str, Any]:
    """The report record of one host assessed by the preflight role (see docs/preflight.md)."""
    facts = _dict(facts)
    inputs = _dict(inputs)
    kernel = _dict(facts.get("kernel"))
    ofed = _dict(facts.get("ofed"))
    verdict = release_verdict(release_check, inputs)
    result = assess(facts, inputs, verdict)
    modules = _dict(kernel.get("modules"))
    scripts = _dict(ofed.get("ofed_scripts"))
    return {
        "record_version": RECORD_VERSION,
        "host": _str(host),
        "status": STATUS_BLOCKED if result["blockers"] else STATUS_READY,
        "error": None,
        "distro": distro_text(kernel),
        "kernel": {
            "running": kernel.get("running"),
            "target": kernel.get("target"),
            "target_is_running": kernel.get("target_is_running"),
            "arch": kernel.get("arch"),
            "headers": kernel.get("build_dir_exists"),
        },
        "wanted": {
            "flavor": _str(inputs.get("flavor")) or None,
            "version": _str(inputs.get("version")) or None,
        },
        "ofed": {
            "installed": ofed.get("installed"),
            "flavor": ofed.get("flavor"),
            "version": ofed.get("version"),
            "ofed_info_first_line": _dict(ofed.get("ofed_info")).get("first_line"),
            "scst_build_flavor": ofed.get("scst_build_flavor"),
        },
        "ofed_scripts": {"installed": scripts.get("installed"), "version": scripts.get("version")},
        "supported": verdict,
        "hardware": [
            {k: _dict(d).get(k) for k in ("slot", "device", "name", "driver", "firmware")}
            for d in _list(ofed.get("hardware"))
        ],
        "loaded_ib_modules": [_str(_dict(m).get("name")) for m in _list(modules.get("loaded_ib"))],
        "modules_manageable": modules.get("manageable"),
        "stock_dirs": [
            {"rel": d.get("rel"), "files": d.get("files"), "bytes": d.get("bytes")}
            for d in (_dict(x) for x in _list(kernel.get("stock_dirs"))) if d.get("exists")
        ],
        "virtualization": _dict(kernel.get("virtualization")),
        "secure_boot": _dict(kernel.get("secure_boot")).get("state"),
        "blockers": result["blockers"],
        "warnings": result["warnings"],
        "errors": _fact_errors(facts),
        "drift": drift_record(facts.get("drift")),
        "next": result["next"],
    }


def preflight_error_record(host: Any, status: str = STATUS_FAILED, msg: Any = "", task: Any = None,
                           inputs: Any = None) -> Dict[str, Any]:
    """The record of a host preflight could not assess: ``status`` is ``failed`` or ``unreachable``."""
    if status not in (STATUS_FAILED, STATUS_UNREACHABLE):
        raise ValueError("status must be failed or unreachable, not %r" % (status,))
    inputs = _dict(inputs)
    return {
        "record_version": RECORD_VERSION,
        "host": _str(host),
        "status": status,
        "error": {"task": _str(task) or None, "msg": _str(msg) or "no message"},
        "distro": "",
        "kernel": {"running": None, "target": None, "target_is_running": None, "arch": None, "headers": None},
        "wanted": {"flavor": _str(inputs.get("flavor")) or None, "version": _str(inputs.get("version")) or None},
        "ofed": {"installed": None, "flavor": None, "version": None, "ofed_info_first_line": None,
                 "scst_build_flavor": None},
        "ofed_scripts": {"installed": None, "version": None},
        "supported": _verdict(VERDICT_NOT_CHECKED, "host not assessed", None),
        "hardware": [],
        "loaded_ib_modules": [],
        "modules_manageable": None,
        "stock_dirs": [],
        "virtualization": {},
        "secure_boot": None,
        "blockers": [],
        "warnings": [],
        "errors": [],
        "drift": drift_record(None),
        "next": "fix the error and run preflight again",
    }


# ---------------------------------------------------------------------------------------------------------
# Fleet report

NO_RECORD_MSG = "no preflight record: the host failed before preflight could record a result; see the play output"


def fleet_records(records: Any, hosts: Any) -> List[Dict[str, Any]]:
    """One record per host of ``hosts``: ``records[i]`` when it is a record, else a ``failed`` record.

    ``records`` is the list of ``hostvars[host].preflight_record`` in the order of ``hosts`` (``None`` where
    the host has none, e.g. it became unreachable during the role).
    """
    recs = _list(records)
    out = []
    for index, host in enumerate(_list(hosts)):
        record = recs[index] if index < len(recs) else None
        if isinstance(record, dict) and record.get("record_version") is not None:
            out.append(record)
        else:
            out.append(preflight_error_record(host, STATUS_FAILED, NO_RECORD_MSG))
    return out


def _sorted(records: Any) -> List[Dict[str, Any]]:
    return sorted((_dict(r) for r in _list(records)), key=lambda r: _str(r.get("host")))


def fleet_summary(records: Any) -> Dict[str, Any]:
    """Counts and per-status host lists, small enough for ``set_stats`` (AWX artifacts)."""
    recs = _sorted(records)
    summary: Dict[str, Any] = {"hosts": len(recs), "record_version": RECORD_VERSION}
    for status in STATUSES:
        summary[status] = [r["host"] for r in recs if r.get("status") == status]
    summary["blockers"] = {r["host"]: [b.get("code") for b in _list(r.get("blockers"))]
                           for r in recs if r.get("blockers")}
    summary["errors"] = {r["host"]: _str(_dict(r.get("error")).get("msg")) for r in recs if r.get("error")}
    summary["verdicts"] = {r["host"]: _dict(r.get("supported")).get("verdict") for r in recs}
    summary["drift"] = {r["host"]: [_str(_dict(i).get("code")) for i in _list(_dict(r.get("drift")).get("findings"))]
                        for r in recs if _list(_dict(r.get("drift")).get("findings"))}
    return summary


def _cells(record: Dict[str, Any]) -> Dict[str, List[str]]:
    """The report columns of one record, each cell a list of plain-text lines (escaping comes later)."""
    kernel = _dict(record.get("kernel"))
    ofed = _dict(record.get("ofed"))
    wanted = _dict(record.get("wanted"))
    scripts = _dict(record.get("ofed_scripts"))
    verdict = _dict(record.get("supported"))
    status = _str(record.get("status"))
    running, target = _str(kernel.get("running")) or "?", _str(kernel.get("target")) or "?"
    kernel_cell = [running if running == target else "%s / %s" % (running, target)]
    if kernel.get("headers") is False:
        kernel_cell.append("(no headers)")
    if ofed.get("installed") is True:
        flavor_cell = ["%s %s" % (flavor_name(ofed.get("flavor")) or "unknown flavor", _str(ofed.get("version")) or "?")]
    elif ofed.get("installed") is False:
        flavor_cell = ["none installed"]
    else:
        flavor_cell = ["?"]
    if wanted.get("flavor") or wanted.get("version"):
        flavor_cell.append("wanted: %s" % " ".join(
            x for x in (flavor_name(wanted.get("flavor")), _str(wanted.get("version"))) if x))
    if scripts.get("installed") is True:
        scripts_cell = [_str(scripts.get("version")) or "installed"]
    elif scripts.get("installed") is False:
        scripts_cell = ["no"]
    else:
        scripts_cell = ["?"]
    verdict_cell = [_str(verdict.get("verdict")).replace("_", " ")]
    if verdict.get("verdict") in (VERDICT_UNSUPPORTED, VERDICT_UNKNOWN) and verdict.get("reason"):
        verdict_cell.append(_str(verdict.get("reason")))
    hardware = [
        " ".join(x for x in (_str(h.get("name")) or _str(h.get("device")), _str(h.get("slot")),
                             ("fw " + _str(h.get("firmware"))) if h.get("firmware") else "") if x)
        for h in (_dict(x) for x in _list(record.get("hardware")))
    ]
    modules = [_str(m) for m in _list(record.get("loaded_ib_modules"))]
    if record.get("modules_manageable") is False and not modules:
        modules = ["n/a (not manageable)"]
    problems: List[str] = []
    if record.get("error"):
        error = _dict(record.get("error"))
        task = _str(error.get("task"))
        problems.append("%s: %s%s" % (status.upper() or "ERROR", "[%s] " % task if task else "", _str(error.get("msg"))))
    problems.extend("%s: %s" % (_str(b.get("code")), _str(b.get("msg"))) for b in (_dict(x) for x in _list(record.get("blockers"))))
    warning_codes = [_str(_dict(w).get("code")) for w in _list(record.get("warnings"))]
    if warning_codes:  # the messages are in the JSON record
        problems.append("warnings: %s" % ", ".join(warning_codes))
    drift = _dict(record.get("drift"))
    drift_cell = ["%s (%s): %s; fix: %s" % (_str(i.get("code")), _str(i.get("kernel")), _str(i.get("msg")), _str(i.get("fix")))
                  for i in (_dict(x) for x in _list(drift.get("findings")))]
    if not drift_cell:
        drift_cell = ["none" if drift.get("checked") else "not checked"]
    return {
        "host": [_str(record.get("host")), "(%s)" % status],
        "distro": [_str(record.get("distro")) or "?"],
        "kernel (running / target)": kernel_cell,
        "flavor and version": flavor_cell,
        "ofed-scripts": scripts_cell,
        "supported": verdict_cell,
        "hardware": hardware or ["none"],
        "loaded IB modules": [", ".join(modules) if modules else "none"],
        "blockers": problems or ["none"],
        "drift": drift_cell,
        "next": [_str(record.get("next"))],
    }


def _counts(summary: Dict[str, Any]) -> str:
    return "%d host%s: %s; %d with drift" % (summary["hosts"], "" if summary["hosts"] == 1 else "s",
                                             ", ".join("%d %s" % (len(summary[s]), s) for s in STATUSES),
                                             len(summary.get("drift") or {}))


def markdown_escape(text: Any) -> str:
    """One table-cell-safe line: HTML special characters as entities, ``|`` and backslash escaped, no newlines."""
    text = html.escape(_str(text), quote=False)
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    return re.sub(r"[\r\n\t\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+", " ", text).strip()


def fleet_markdown(records: Any, title: str = "iser.ofed preflight: fleet report") -> str:
    """The fleet report as a Markdown document: a summary line and one table row per host."""
    recs = _sorted(records)
    summary = fleet_summary(recs)
    lines = ["# %s" % markdown_escape(title), ""]
    lines.append("%s." % markdown_escape(_counts(summary)))
    lines.append("")
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|" + " --- |" * len(COLUMNS))
    for record in recs:
        cells = _cells(record)
        lines.append("| " + " | ".join("<br>".join(markdown_escape(x) for x in cells[c]) for c in COLUMNS) + " |")
    lines.append("")
    return "\n".join(lines)


_CSS = (
    "body{font-family:sans-serif;margin:1em;color:#222}"
    "table{border-collapse:collapse;width:100%;font-size:.9em}"
    "th,td{border:1px solid #bbb;padding:4px 6px;vertical-align:top;text-align:left}"
    "th{background:#eee}"
    "tr.ready td.status{background:#d9f2d9}tr.blocked td.status{background:#fde8c8}"
    "tr.failed td.status,tr.unreachable td.status{background:#f8d0d0}"
    "td.drift{background:#fff3c4}"
    "ul{margin:0;padding-left:1.1em}code{white-space:pre-wrap}"
)


def _h(text: Any) -> str:
    return html.escape(_str(text), quote=True)


def fleet_html(records: Any, title: str = "iser.ofed preflight: fleet report") -> str:
    """The fleet report as one self-contained HTML page (inline CSS, no scripts, every value escaped)."""
    recs = _sorted(records)
    summary = fleet_summary(recs)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>%s</title>" % _h(title),
        "<style>%s</style></head><body>" % _CSS,
        "<h1>%s</h1>" % _h(title),
        "<p>%s.</p>" % _h(_counts(summary)),
        "<table><thead><tr>%s</tr></thead><tbody>" % "".join("<th>%s</th>" % _h(c) for c in COLUMNS),
    ]
    for record in recs:
        cells = _cells(record)
        status = _str(record.get("status"))
        row_class = status if status in STATUSES else "failed"
        tds = []
        for column in COLUMNS:
            values = cells[column]
            css = ' class="status"' if column == "host" else ""
            if column == "drift" and _list(_dict(record.get("drift")).get("findings")):
                css = ' class="drift"'
            if len(values) > 1 and column in ("blockers", "hardware", "drift"):
                body = "<ul>%s</ul>" % "".join("<li>%s</li>" % _h(v) for v in values)
            else:
                body = "<br>".join(_h(v) for v in values)
            tds.append("<td%s>%s</td>" % (css, body))
        out.append('<tr class="%s">%s</tr>' % (row_class, "".join(tds)))
    out.append("</tbody></table></body></html>")
    return "\n".join(out) + "\n"


class FilterModule:
    """iser.ofed report filters."""

    def filters(self):
        return {
            "preflight_record": preflight_record,
            "preflight_error_record": preflight_error_record,
            "preflight_drift_record": drift_record,
            "fleet_records": fleet_records,
            "fleet_summary": fleet_summary,
            "fleet_markdown": fleet_markdown,
            "fleet_html": fleet_html,
            "ofed_version_matches": version_matches,
        }
