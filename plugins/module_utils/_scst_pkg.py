# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Installing the packages SCST's own package targets build (``make dpkg``: ``scst``, ``scst-dev``,
``iscsi-scst``, ``scst-dkms`` ``_<version>-1_<arch>.deb`` in ``dpkg/``; ``make scst-rpm``:
``scst-<kver>-<version>-1.<arch>.rpm`` and ``scst-<kver>-devel`` in ``$RPMTOPDIR/RPMS/<arch>/``).

Pure functions: argv builders for reading a package file's name/version/arch (``dpkg-deb -f``,
``rpm -qp --qf``) and for installing (``dpkg -i``, ``rpm -U --replacepkgs``), their output parsers, and
the decision which files to install. SCST's packages keep their version when they are rebuilt for another
OFED version, so "same version installed" is not enough: a file is installed again when its sha256 differs
from the one recorded when it was last installed (the journal keeps it). The installed state is read with
``_pkgquery`` (dpkg-query / rpm -q).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

RPM_FILE_FORMAT = "%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\n"
MANAGERS = ("dpkg", "rpm")


def manager_of(files: Sequence[str]) -> Tuple[Optional[str], Optional[str]]:
    """The package manager the files need (``.deb`` -> dpkg, ``.rpm`` -> rpm), or an error."""
    kinds = set()
    for path in files:
        if path.endswith(".deb"):
            kinds.add("dpkg")
        elif path.endswith(".rpm"):
            kinds.add("rpm")
        else:
            return None, "%s is neither a .deb nor a .rpm package file" % (path,)
    if len(kinds) != 1:
        return None, "the package files mix .deb and .rpm (or there are none): %s" % (", ".join(files) or "none",)
    return kinds.pop(), None


def fields_argv(manager: str, path: str) -> List[str]:
    """Read one package file's name, version and architecture."""
    if manager == "dpkg":
        return ["dpkg-deb", "-f", path, "Package", "Version", "Architecture"]
    return ["rpm", "-qp", "--qf", RPM_FILE_FORMAT, path]


def parse_deb_fields(stdout: str) -> Dict[str, str]:
    """``dpkg-deb -f FILE Package Version Architecture`` prints ``Field: value`` lines (continuation lines
    of multi-line fields start with a space). Raises ValueError when a field is missing."""
    fields = {}  # type: Dict[str, str]
    for line in (stdout or "").splitlines():
        if not line or line[0].isspace() or ":" not in line:
            continue
        key, value = line.split(":", 1)
        fields[key.strip().lower()] = value.strip()
    missing = [k for k in ("package", "version", "architecture") if not fields.get(k)]
    if missing:
        raise ValueError("dpkg-deb -f did not give %s: %r" % (", ".join(missing), (stdout or "")[:300]))
    return {"name": fields["package"], "version": fields["version"], "arch": fields["architecture"]}


def parse_rpm_fields(stdout: str) -> Dict[str, str]:
    """``rpm -qp --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\n' FILE``: one line, three fields."""
    lines = [ln for ln in (stdout or "").splitlines() if ln.strip()]
    parts = lines[0].split("\t") if len(lines) == 1 else []
    if len(parts) != 3 or not all(parts):
        raise ValueError("rpm -qp did not give name, version-release and arch: %r" % ((stdout or "")[:300],))
    return {"name": parts[0], "version": parts[1], "arch": parts[2]}


def select(built: Sequence[Mapping[str, Any]], names: Sequence[str]) -> Tuple[List[Dict[str, Any]], List[str]]:
    """The built packages named in ``names`` (all when empty), in the order of ``names``, and the names
    no file provides. Two files of one name: the first wins (callers pass sorted lists)."""
    by_name = {}  # type: Dict[str, Dict[str, Any]]
    for pkg in built:
        by_name.setdefault(str(pkg["name"]), dict(pkg))
    if not names:
        return [by_name[n] for n in sorted(by_name)], []
    return [by_name[n] for n in names if n in by_name], [n for n in names if n not in by_name]


def plan(selected: Sequence[Mapping[str, Any]], installed: Sequence[Mapping[str, Any]],
         recorded: Mapping[str, Any], force: bool = False) -> List[Dict[str, Any]]:
    """One entry per selected package: its file data plus ``previous`` (the installed version or None) and
    ``action``: ``install`` (not installed), ``replace`` (another version installed), ``reinstall`` (same
    version, but this file is not the one recorded as installed: a rebuild, or installed by someone else;
    or ``force``), ``none``. ``recorded`` maps a package name to the sha256 of the file last installed."""
    versions = {}  # type: Dict[str, str]
    for pkg in installed:
        if pkg.get("installed"):
            versions[str(pkg["name"])] = str(pkg.get("version"))
    result = []
    for pkg in selected:
        entry = dict(pkg)
        previous = versions.get(str(pkg["name"]))
        entry["previous"] = previous
        if previous is None:
            entry["action"] = "install"
        elif previous != pkg["version"]:
            entry["action"] = "replace"
        elif force or recorded.get(str(pkg["name"])) != pkg.get("sha256"):
            entry["action"] = "reinstall"
        else:
            entry["action"] = "none"
        result.append(entry)
    return result


def install_argv(manager: str, files: Sequence[str]) -> List[str]:
    """Install (or replace, or reinstall at the same version) package files with the package manager."""
    if manager == "dpkg":
        return ["dpkg", "-i"] + list(files)
    return ["rpm", "-U", "--replacepkgs", "--oldpackage"] + list(files)


def check_installed(planned: Sequence[Mapping[str, Any]], installed: Sequence[Mapping[str, Any]]) -> List[str]:
    """After installing: every planned package must be installed at its file's version; the problems."""
    versions = {str(p["name"]): str(p.get("version")) for p in installed if p.get("installed")}
    problems = []
    for pkg in planned:
        have = versions.get(str(pkg["name"]))
        if have != pkg["version"]:
            problems.append("%s is %s, not %s from %s" % (
                pkg["name"], "not installed" if have is None else "at version " + have, pkg["version"], pkg["file"]))
    return problems
