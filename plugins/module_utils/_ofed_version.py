# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""OFED / MLNX_OFED version strings: parse, compare, match.

Formats handled (all seen in real data, see tests/unit/fixtures):

* classic OFED: ``1.5``, ``1.5.4.1``, ``3.5``, ``3.18-2``, ``4.8``;
* MLNX_OFED bundles: ``4.9-7.1.0.0``, ``5.0-2.1.8.0``, ``23.10-0.5.5.0`` (``YY.MM`` era);
* ``ofed_info`` forms: ``OFED-3.5:``, ``OFED-internal-5.0-2.1.8:``, ``MLNX_OFED_LINUX-5.0-2.1.8.0:``,
  ``MLNX_OFED_LINUX-5.0-2.1.8.0 (OFED-5.0-2.1.8):``;
* package versions: ``5.0-OFED.5.0.2.1.8`` (ofed-scripts), ``4.9-OFED.4.9.7.1.0.1``,
  ``24.07.OFED.24.07.0.6.0.1-1`` (mlnx-ofed-kernel), ``3.5-OFED.3.5``, ``1.5-0``, with an optional
  Debian epoch ``N:``.

A package version ``<X.Y>-OFED.<X.Y.a.b.c>`` is brought to the bundle form ``X.Y-a.b.c`` (the part after
``OFED.``; a trailing Debian revision ``-N`` is dropped) so it compares with ``ofed_info`` versions.

Ordering is field by field (numbers numerically); trailing zero fields are ignored, so ``5.0-2.1.8`` (what
``ofed_info -n`` prints from the package) equals ``5.0-2.1.8.0`` (the bundle).
"""
from __future__ import annotations

import functools
import re
from typing import List, Optional, Tuple

_PREFIXES = ("MLNX_OFED_LINUX-", "OFED-internal-", "OFED-")
_TOKEN_RE = re.compile(r"[.-]")
_EPOCH_RE = re.compile(r"^\d+:")
_DEB_REVISION_RE = re.compile(r"-\d+$")


def _split(text: str) -> Tuple[List[str], List[str]]:
    """Split ``text`` into fields and the separators between them."""
    fields = _TOKEN_RE.split(text)
    seps = _TOKEN_RE.findall(text)
    return fields, seps


def normalize(text: str) -> str:
    """Return the bare version of any supported form (see module docstring).

    >>> normalize("MLNX_OFED_LINUX-5.0-2.1.8.0 (OFED-5.0-2.1.8):")
    '5.0-2.1.8.0'
    >>> normalize("24.07.OFED.24.07.0.6.0.1-1")
    '24.07-0.6.0.1'
    """
    value = text.strip()
    # "MLNX_OFED_LINUX-5.0-2.1.8.0 (OFED-5.0-2.1.8):" -> keep the first word only
    value = value.split()[0] if value.split() else ""
    value = value.rstrip(":")
    for prefix in _PREFIXES:
        if value.startswith(prefix):
            value = value[len(prefix):]
            break
    value = _EPOCH_RE.sub("", value)
    if "OFED." in value:
        tail = value.rsplit("OFED.", 1)[1]
        tail = _DEB_REVISION_RE.sub("", tail)
        fields = tail.split(".")
        if len(fields) > 2:
            value = ".".join(fields[:2]) + "-" + ".".join(fields[2:])
        else:
            value = tail
    return value


def _key_item(field: str) -> Tuple[int, int, str]:
    if field.isdigit():
        return (1, int(field), "")
    # non-numeric fields (git hashes such as g5f67178, "rc1") sort before any number
    return (0, 0, field)


@functools.total_ordering
class OfedVersion:
    """A parsed OFED version; compare with ``==``/``<``; see :func:`matches`."""

    __slots__ = ("text", "version", "fields", "seps")

    def __init__(self, text: str) -> None:
        self.text = text
        self.version = normalize(text)
        if not self.version or not self.version[0].isdigit():
            raise ValueError("not an OFED version: %r" % (text,))
        self.fields, self.seps = _split(self.version)
        if any(field == "" for field in self.fields):
            raise ValueError("not an OFED version (empty field): %r" % (text,))

    @property
    def key(self) -> Tuple[Tuple[int, int, str], ...]:
        items = [_key_item(f) for f in self.fields]
        while items and items[-1] == (1, 0, ""):
            items.pop()
        return tuple(items)

    @property
    def release(self) -> str:
        """``X.Y`` (the first two fields): ``5.0``, ``23.10``, ``3.18``."""
        return ".".join(self.fields[:2])

    @property
    def major(self) -> Optional[int]:
        return int(self.fields[0]) if self.fields[0].isdigit() else None

    @property
    def minor(self) -> Optional[int]:
        if len(self.fields) > 1 and self.fields[1].isdigit():
            return int(self.fields[1])
        return None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = parse_version(other)
        if not isinstance(other, OfedVersion):
            return NotImplemented
        return self.key == other.key

    def __lt__(self, other: object) -> bool:
        if isinstance(other, str):
            other = parse_version(other)
        if not isinstance(other, OfedVersion):
            return NotImplemented
        return self.key < other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return "OfedVersion(%r)" % (self.text,)

    def __str__(self) -> str:
        return self.version

    def matches(self, wanted: str) -> bool:
        return matches(wanted, self.text)


def parse_version(text: Optional[str]) -> Optional[OfedVersion]:
    """Parse ``text``; ``None`` when it is not a version (never raises)."""
    if not text:
        return None
    try:
        return OfedVersion(text)
    except ValueError:
        return None


def _field_equal(a: str, b: str) -> bool:
    if a.isdigit() and b.isdigit():
        return int(a) == int(b)
    return a == b


def matches(wanted: str, actual: str) -> bool:
    """The documented match rule (docs/facts.md, "Version matching rule").

    ``wanted`` (what a user typed) matches ``actual`` when its fields, split on ``.`` and ``-``, equal the
    leading fields of ``actual`` and the separators between them agree. Both sides are normalised first,
    so ``MLNX_OFED_LINUX-5.8-3.0.7.0:`` and package versions work as ``actual``.

    >>> matches("5.8", "5.8-3.0.7.0"), matches("5.8-3", "5.8-3.0.7.0")
    (True, True)
    >>> matches("5.80", "5.8-3.0.7.0"), matches("5.8.3", "5.8-3.0.7.0")
    (False, False)
    """
    if wanted is None or actual is None:
        return False
    if str(wanted).strip() == str(actual).strip():
        return True
    want = normalize(str(wanted))
    have = normalize(str(actual))
    if not want or not have:
        return False
    w_fields, w_seps = _split(want)
    h_fields, h_seps = _split(have)
    if len(w_fields) > len(h_fields) or "" in w_fields:
        return False
    if w_seps != h_seps[: len(w_seps)]:
        return False
    return all(_field_equal(a, b) for a, b in zip(w_fields, h_fields))
