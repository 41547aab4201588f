# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Parsers for ``ofed_info`` output, ``/etc/infiniband/info`` and ``/etc/mlnx-release``.

First lines seen in real captures (tests/unit/fixtures/captured/ofed_info):

=====================  ===============================  ===========================================
stack                  ``ofed_info -s``                 notes
=====================  ===============================  ===========================================
OFED 1.5 (RPM)         ``OFED-1.5`` + full listing      no options at all: any argument prints all
OFED 3.5 (RPM)         ``OFED-3.5:``                    only ``-s``; ``-n`` prints the full listing
MLNX_OFED 4.1 (DEB)    ``OFED-internal-4.1-1.0.2:``     only ``-s``; ``-n`` prints the full listing
MLNX_OFED 5.0 (DEB)    ``OFED-internal-5.0-2.1.8:``     ``-n`` prints ``5.0-2.1.8``
=====================  ===============================  ===========================================

After ``mlnxofedinstall`` rewrites the script (domain doc, not captured): ``MLNX_OFED_LINUX-5.0-2.1.8.0:``
for ``-s`` and ``MLNX_OFED_LINUX-5.0-2.1.8.0 (OFED-5.0-2.1.8):`` as the first line of the listing.

DOCA-era hosts (OFED versions ``YY.MM-...``; no capture of our own, strings quoted from public logs and
docs): the repository-installed ofed-scripts print ``OFED-internal-25.10-1.7.1:`` (DOCA 3.2.1 after
``apt-get install doca-ofed``), ``OFED-internal-24.10-1.1.4.0.200:`` (DGX OS after ``apt-get install
doca-ofed``), ``OFED-internal-24.10-2.1.8:``, ``OFED-internal-24.07-0.6.1:``; the standalone MLNX_OFED
24.10 bundle prints ``MLNX_OFED_LINUX-24.10-2.1.8.0``. Both kinds are MLNX OFED (``MOFED`` for iscsi-scst).

``/etc/mlnx-release`` is written by NVIDIA's BlueField images (bf-release package; the BFB file is named
after it). Real contents: ``bf-bundle-2.7.0-33_24.04_ubuntu-22.04_prod`` (NVIDIA/doca-platform source
comment) and ``DOCA_1.3.0_BSP_3.9.0_Ubuntu_20.04-6.signed`` (older BlueField images, public notes).
DOCA packages: the metapackages ``doca-ofed``, ``doca-ofed-userspace`` (and the ``doca-all``,
``doca-networking``, ``doca-roce`` profiles) at versions ``<doca>-<build>`` such as ``3.2.3-019000``;
``doca-host`` is the repository set-up package (``doca-host_2.9.1-018000-24.10-ubuntu2204_amd64.deb``).
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

# kind -> flavor (spelled as the user input iser_ofed_flavor)
KIND_FLAVOR = {
    "mlnx_ofed_linux": "mlnx_ofed",
    "ofed_internal": "mlnx_ofed",
    "ofed": "ofed",
}

_VER = r"(?P<version>\d+(?:\.\d+)+(?:-[0-9A-Za-z][0-9A-Za-z.]*)*)"
_FIRST_LINE_RES = (
    ("mlnx_ofed_linux", re.compile(r"^MLNX_OFED_LINUX-" + _VER +
                                   r"(?:\s+\(OFED-(?P<base>[0-9][0-9A-Za-z.-]*)\))?:?\s*$")),
    ("ofed_internal", re.compile(r"^OFED-internal-" + _VER + r":?\s*$")),
    ("ofed", re.compile(r"^OFED-" + _VER + r":?\s*$")),
)
_NUMERIC_RE = re.compile(r"^\d+\.\d+(?:-\d+(?:\.\d+)*)?$")
_PREFIX_RE = re.compile(r"""(?:^|[\s;'"])prefix=["']?(?P<prefix>/[^\s"';]*)""", re.MULTILINE)


def first_line(output: Optional[str]) -> Optional[str]:
    """The first line of ``output`` (what ``head -n1`` gives), or ``None`` for no output at all."""
    if output is None or output == "":
        return None
    return output.split("\n", 1)[0].rstrip("\r")


def classify_first_line(line: Optional[str]) -> Dict[str, Any]:
    """Classify an ``ofed_info`` first line.

    Returns ``{kind, flavor, version, base_version}``; ``kind`` is ``None`` when the line is none of the
    known formats (the caller reports ``OFED_INFO_UNPARSEABLE``).
    """
    result = {"kind": None, "flavor": None, "version": None, "base_version": None}  # type: Dict[str, Any]
    if not line:
        return result
    text = line.strip()
    for kind, regex in _FIRST_LINE_RES:
        match = regex.match(text)
        if match:
            result["kind"] = kind
            result["flavor"] = KIND_FLAVOR[kind]
            result["version"] = match.group("version")
            result["base_version"] = match.groupdict().get("base")
            return result
    return result


