# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Classic OFED ``docs/OFED_release_notes.txt``: supported platforms (section 1.2) and kernel matching.

Section ``1.2 Supported Platforms and Operating Systems`` has two lists (OFED 1.3 to 4.17):

* ``o   CPU architectures:`` then ``- x86_64`` lines;
* ``o   Linux Operating Systems:`` then one ``- <distro name><TAB(s) or spaces><kernel>`` line per OS.
  Variants seen in the real files: a ``:`` after the name (1.3/1.4), spaces only (``CentOS5.2   2.6.18-92.el5``),
  ``(beta)`` in the name, a trailing ``*`` (minimal QA) possibly followed by a note in parentheses
  (``* (last release of OFED supporting this OS)``), glob kernels (``2.6.22-*-*``), and a ``kernel.org`` row
  that is a single version (``3.5``), a list that may wrap onto a space-indented line
  (``2.6.29, 2.6.30,`` / ``2.6.31 and 2.6.32``) or a range (``2.6.30 - 3.0``).

The ``*`` footnote (``* Minimal QA for these versions`` or, in 1.3, ``* OSes that are partially tested``)
closes the list.
"""
from __future__ import annotations

import fnmatch
import re
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.iser.ofed.plugins.module_utils import _kernel_version as kv

SECTION_TITLE = "1.2 Supported Platforms and Operating Systems"
_SECTION_RE = re.compile(r"^1\.2\s+Supported Platforms and Operating Systems\s*$", re.IGNORECASE)
_NEXT_SECTION_RE = re.compile(r"^\d+(?:\.\d+)*\.?\s+\S")
_ITEM_RE = re.compile(r"^\s*-\s+(.*?)\s*$")
_FOOTNOTE_RE = re.compile(r"^\s*\*\s+(\S.*?)\s*$")
_HEADER_VERSION_RE = re.compile(r"^\s*Version\s+(\d[\w.-]*)((?:\s+RC\d+)?)", re.IGNORECASE)
_SPLIT_RE = re.compile(r"\t+|\s{2,}")
_KERNEL_TOKEN_RE = re.compile(r"^\d+\.\d+[\w.*+~-]*$")


class ReleaseNotesError(ValueError):
    """The release notes cannot be used: the message says which part is missing."""


def parse_header_version(text: str) -> Optional[str]:
    """The release named in the header: ``Version 1.5.1`` → ``1.5.1``; ``Version 4.17 RC1 ...`` → ``4.17 RC1``."""
    for line in text.splitlines()[:12]:
        match = _HEADER_VERSION_RE.match(line)
        if match:
            return (match.group(1) + match.group(2)).strip()
    return None


def _section_lines(text: str) -> List[str]:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if _SECTION_RE.match(line):
            body: List[str] = []
            for other in lines[index + 1:]:
                if _NEXT_SECTION_RE.match(other):
                    break
                body.append(other)
            return body
    raise ReleaseNotesError("no section '%s' (expected a line starting with '1.2 Supported Platforms')" % SECTION_TITLE)


def _parse_kernelorg(spec: str) -> Dict[str, Any]:
    """``2.6.30 - 3.0`` → range; ``2.6.29, 2.6.30, 2.6.31 and 2.6.32`` → list; ``3.5`` → list of one."""
    spec = spec.strip().rstrip(",")
    range_match = re.match(r"^(\d+(?:\.\d+)+)\s+-\s+(\d+(?:\.\d+)+)$", spec)
    if range_match:
        return {"kind": "range", "low": range_match.group(1), "high": range_match.group(2),
                "versions": [range_match.group(1), range_match.group(2)]}
    parts = [p.strip() for p in re.split(r",|\band\b", spec) if p.strip()]
    versions = [p for p in parts if kv.version_tuple(p) is not None]
    if not versions or len(versions) != len(parts):
        return {"kind": "unknown", "versions": versions}
    return {"kind": "list", "versions": versions}


def _parse_row(raw_lines: List[str]) -> Dict[str, Any]:
    raw = "\n".join(raw_lines)
    first = _ITEM_RE.match(raw_lines[0])
    text = first.group(1) if first else raw_lines[0].strip()
    text = " ".join([text] + [line.strip() for line in raw_lines[1:]])
    # Notes in parentheses: "(beta)" in the name, "(last release of OFED supporting this OS)" after the kernel.
    notes = re.findall(r"\(([^)]*)\)", text)
    text = re.sub(r"\s*\([^)]*\)", " ", text)
    fields = [f.strip() for f in _SPLIT_RE.split(text) if f.strip()]
    if len(fields) >= 2:
        name, rest = fields[0], " ".join(fields[1:])
    else:
        # Single spaces only: the kernel starts at the first token that looks like a version and has a "-".
        tokens = text.split()
        cut = next((i for i, t in enumerate(tokens) if i > 0 and _KERNEL_TOKEN_RE.match(t) and "-" in t), len(tokens))
        name, rest = " ".join(tokens[:cut]), " ".join(tokens[cut:])
    name = name.rstrip(":").strip()
    tokens = rest.split()
    minimal_qa = "*" in tokens
    kernel = " ".join(t for t in tokens if t != "*").strip()
    row: Dict[str, Any] = {
        "distro_name": name,
        "kernel": kernel,
        "minimal_qa": minimal_qa,
        "raw_line": raw,
        "notes": notes,
        "beta": any(n.strip().lower() == "beta" for n in notes),
        "kernelorg": None,
    }
    if name.lower().startswith("kernel.org"):
        row["kernelorg"] = _parse_kernelorg(kernel)
    return row


def parse_release_notes(text: str) -> Dict[str, Any]:
    """Parse the release notes into ``{version, archs, rows, footnote}``.

    Raises ``ReleaseNotesError`` when section 1.2 is missing or lists no operating system.
    """
    body = _section_lines(text)
    archs: List[str] = []
    row_lines: List[List[str]] = []
    footnote: Optional[str] = None
    mode = ""
    for line in body:
        stripped = line.strip()
        lowered = stripped.lower()
        if lowered.startswith("o ") or lowered.startswith("o\t"):
            if "architecture" in lowered:
                mode = "arch"
            elif "operating system" in lowered:
                mode = "os"
            else:
                mode = ""
            continue
        if not stripped or set(stripped) == {"-"}:
            continue
        foot = _FOOTNOTE_RE.match(line)
        if foot and not _ITEM_RE.match(line):
            footnote = foot.group(1)
            mode = ""
            continue
        item = _ITEM_RE.match(line)
        if mode == "arch" and item:
            archs.append(item.group(1).split()[0])
        elif mode == "os" and item:
            row_lines.append([line.rstrip()])
        elif mode == "os" and row_lines and line[:1] in (" ", "\t"):
            row_lines[-1].append(line.rstrip())  # a wrapped kernel.org list
    rows = [_parse_row(lines) for lines in row_lines]
    if not rows:
        raise ReleaseNotesError("section '%s' lists no operating system (expected lines like "
                                "'- RedHat EL5 up4<TAB>2.6.18-164.el5')" % SECTION_TITLE)
    return {"version": parse_header_version(text), "archs": archs, "rows": rows, "footnote": footnote}


# --- distro names of the rows → MLNX-style ids (informational for classic OFED) -----------------------

_ROW_DISTRO_PATTERNS: Tuple[Tuple[str, str], ...] = (
    (r"^redhat\s+el\s*(\d+)(?:\s+up(\d+)|\.(\d+))?", "rhel"),
    (r"^centos\s*(\d+)(?:\.(\d+))?", "centos"),
    (r"^scientific linux\s*(\d+)(?:\.(\d+))?", "scientific"),
    (r"^oel\s*(\d+)(?:\s+up(\d+))?", "ol"),
    (r"^sles\s*(\d+)(?:\s+sp(\d+)|\.(\d+))?", "sles"),
    (r"^opensuse\s*(\d+)(?:\.(\d+))?", "opensuse"),
    (r"^fedora\s+(?:core|c)\s*(\d+)", "fedora"),
)


def row_distro_id(name: str) -> Optional[str]:
    """``RedHat EL5 up4`` → ``rhel5.4``; ``SLES11 SP2`` → ``sles11sp2``; ``SLES12.1`` → ``sles12sp1``; else ``None``."""
    lowered = name.lower().strip()
    for pattern, prefix in _ROW_DISTRO_PATTERNS:
        match = re.match(pattern, lowered)
        if not match:
            continue
        groups = [g for g in match.groups() if g is not None]
        major = groups[0]
        minor = groups[1] if len(groups) > 1 else None
        if prefix == "sles":
            return "sles%ssp%s" % (major, minor or "0")
        if prefix == "fedora":
            return "fc%s" % major
        return "%s%s.%s" % (prefix, major, minor or "0")
    return None


def _distro_equivalent(row_id: Optional[str], target: Optional[str]) -> bool:
    if not row_id or not target:
        return False
    # CentOS, Scientific Linux and Oracle Linux rebuild RHEL: the RHEL row covers them and vice versa.
    rebuilds = ("rhel", "centos", "scientific", "ol")
    row_family = re.sub(r"[\d.]+$", "", row_id)
    target_family = re.sub(r"[\d.]+$", "", target)
    row_ver = row_id[len(row_family):]
    target_ver = target[len(target_family):]
    if row_family in rebuilds and target_family in rebuilds:
        return row_ver == target_ver
    return row_id == target


# --- matching ---------------------------------------------------------------------------------------

def _kernelorg_match(row: Dict[str, Any], upstream: Tuple[int, ...]) -> bool:
    spec = row.get("kernelorg") or {}
    if spec.get("kind") == "range":
        low, high = kv.version_tuple(spec["low"]), kv.version_tuple(spec["high"])
        return bool(low and high and kv.in_kernelorg_range(upstream, low, high))
    versions = [v for v in (kv.version_tuple(x) for x in spec.get("versions", [])) if v]
    return kv.in_kernelorg_list(upstream, versions)


def _glob_match(pattern: str, kernel: str) -> bool:
    """``2.6.22-*-*`` (OFED 1.3, openSUSE 10.3) matches ``2.6.22-x-y`` and also ``2.6.22.5-31-default``:
    the version before the first ``-`` is compared as an upstream prefix, the rest as a glob."""
    if fnmatch.fnmatchcase(kernel, pattern):
        return True
    head, sep, tail = pattern.partition("-")
    want = kv.version_tuple(head)
    parsed = kv.parse_kernel(kernel)
    if not sep or want is None or parsed is None or tuple(parsed.upstream[:len(want)]) != want:
        return False
    upstream_text = ".".join(str(x) for x in parsed.upstream)
    rest = kernel[len(upstream_text):].lstrip("-")
    return fnmatch.fnmatchcase(rest, tail)


def match_kernel(rows: List[Dict[str, Any]], kernel: str, distro: Optional[str] = None) -> Dict[str, Any]:
    """Find the row that supports ``kernel``; ``distro`` (MLNX-style id) breaks ties between rows.

    Returns ``{kind, row, minimal_qa}`` with ``kind`` one of ``exact``, ``series``, ``kernelorg_range``,
    ``none``. ``exact`` includes "equal up to a flavour/architecture suffix"; glob rows (``2.6.22-*-*``)
    count as ``series``.
    """
    kernel = kernel.strip()
    parsed = kv.parse_kernel(kernel)

    def pick(candidates: List[Dict[str, Any]]) -> Dict[str, Any]:
        for row in candidates:
            if distro and row_distro_id(row["distro_name"]) == distro:
                return row
        for row in candidates:
            if _distro_equivalent(row_distro_id(row["distro_name"]), distro):
                return row
        return candidates[0]

    distro_rows = [r for r in rows if not r.get("kernelorg")]
    exact = [r for r in distro_rows if r["kernel"] == kernel]
    exact = exact or [r for r in distro_rows if kv.same_up_to_flavour(r["kernel"], kernel)]
    if exact:
        row = pick(exact)
        return {"kind": "exact", "row": row, "minimal_qa": row["minimal_qa"]}
    series = [r for r in distro_rows if "*" not in r["kernel"] and kv.same_series(kernel, r["kernel"])]
    series += [r for r in distro_rows if "*" in r["kernel"] and _glob_match(r["kernel"], kernel)]
    if series:
        row = pick(series)
        return {"kind": "series", "row": row, "minimal_qa": row["minimal_qa"]}
    if parsed is not None:
        for row in rows:
            if row.get("kernelorg") and _kernelorg_match(row, parsed.upstream):
                return {"kind": "kernelorg_range", "row": row, "minimal_qa": row["minimal_qa"]}
    return {"kind": "none", "row": None, "minimal_qa": False}


def _row_label(row: Dict[str, Any]) -> str:
    spec = row.get("kernelorg")
    if not spec:
        return row["kernel"]
    return "kernel.org %s" % row["kernel"]


def supported_kernels(rows: List[Dict[str, Any]]) -> List[str]:
    """Every kernel the rows name; a kernel.org row is one entry (``kernel.org 2.6.30 - 3.0``)."""
    out: List[str] = []
    for row in rows:
        label = _row_label(row)
        if label not in out:
            out.append(label)
    return out


def nearest_kernels(rows: List[Dict[str, Any]], kernel: str, limit: int = 5) -> List[str]:
    """The supported kernels closest to ``kernel``, closest first (a kernel.org row by its closest version)."""
    keyed: Dict[str, Tuple[int, ...]] = {}
    for row in rows:
        label = _row_label(row)
        probes = (row.get("kernelorg") or {}).get("versions") or [row["kernel"]]
        key = min(kv.closeness(kernel, p) for p in probes)
        if label not in keyed or key < keyed[label]:
            keyed[label] = key
    return sorted(keyed, key=lambda label: keyed[label])[:limit]
