# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""The verdict of ``iser.ofed.ofed_release_check``: does this bundle support this kernel/distro/arch?

Pure functions over a ``_bundle.Bundle``; the module only does I/O and exit_json/fail_json.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from ansible_collections.iser.ofed.plugins.module_utils import _mlnx_bundle as mb
from ansible_collections.iser.ofed.plugins.module_utils import _release_notes as rn
from ansible_collections.iser.ofed.plugins.module_utils._bundle import Bundle

RELEASE_NOTES = "docs/OFED_release_notes.txt"


class CheckError(ValueError):
    """The bundle cannot be judged (not an OFED bundle, release notes unusable...)."""


def bundle_flavor(bundle: Bundle) -> str:
    """``mlnx_ofed`` (``.mlnx`` present), ``ofed`` (release notes or ``BUILD_ID``), else ``CheckError``."""
    if bundle.has(".mlnx"):
        return "mlnx_ofed"
    if bundle.has(RELEASE_NOTES) or bundle.has("BUILD_ID"):
        return "ofed"
    raise CheckError("%s is not an OFED bundle: expected .mlnx (MLNX_OFED) or %s / BUILD_ID (classic OFED) at its "
                     "top level or one directory down" % (bundle.describe(), RELEASE_NOTES))


def build_id_release(text: Optional[str]) -> Optional[str]:
    """``OFED-1.5`` → ``1.5``; ``OFED-3.5:`` → ``3.5``; ``OFED-3.18-2:`` → ``3.18-2``."""
    if not text:
        return None
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    match = re.match(r"^OFED-(\d[\w.-]*?):?$", first)
    return match.group(1) if match else None


def classic_arch_ok(arch: str, archs: List[str]) -> bool:
    wanted = mb.normalize_arch(arch)
    return wanted in [mb.normalize_arch(a) for a in archs]


def _classic(bundle: Bundle, kernel: str, distro: Optional[str], arch: str) -> Dict[str, Any]:
    text = bundle.text(RELEASE_NOTES)
    if text is None:
        raise CheckError("%s has no %s: the classic OFED support list (section '%s') is read from it"
                         % (bundle.describe(), RELEASE_NOTES, rn.SECTION_TITLE))
    try:
        notes = rn.parse_release_notes(text)
    except rn.ReleaseNotesError as exc:
        raise CheckError("%s: %s" % (bundle.describe(RELEASE_NOTES), exc))
    version = build_id_release(bundle.text("BUILD_ID"))
    source = "BUILD_ID"
    if version is None:
        version, source = notes["version"], RELEASE_NOTES
    release = {"flavor": "ofed", "version": version, "source": source, "name": "OFED-%s" % version}
    match = rn.match_kernel(notes["rows"], kernel, distro)
    arch_ok = classic_arch_ok(arch, notes["archs"])
    row = match["row"]
    distro_ok = True
    if distro and row and not row.get("kernelorg"):
        distro_ok = rn._distro_equivalent(rn.row_distro_id(row["distro_name"]), distro)
    kind = match["kind"]
    if kind == "exact":
        reason = "kernel %s is listed for %s in %s" % (kernel, row["distro_name"], RELEASE_NOTES)
        if row["kernel"] != kernel:
            reason = "kernel %s is %s up to its flavour suffix, listed for %s" % (kernel, row["kernel"], row["distro_name"])
    elif kind == "series":
        reason = "kernel %s is in the series of %s (%s): same upstream base and distro build" % (
            kernel, row["kernel"], row["distro_name"])
    elif kind == "kernelorg_range":
        reason = "the upstream part of %s falls in the kernel.org row '%s'" % (kernel, row["kernel"])
    else:
        reason = "kernel %s is not listed in section 1.2 of %s" % (kernel, RELEASE_NOTES)
    if match["minimal_qa"]:
        reason += " (%s)" % (notes["footnote"] or "minimal QA").rstrip(".").lower().replace("oses", "OSes")
    if not arch_ok:
        reason = "architecture %s is not among %s listed in %s; %s" % (arch, ", ".join(notes["archs"]), RELEASE_NOTES, reason)
    supported = kind != "none" and arch_ok
    return {
        "supported": supported, "match": kind, "minimal_qa": bool(match["minimal_qa"]), "row": row,
        "reason": reason, "release": release,
        "nearest": [] if kind in ("exact",) else rn.nearest_kernels(notes["rows"], kernel),
        "distro_ok": distro_ok, "arch_ok": arch_ok,
        "bundle_distro": None, "bundle_arch": notes["archs"],
    }