def parse_numeric(output: Optional[str]) -> Optional[str]:
    """``ofed_info -n`` output: the version when it is one numeric line (MLNX_OFED >= 5.0), else ``None``.

    Older ``ofed_info`` scripts ignore ``-n`` and print the full listing; that gives ``None``.
    """
    if output is None:
        return None
    lines = [ln.strip() for ln in output.strip().splitlines()]
    if len(lines) != 1 or not _NUMERIC_RE.match(lines[0]):
        return None
    return lines[0]


def scst_flavor(line: Optional[str]) -> str:
    """``OFED_FLAVOR`` exactly as iscsi-scst's Makefile computes it from the first line of ofed_info.

    Mirrors ``head -n1 | sed -n 's/^\\(MLNX_OFED\\|OFED-internal\\).*/MOFED/p;s/^OFED-.*/OFED/p'``
    (SCST-project/scst, iscsi-scst/Makefile): the first substitution turns the line into ``MOFED``, so
    the second never fires after it; a line matching neither prints nothing, so the flavor is ``""``.
    The caller handles "no /usr/bin/ofed_info" (``in-tree``).
    """
    if line is None:
        return ""
    if line.startswith("MLNX_OFED") or line.startswith("OFED-internal"):
        return "MOFED"
    if line.startswith("OFED-"):
        return "OFED"
    return ""


def parse_infiniband_info(text: str) -> Optional[str]:
    """The ``prefix=`` value of ``/etc/infiniband/info`` (a shell script that prints ``prefix=<dir>``)."""
    match = _PREFIX_RE.search(text or "")
    if not match:
        return None
    prefix = match.group("prefix").rstrip("/")
    return prefix or "/"


def parse_mlnx_release(text: str) -> Optional[str]:
    """First non-empty line of ``/etc/mlnx-release`` (free text; ``classify_mlnx_release`` reads it)."""
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return None


_BF_BUNDLE_RE = re.compile(r"^bf-bundle-(?P<doca>\d+(?:\.\d+)+)-(?P<build>[0-9A-Za-z.]+)_(?P<bsp>\d+\.\d+)"
                           r"_(?P<os>[A-Za-z]+-[0-9.]+)(?:_(?P<variant>[0-9A-Za-z_.-]+))?$")
_DOCA_BSP_RE = re.compile(r"^DOCA_(?P<doca>\d+(?:\.\d+)+)_BSP_(?P<bsp>\d+(?:\.\d+)+)_(?P<os>[A-Za-z]+_[0-9.]+)"
                          r"-(?P<build>\d+)(?:\.(?P<variant>[0-9A-Za-z_.-]+))?$")


def classify_mlnx_release(line: Optional[str]) -> Optional[Dict[str, Any]]:
    """Fields of a BlueField ``/etc/mlnx-release`` line, ``{kind: None, ...}`` for other text, None for none.

    ``bf-bundle-<doca>-<build>_<bsp>_<os>_<variant>`` (``kind: bf_bundle``) and
    ``DOCA_<doca>_BSP_<bsp>_<os>-<build>.<variant>`` (``kind: doca_bsp``).
    """
    if not line:
        return None
    result = {"kind": None, "doca_version": None, "build": None, "bsp_version": None, "os": None,
              "variant": None}  # type: Dict[str, Any]
    for kind, regex in (("bf_bundle", _BF_BUNDLE_RE), ("doca_bsp", _DOCA_BSP_RE)):
        match = regex.match(line.strip())
        if match:
            result.update(kind=kind, doca_version=match.group("doca"), build=match.group("build"),
                          bsp_version=match.group("bsp"), os=match.group("os"), variant=match.group("variant"))
            break
    return result


# DOCA metapackages, most specific first: the first installed one gives the DOCA version.
DOCA_PACKAGES = ("doca-ofed", "doca-ofed-userspace", "doca-all", "doca-networking", "doca-roce", "doca-host")
_DOCA_VERSION_RE = re.compile(r"^(?:\d+:)?(?P<version>\d+\.\d+(?:\.\d+)*)(?:-|$)")


