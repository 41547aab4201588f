# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Kernel release strings (``uname -r``): parse, compare, measure closeness.

A kernel release is split into:

* ``upstream``: the leading dotted numbers, e.g. ``(2, 6, 18)`` for ``2.6.18-164.el5``,
  ``(2, 6, 16, 60)`` for ``2.6.16.60-0.54-smp``;
* ``release``: what follows the first ``-`` with the flavour removed, e.g. ``164.el5``,
  ``0.54``, ``220.4.1.el6``;
* ``build``: the leading numeric fields of ``release``, e.g. ``(220, 4, 1)``;
* ``dist``: a distro tag found in ``release`` (``el5``, ``el7``, ``fc12``...), or ``""``;
* ``flavour``: a known kernel flavour suffix (``ELsmp``, ``smp``, ``default``, ``generic``,
  ``amd64``...), or ``""``.

Decisions (documented in the module):

* Two kernels are **the same up to flavour** when they are equal once a known flavour suffix is removed
  from both: ``2.6.9-78.EL`` and ``2.6.9-78.ELsmp``; ``3.0.76-0.9.1`` and ``3.0.76-0.9.1-default``.
  Different flavours of one build share the source tree, so the release-notes row applies.
* Two kernels are **in the same series** when they have the same ``upstream`` version, the same ``dist``
  tag and the same *build prefix*: the first numeric field of the release, or the first two when the
  first is ``0`` (SUSE numbers its builds ``0.N``). ``2.6.32-220.4.1.el6`` is in the series of
  ``2.6.32-220.el6`` (an errata kernel of RHEL 6.2); ``2.6.32-279.el6`` is not (RHEL 6.3).