def _mlnx(bundle: Bundle, kernel: str, distro: Optional[str], arch: str,
          headers_present: Optional[bool]) -> Dict[str, Any]:
    try:
        meta = mb.read_metadata(bundle.texts, bundle.describe())
    except mb.MlnxBundleError as exc:
        raise CheckError(str(exc))
    release = {"flavor": "mlnx_ofed", "version": meta["version"], "source": ".mlnx",
               "name": "MLNX_OFED_LINUX-%s" % meta["version"]}
    bundle_distro = meta["distro"]
    if not bundle_distro:
        distro_ok = False
        distro_reason = "the bundle has no distro file"
    elif bundle_distro == mb.SKIP_DISTRO_CHECK:
        distro_ok, distro_reason = True, ""
    elif distro is None:
        distro_ok, distro_reason = False, "the target distro is unknown (pass distro or distribution facts)"
    else:
        distro_ok = mb.mlnx_distro_matches(bundle_distro, distro)
        distro_reason = "" if distro_ok else "the bundle is intended for %s, the host runs %s" % (bundle_distro, distro)
    arch_ok = bool(meta["arch"]) and mb.normalize_arch(meta["arch"]) == mb.normalize_arch(arch)
    arch_reason = "" if arch_ok else "the bundle is built for %s, the host is %s" % (meta["arch"] or "an unknown architecture", arch)
    kernel_verdict = mb.check_kernel(kernel, bundle.files, bundle.texts, headers_present)
    problems = [p for p in (distro_reason, arch_reason) if p]
    reason = kernel_verdict["reason"]
    if problems:
        reason = "; ".join(problems) + "; " + reason
    return {
        "supported": bool(kernel_verdict["supported"] and distro_ok and arch_ok),
        "match": kernel_verdict["match"], "minimal_qa": False,
        "row": {"package": kernel_verdict["detail"], "packaging": kernel_verdict["packaging"]}
        if kernel_verdict["match"] != "none" else None,
        "reason": reason, "release": release, "nearest": kernel_verdict["nearest"],
        "distro_ok": distro_ok, "arch_ok": arch_ok,
        "bundle_distro": bundle_distro or None, "bundle_arch": [meta["arch"]] if meta["arch"] else [],
    }


def check(bundle: Bundle, kernel: str, distro: Optional[str], arch: str,
          headers_present: Optional[bool] = None) -> Dict[str, Any]:
    """The full verdict for ``kernel`` on ``distro``/``arch`` (see the module's RETURN)."""
    if not kernel or not kernel.strip():
        raise CheckError("kernel is empty: pass the target kernel release (uname -r), e.g. 5.4.0-26-generic")
    kernel = kernel.strip()
    flavor = bundle_flavor(bundle)
    if flavor == "mlnx_ofed":
        result = _mlnx(bundle, kernel, distro, arch, headers_present)
    else:
        result = _classic(bundle, kernel, distro, arch)
    result["bundle"] = {"path": bundle.path, "kind": bundle.kind, "root": bundle.root}
    result["target"] = {"kernel": kernel, "distro": distro, "arch": arch}
    return result


def remedy(result: Dict[str, Any]) -> str:
    """What the user can do about an unsupported verdict (one or two sentences)."""
    release = result["release"]
    target = result["target"]
    if release["flavor"] == "mlnx_ofed":
        if not result["arch_ok"]:
            return "Use the MLNX_OFED bundle built for %s." % target["arch"]
        if not result["distro_ok"]:
            return ("Use the MLNX_OFED bundle built for %s, or rebuild this one with "
                    "mlnx_add_kernel_support.sh --distro to skip the distro check." % (target["distro"] or "this distro"))
        return ("Install the headers of %s so DKMS can build the modules, rebuild the bundle for it with "
                "mlnx_add_kernel_support.sh -k %s (or mlnxofedinstall --add-kernel-support), or boot a supported "
                "kernel." % (target["kernel"], target["kernel"]))
    return ("Boot a kernel listed in section 1.2 of %s or pick an OFED release that lists %s; "
            "set allow_unsupported: true to try anyway (install.pl may fail to build the kernel modules)."
            % (RELEASE_NOTES, target["kernel"]))


def failure_message(result: Dict[str, Any]) -> str:
    release = result["release"]
    nearest = "; ".join(result["nearest"]) or "none (the bundle ships no prebuilt kernel list)"
    return ("Kernel %s is not supported by %s (%s): %s. Nearest supported kernels: %s. %s"
            % (result["target"]["kernel"], release["name"], result["bundle"]["path"], result["reason"], nearest,
               remedy(result)))