def doca_facts(packages: List[Dict[str, Any]], mlnx_release: Optional[str]) -> Dict[str, Any]:
    """Is this a DOCA-era install (DOCA-Host packages, or a BlueField image's ``/etc/mlnx-release``)?

    ``version`` is the DOCA release (``2.9.1`` from ``doca-ofed 2.9.1-018000``), not the OFED version:
    the OFED stack keeps its own ``version``/``flavor`` (``mlnx_ofed``) in the facts.
    """
    installed = sorted(p["name"] for p in packages if p.get("installed") and p["name"].startswith("doca-"))
    facts = {"detected": False, "version": None, "version_source": None, "packages": installed,
             "mlnx_release": classify_mlnx_release(mlnx_release)}  # type: Dict[str, Any]
    for name in DOCA_PACKAGES:
        for pkg in packages:
            if pkg["name"] == name and pkg.get("installed"):
                match = _DOCA_VERSION_RE.match(pkg.get("upstream_version") or pkg.get("version") or "")
                facts.update(detected=True, version=match.group("version") if match else None,
                             version_source="%s package %s" % (pkg["manager"], name))
                return facts
    if installed:
        facts["detected"] = True
    release = facts["mlnx_release"]
    if release and release["kind"]:
        facts["detected"] = True
        if not facts["version"]:
            facts.update(version=release["doca_version"], version_source="/etc/mlnx-release")
    return facts


def looks_binary(text: str) -> bool:
    """True for output that is clearly not text (NUL bytes or mostly non-printable)."""
    if "\x00" in text:
        return True
    sample = text[:512]
    if not sample:
        return False
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\r\n") or 0xDC80 <= ord(ch) <= 0xDCFF)
    return bad * 10 > len(sample)


_MLNX_PACKAGES = ("mlnx-ofed-kernel-dkms", "mlnx-ofed-kernel-modules", "mlnx-ofed-kernel-utils",
                  "mlnx-ofa_kernel", "mlnx-ofa_kernel-devel", "mlnx-ofa_kernel-modules",
                  "kmod-mlnx-ofa_kernel", "doca-ofed", "doca-ofed-userspace")
_CLASSIC_PACKAGES = ("compat-rdma", "compat-rdma-devel", "kernel-ib", "kernel-ib-devel")


def decide_stack(info: Dict[str, Any], packages: List[Dict[str, Any]],
                 mlnx_release: Optional[str]) -> Dict[str, Any]:
    """``_decide`` plus ``doca`` (``doca_facts``): DOCA-OFED is MLNX OFED delivered by DOCA-Host."""
    stack = _decide(info, packages, mlnx_release)
    stack["doca"] = doca_facts(packages, mlnx_release)
    return stack


def _decide(info: Dict[str, Any], packages: List[Dict[str, Any]],
            mlnx_release: Optional[str]) -> Dict[str, Any]:
    """Installed / flavor / version / version_source from ofed_info, then packages, then /etc/mlnx-release.

    ``info`` is the ``classify_first_line`` result (plus ``source``, the command it came from). Packages
    decide only when ofed_info gave nothing: MLNX kernel packages mean ``mlnx_ofed``; ``compat-rdma``
    (classic OFED 3.x+, e.g. ``3.5-OFED.3.5``) means ``ofed``; ``kernel-ib`` means ``ofed`` unless its
    version carries ``_OFED.`` (MLNX_OFED 2.x RPMs also used that name, with releases such as
    ``2.6.32_431.el6_OFED.2.4.1.0.4``; the classic 1.x release format was not captured).
    """
    if info.get("kind"):
        return {"installed": True, "flavor": info["flavor"], "version": info["version"],
                "version_source": info.get("source") or "ofed_info -s"}
    installed = [p for p in packages if p.get("installed")]
    for name in _MLNX_PACKAGES:
        for pkg in installed:
            if pkg["name"] == name:
                return {"installed": True, "flavor": "mlnx_ofed", "version": pkg.get("version"),
                        "version_source": "%s package %s" % (pkg["manager"], name)}
    for name in _CLASSIC_PACKAGES:
        for pkg in installed:
            if pkg["name"] == name:
                mlnx = name.startswith("kernel-ib") and "_OFED." in (pkg.get("version") or "")
                flavor = "mlnx_ofed" if mlnx else "ofed"
                return {"installed": True, "flavor": flavor, "version": pkg.get("version"),
                        "version_source": "%s package %s" % (pkg["manager"], name)}
    if mlnx_release:
        return {"installed": True, "flavor": "mlnx_ofed", "version": mlnx_release,
                "version_source": "/etc/mlnx-release"}
    return {"installed": False, "flavor": None, "version": None, "version_source": None}


def clean_text(text: Optional[str], limit: int = 200) -> Optional[str]:
    """Command output made safe for JSON facts: undecodable bytes replaced, control chars escaped, capped."""
    if text is None:
        return None
    value = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    value = "".join(ch if (ch >= " " or ch == "\t") and ch != "\x7f" else "\\x%02x" % ord(ch) for ch in value)
    return value[:limit]