"""
from __future__ import annotations

import re
from typing import List, NamedTuple, Optional, Sequence, Tuple

# Flavour suffixes, longest first. Each entry is matched at the end of the string after "." or "-".
_FLAVOURS = (
    "ELlargesmp", "ELhugemem", "ELsmp", "ELxen", "EL",
    "bigsmp", "largesmp", "default", "generic-lpae", "generic", "lowlatency", "smp", "pae", "xen",
    "debug", "trace", "ppc64le", "ppc64", "vanilla", "kdump", "azure", "aws", "gcp", "kvm", "virtual",
    "cloud-amd64", "rt-amd64", "amd64", "arm64", "powerpc64le", "64k",
    # RHEL/Fedora put the architecture at the end of ``uname -r`` (3.10.0-693.el7.x86_64).
    "x86_64", "i686", "i586", "i386", "aarch64", "s390x",
)
_FLAVOUR_RE = re.compile(r"[.-](%s)$" % "|".join(re.escape(f) for f in _FLAVOURS))
_UPSTREAM_RE = re.compile(r"^(\d+(?:\.\d+)*)")
_DIST_RE = re.compile(r"(?:^|[._-])((?:el|fc|amzn|uek|ael)\d+(?:_\d+)?)(?=$|[._-])")


class KernelVersion(NamedTuple):
    """A parsed kernel release string."""

    raw: str
    upstream: Tuple[int, ...]
    release: str
    build: Tuple[int, ...]
    dist: str
    flavour: str

    @property
    def base(self) -> str:
        """The release without its flavour suffix."""
        return strip_flavour(self.raw)


def _split_flavour(kernel: str) -> Tuple[str, str]:
    text = kernel.strip()
    suffixes: List[str] = []
    for _attempt in range(2):  # e.g. 2.6.18-164.el5.ELsmp is not a thing, but 2.6.32-220.el6.x86_64 is
        match = _FLAVOUR_RE.search(text)
        if not match or match.start() == 0:
            break
        suffixes.insert(0, match.group(1))
        text = text[:match.start()]
    return text, ".".join(suffixes)


def strip_flavour(kernel: str) -> str:
    """Remove known flavour/architecture suffixes (``.ELsmp``, ``-default``, ``.x86_64``) from ``kernel``."""
    return _split_flavour(kernel)[0]


def parse_kernel(kernel: str) -> Optional[KernelVersion]:
    """Parse ``kernel``; ``None`` when it does not start with a dotted version (``2.6``, ``5.4.0``)."""
    text = (kernel or "").strip()
    match = _UPSTREAM_RE.match(text)
    if not match or "." not in match.group(1):
        return None
    upstream = tuple(int(x) for x in match.group(1).split("."))
    stripped, flavour = _split_flavour(text)
    rest = stripped[match.end():]
    release = rest[1:] if rest.startswith("-") else rest.lstrip(".-_")
    build_match = re.match(r"^(\d+(?:\.\d+)*)", release)
    build = tuple(int(x) for x in build_match.group(1).split(".")) if build_match else ()
    dist_match = _DIST_RE.search(release)
    dist = dist_match.group(1) if dist_match else ""
    return KernelVersion(text, upstream, release, build, dist, flavour)


def same_up_to_flavour(a: str, b: str) -> bool:
    """``True`` when ``a`` and ``b`` are equal once a known flavour suffix is removed from each."""
    return a.strip() == b.strip() or strip_flavour(a) == strip_flavour(b)


def _build_prefix(build: Tuple[int, ...]) -> Tuple[int, ...]:
    if not build:
        return ()
    if build[0] == 0:
        return build[:2]
    return build[:1]


def same_series(target: str, row_kernel: str) -> bool:
    """``True`` when ``target`` is in the series of ``row_kernel`` (see the module docstring)."""
    t, r = parse_kernel(target), parse_kernel(row_kernel)
    if t is None or r is None or not r.build:
        return False
    if t.upstream != r.upstream or t.dist != r.dist:
        return False
    prefix = _build_prefix(r.build)
    return t.build[:len(prefix)] == prefix


def version_tuple(text: str) -> Optional[Tuple[int, ...]]:
    """``"2.6.30"`` → ``(2, 6, 30)``; ``None`` when ``text`` is not purely dotted numbers."""
    text = text.strip()
    if not re.match(r"^\d+(?:\.\d+)+$", text):
        return None
    return tuple(int(x) for x in text.split("."))


def in_kernelorg_list(upstream: Sequence[int], versions: Sequence[Tuple[int, ...]]) -> bool:
    """``upstream`` (e.g. ``(2, 6, 31, 5)``) belongs to one of ``versions`` (``(2, 6, 31)``, ``(3, 5)``)."""
    return any(tuple(upstream[:len(v)]) == tuple(v) for v in versions)


def in_kernelorg_range(upstream: Sequence[int], low: Tuple[int, ...], high: Tuple[int, ...]) -> bool:
    """``low <= upstream <= high``, each bound compared on as many fields as it has.

    ``2.6.30 - 3.0`` holds ``2.6.30``, ``2.6.35.4`` and ``3.0.4``, but not ``3.1`` nor ``2.6.29``.
    """
    return tuple(upstream[:len(low)]) >= tuple(low) and tuple(upstream[:len(high)]) <= tuple(high)


def closeness(target: str, candidate: str) -> Tuple[int, ...]:
    """Sort key: smaller means ``candidate`` is closer to ``target``."""
    t, c = parse_kernel(target), parse_kernel(candidate)
    if t is None or c is None:
        return (99,)
    common = 0
    for a, b in zip(t.upstream, c.upstream):
        if a != b:
            break
        common += 1
    if common < min(len(t.upstream), len(c.upstream)):
        gap = abs(t.upstream[common] - c.upstream[common])
    else:
        gap = abs(len(t.upstream) - len(c.upstream))
    # Among equally distant versions, prefer the newest below the target, then the oldest above it.
    direction = tuple(-x for x in c.upstream) if t.upstream > c.upstream else tuple(c.upstream)
    dist_differs = 0 if t.dist == c.dist else 1
    build_gap = abs((t.build[:1] or (0,))[0] - (c.build[:1] or (0,))[0])
    return (-common, gap) + direction + (dist_differs, build_gap, 0 if t.flavour == c.flavour else 1)


def sort_by_closeness(target: str, candidates: Sequence[str]) -> List[str]:
    """``candidates`` without duplicates, closest to ``target`` first (stable for ties)."""
    seen: List[str] = []
    for cand in candidates:
        if cand not in seen:
            seen.append(cand)
    return sorted(seen, key=lambda c: closeness(target, c))
