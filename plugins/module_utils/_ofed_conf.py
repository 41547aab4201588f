# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""The ``ofed.conf`` package set handed to ``install.pl -c`` / ``mlnxofedinstall -c``.

Format (domain doc 1.2): ``key=value`` lines; blank lines and lines starting with ``#`` are skipped
(OFED 1.5 parser). Three kinds of keys: package names, kernel module names (``core``, ``mlx4``...), and
special settings (``prefix``, ``build32``, ``vendor_*``, ``*_configure_options``...).

Where the set comes from (first that exists):

1. the bundle's own ``ofed-all.conf`` / ``docs/ofed.conf-example`` (classic) or ``docs/conf/ofed-*.conf``
   (MLNX_OFED), parsed with :func:`parse_conf`;
2. the release: ``kernel-ib``/``kernel-ib-devel`` before OFED 3.x, ``compat-rdma``/``compat-rdma-devel``
   from 3.x on, plus the module keys of the historical SCST recipe (iscsi-scst/README.iser_ofed).

Then, whatever the source: ``ofed-scripts=y`` (iscsi-scst's Makefile reads ``/usr/bin/ofed_info``, which
that package installs) and, for classic OFED, the kernel package and its ``-devel`` (SCST builds against
those headers) and ``srpt=n`` (SCST brings its own SRP target, ``ib_srpt``). User additions/removals are
checked against the release's known keys first: the real installer only prints ``Unsupported package: X``
for a wrong key and carries on, so a typo would silently drop a package; here it is refused up front.
"""
from __future__ import annotations

import difflib
import re
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ansible_collections.iser.ofed.plugins.module_utils._ofed_version import parse_version

FLAVORS = ("ofed", "mlnx_ofed")

# Kernel module keys per classic generation (domain doc 1.2). 1.x: the 1.5 install.pl list (ipath exists
# but is unavailable by default). 3.x: the union the doc lists for "all versions". 4.x: the 4.8 install.pl
# lists (basic + ULPs + xeon-phi). 4.17 adds its example's modules.
_MODULES_1 = ("core", "mthca", "mlx4", "mlx4_en", "cxgb3", "nes", "ehca", "ipath", "qib", "ipoib",
              "sdp", "srp", "srpt", "rds", "qlgc_vnic", "iser", "nfsrdma")
_MODULES_ALL = ("core", "mthca", "mlx4", "mlx4_en", "mlx5", "cxgb3", "cxgb4", "nes", "ehca", "ipath", "qib",
                "ocrdma", "ipoib", "sdp", "srp", "srpt", "rds", "qlgc_vnic", "iser", "nfsrdma", "cxgb3i",
                "cxgb4i")
_MODULES_4 = _MODULES_ALL + ("ibscif", "ibp-server", "ibp-debug")
_MODULES_4_17 = _MODULES_4 + ("nvme_host", "qedr", "bnxt_re", "vmw_pvrdma")
# Packages the install.pl of a generation knows although its docs example does not list them (doc 1.2).
_PACKAGES_4 = ("rdma-core", "libfabric", "fabtests", "libiwpm", "ofed-scripts", "compat-rdma",
               "compat-rdma-devel")
_PACKAGES_4_17 = _PACKAGES_4 + ("compat-rdma-firmware", "iwpmd", "srp_daemon", "ibacm")

# Special settings (doc 1.2, kind 3): exact names and name patterns, per generation.
_SPECIAL_COMMON = ("build32", "prefix", "vendor_pre_install", "vendor_post_install", "vendor_pre_uninstall",
                   "vendor_post_uninstall", "kernel_configure_options", "OFA_KERNEL_PARAMS",
                   "user_configure_options")
_SPECIAL_RE_COMMON = (re.compile(r"^.+_configure_options$"), re.compile(r"^vendor_config"))
_SPECIAL_1 = _SPECIAL_COMMON + ("upgrade_open_iscsi",)
_SPECIAL_3 = _SPECIAL_COMMON + ("bonding_force_all_os",)
_SPECIAL_RE_MVAPICH = re.compile(r"^mvapich2_conf_")

# The historical SCST recipe (iscsi-scst/README.iser_ofed, domain doc 0): kernel side only, used when the
# bundle ships no conf of its own.
_RECIPE_MODULES = ("core", "mthca", "mlx4", "mlx4_en", "ipoib")

OFED_SCRIPTS = "ofed-scripts"
SRPT = "srpt"
OFED_SCRIPTS_WHY = ("iscsi-scst's Makefile reads /usr/bin/ofed_info, which the ofed-scripts package installs, "
                    "to find the OFED flavor and version it builds against")
SRPT_WHY = "SCST brings its own SRP target (ib_srpt); OFED's srpt module would conflict with it"
_VALUES_YN = ("y", "n")


class OfedConfError(ValueError):
    """A conf file or a requested change cannot be used; the message names the key and the release."""


def parse_conf(text: Optional[str], where: str = "ofed.conf") -> "OrderedDict[str, str]":
    """Parse ``key=value`` lines in file order; blank and ``#`` lines skipped; the last value of a key wins.

    A non-blank line without ``=`` or with an empty key raises :class:`OfedConfError` naming the line.
    """
    result = OrderedDict()  # type: OrderedDict[str, str]
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise OfedConfError("%s line %d is not key=value: %r" % (where, number, raw[:200]))
        key, value = line.split("=", 1)
        key = key.strip()
        if not key or any(ch.isspace() for ch in key):
            raise OfedConfError("%s line %d has no usable key: %r" % (where, number, raw[:200]))
        result[key] = value.strip()
    return result


def generation(release: str) -> int:
    """Classic OFED generation: 1 (1.x), 3 (3.x) or 4 (4.x); :class:`OfedConfError` for anything else."""
    version = parse_version(release)
    if version is None or version.major not in (1, 3, 4):
        raise OfedConfError("%r is not a classic OFED release this collection knows (1.x, 3.x, 4.x)" % (release,))
    return version.major  # type: ignore[return-value]


def kernel_packages(release: str) -> Tuple[str, str]:
    """``(kernel package, devel package)`` of a classic release: kernel-ib* before 3.x, compat-rdma* after."""
    return ("kernel-ib", "kernel-ib-devel") if generation(release) < 3 else ("compat-rdma", "compat-rdma-devel")


def _is_4_17_or_later(release: str) -> bool:
    version = parse_version(release)
    return version is not None and (version.major or 0) >= 4 and (version.minor or 0) >= 17


def module_keys(release: str) -> Tuple[str, ...]:
    gen = generation(release)
    if gen == 1:
        return _MODULES_1
    if gen == 3:
        return _MODULES_ALL
    return _MODULES_4_17 if _is_4_17_or_later(release) else _MODULES_4


def is_special_key(key: str, flavor: str, release: str) -> bool:
    """A special setting (``prefix``, ``vendor_*``, ``*_configure_options``...) the release accepts."""
    if flavor == "mlnx_ofed":
        return key in _SPECIAL_COMMON or any(r.match(key) for r in _SPECIAL_RE_COMMON)
    gen = generation(release)
    names = _SPECIAL_1 if gen == 1 else _SPECIAL_3
    if key in names or any(r.match(key) for r in _SPECIAL_RE_COMMON):
        return True
    return gen in (1, 3) and bool(_SPECIAL_RE_MVAPICH.match(key))


def known_keys(flavor: str, release: str, bundle_keys: Iterable[str] = ()) -> List[str]:
    """Package and module keys the release knows: the bundle's own conf keys + the doc's per-release keys.

    Special settings are matched by :func:`is_special_key` (some are patterns), not listed here.
    """
    keys = OrderedDict()  # type: OrderedDict[str, None]
    for key in bundle_keys:
        keys[key] = None
    keys[OFED_SCRIPTS] = None
    if flavor == "ofed":
        for key in kernel_packages(release) + module_keys(release):
            keys[key] = None
        if generation(release) == 4:
            for key in (_PACKAGES_4_17 if _is_4_17_or_later(release) else _PACKAGES_4):
                keys[key] = None
    return list(keys)


def _split_entry(entry: Any) -> Tuple[str, Optional[str]]:
    text = str(entry).strip()
    if "=" in text:
        key, value = text.split("=", 1)
        return key.strip(), value.strip()
    return text, None


def _close_matches(key: str, known: Sequence[str], n: int = 3) -> List[str]:
    """The known keys ``key`` is most likely a misspelling of."""
    return difflib.get_close_matches(key, list(known), n=n, cutoff=0.6)


def _refuse_unknown(key: str, flavor: str, release: str, known: Sequence[str], variable: str) -> None:
    """Refuse ``key``, naming the role variable that lists it and the fix."""
    close = _close_matches(key, known)
    name = "MLNX_OFED" if flavor == "mlnx_ofed" else "OFED"
    msg = "%s: unknown ofed.conf key %r for %s %s" % (variable, key, name, release)
    msg += ("; close matches: %s" % ", ".join(close)) if close else "; no close match"
    msg += (" (the real installer would only print 'Unsupported package: %s' and skip it, so it is refused here; "
            "known keys come from the bundle's own conf files and the release's module and special keys). "
            "Correct the key or drop it from %s." % (key, variable))
    raise OfedConfError(msg)


def package_set(flavor: str, release: str, base_text: Optional[str] = None, base_source: Optional[str] = None,
                add: Sequence[Any] = (), remove: Sequence[Any] = (),
                extra_known_keys: Iterable[str] = (), manual: bool = False) -> Dict[str, Any]:
    """Compute the ordered ``ofed.conf`` mapping.

    * ``flavor``: ``ofed`` (classic, ``install.pl``) or ``mlnx_ofed`` (manual selection for ``mlnxofedinstall -c``).
    * ``release``: the bundle's version (``1.5``, ``3.5``, ``4.8``, ``5.0-2.1.8.0``).
    * ``base_text``: text of the bundle's ``ofed-all.conf`` / ``docs/ofed.conf-example`` (classic) or the chosen
      ``docs/conf/ofed-*.conf`` (MLNX_OFED); ``None``/empty: the release default (classic) or nothing (MLNX).
    * ``add``: keys to select (``key`` means ``key=y``; ``key=value`` sets a value; special settings need one).
    * ``remove``: keys to deselect (written as ``key=n``).
    * ``extra_known_keys``: more keys the bundle knows (e.g. those of its other ``docs/conf/*.conf`` files).
    * ``manual``: ``base_text`` is the user's own package selection (role variable ``ofed_install_conf``), not
      the bundle's: a forced ``ofed-scripts=y`` is then explained by a warning for classic OFED too (MLNX_OFED
      always warns, since any MLNX_OFED conf here is a manual selection); for classic OFED, its keys that
      neither ``extra_known_keys`` (the bundle's conf files) nor the release list are named in a warning (not
      refused; checked only when the bundle lists keys; not for MLNX_OFED, whose DEB selections name DEB
      packages while its docs/conf files name RPM ones).

    Returns ``{packages: [[key, value], ...], source, warnings, forced}``; raises :class:`OfedConfError` for an
    unknown key, a bad value, or a change that would break the SCST build (removing ofed-scripts or the kernel
    devel package, selecting srpt).
    """
    if flavor not in FLAVORS:
        raise OfedConfError("flavor must be one of %s, not %r" % (", ".join(FLAVORS), flavor))
    if flavor == "ofed":
        generation(release)  # refuses an unknown release early
    warnings = []  # type: List[str]
    forced = []  # type: List[str]
    base = parse_conf(base_text, base_source or "base conf") if base_text and base_text.strip() else None
    conf = OrderedDict()  # type: OrderedDict[str, str]
    if base is not None:
        conf.update(base)
        source = base_source or "bundle conf"
    elif flavor == "ofed":
        source = "release default (OFED %s)" % release
        for key in kernel_packages(release) + (OFED_SCRIPTS,) + _RECIPE_MODULES:
            conf[key] = "y"
    else:
        source = "user selection"
    bundle_keys = list(extra_known_keys)
    if flavor == "ofed" and manual and base is not None and bundle_keys:
        # The user's own selection is taken as given, but a key that neither the bundle's conf files nor the
        # release list is most likely a typo install.pl would skip. Not for MLNX_OFED: its DEB installer's
        # selection (``mlnxofedinstall -p``) names DEB packages, while docs/conf/*.conf name RPM ones.
        release_known = known_keys(flavor, release, bundle_keys)
        strays = [k for k in base if k not in release_known and not is_special_key(k, flavor, release)]
        if strays:
            hints = ""
            for key in strays:
                close = _close_matches(key, release_known, n=2)
                if close:
                    hints += "; %s: did you mean %s?" % (key, " or ".join(close))
            warnings.append("%s lists key(s) the bundle does not: %s. The installer prints 'Unsupported package: "
                            "<key>' for an unknown key and skips it, so check their spelling%s" % (
                                source, ", ".join(strays), hints))
    known = known_keys(flavor, release, bundle_keys + (list(base) if base else []))
    protected = {OFED_SCRIPTS: OFED_SCRIPTS_WHY}
    if flavor == "ofed":
        kpkg, kdevel = kernel_packages(release)
        protected[kpkg] = "it is the OFED kernel stack itself"
        protected[kdevel] = "SCST builds against its headers"

    for entry in remove:
        key, value = _split_entry(entry)
        if value is not None:
            raise OfedConfError("ofed_install_packages_remove takes key names only, not %r" % (str(entry),))
        if key not in known and not is_special_key(key, flavor, release):
            _refuse_unknown(key, flavor, release, known, "ofed_install_packages_remove")
        if key in protected:
            raise OfedConfError("%s cannot be removed from ofed.conf: %s" % (key, protected[key]))
        conf[key] = "n"
    for entry in add:
        key, value = _split_entry(entry)
        special = is_special_key(key, flavor, release)
        if key not in known and not special:
            _refuse_unknown(key, flavor, release, known, "ofed_install_packages_add")
        if key == SRPT and (value or "y") == "y":
            raise OfedConfError("srpt cannot be selected: %s" % SRPT_WHY)
        if special and not value:
            raise OfedConfError("%s is a setting, not a package: give it as %s=<value>" % (key, key))
        if not special and value is not None and value not in _VALUES_YN:
            raise OfedConfError("%s=%s: a package or module key takes y or n" % (key, value))
        conf[key] = value if value is not None else "y"

    if flavor == "ofed":
        for key in kernel_packages(release):
            if conf.get(key) != "y":
                forced.append("%s=y" % key)
                conf[key] = "y"
    if conf.get(OFED_SCRIPTS) != "y":
        forced.append("%s=y" % OFED_SCRIPTS)
        if flavor == "mlnx_ofed" or manual:
            warnings.append("ofed-scripts was added to the manual package selection (%s %s): %s" % (
                source, "did not select it" if OFED_SCRIPTS not in conf else "set ofed-scripts=%s" % conf[OFED_SCRIPTS],
                OFED_SCRIPTS_WHY))
        conf[OFED_SCRIPTS] = "y"
    if flavor == "ofed" or SRPT in conf or SRPT in known:
        if conf.get(SRPT) != "n":
            forced.append("%s=n" % SRPT)
            if conf.get(SRPT) == "y":
                warnings.append("srpt=y from %s was turned into srpt=n: %s" % (source, SRPT_WHY))
            conf[SRPT] = "n"
    return {"packages": [[k, v] for k, v in conf.items()], "source": source, "warnings": warnings,
            "forced": forced, "flavor": flavor, "release": release}


def render(result: Dict[str, Any]) -> str:
    """The ``key=value`` body (no header) of a :func:`package_set` result; the template does the same."""
    return "".join("%s=%s\n" % (k, v) for k, v in result["packages"])
