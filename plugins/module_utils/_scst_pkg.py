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

import re
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


# --- Rollback: take away what the journal says was installed -------------------------------------------

_MADISON_RE = re.compile(r"^\s*(?P<name>[^\s|]+)\s*\|\s*(?P<version>[^\s|]+)\s*\|")
# dnf -q list --showduplicates NAME: "<name>.<arch>   <[epoch:]version-release>   <repo>"
_DNF_LIST_RE = re.compile(r"^(?P<name>\S+)\.(?P<arch>[A-Za-z0-9_]+)\s+(?:\d+:)?(?P<version>\S+)\s+\S+\s*$")


def available_argv(manager: str, name: str) -> List[str]:
    """List the versions of a package the configured repositories offer."""
    if manager == "dpkg":
        return ["apt-cache", "madison", name]
    return ["dnf", "-q", "list", "--showduplicates", "--available", name]


def parse_available(manager: str, name: str, stdout: str) -> List[str]:
    """Versions of ``name`` that ``apt-cache madison NAME`` (``name | version | source``) or ``dnf -q list
    --showduplicates --available NAME`` (``name.arch  [epoch:]version-release  repo``, after an
    ``Available Packages`` heading) print; [] when none."""
    versions = []  # type: List[str]
    for line in (stdout or "").splitlines():
        match = (_MADISON_RE if manager == "dpkg" else _DNF_LIST_RE).match(line)
        if match and match.group("name") == name and match.group("version") not in versions:
            versions.append(match.group("version"))
    return versions


def rollback_plan(recorded: Sequence[Mapping[str, Any]], installed: Sequence[Mapping[str, Any]],
                  available: Mapping[str, Sequence[str]]) -> List[Dict[str, Any]]:
    """One entry per journal package (name, version, previous) with ``action``:

    * ``remove``: still installed at the recorded version and there was none before;
    * ``restore``: still at the recorded version, the version it replaced (``previous``) is offered by the
      repositories (``available``: name -> versions): install that one again;
    * ``keep``: still at the recorded version, but the replaced version is not available: left installed,
      named (the package manager kept no copy of the old version);
    * ``none``: not installed any more, or at another version (already rolled back, or changed since).

    A package recorded as reinstalled at the same version (``previous`` = its own version) was there
    before: ``none``."""
    versions = {str(p["name"]): str(p.get("version")) for p in installed if p.get("installed")}
    plan = []
    for pkg in recorded:
        name, version, previous = str(pkg["name"]), str(pkg.get("version")), pkg.get("previous")
        entry = {"name": name, "version": version, "previous": previous, "action": "none", "reason": None}
        have = versions.get(name)
        if have != version:
            entry["reason"] = "not installed" if have is None else "at version %s, not %s" % (have, version)
        elif previous is None:
            entry["action"] = "remove"
        elif str(previous) == version:
            entry["reason"] = "was installed at this version before"
        elif str(previous) in (available.get(name) or []):
            entry["action"] = "restore"
        else:
            entry.update(action="keep", reason="version %s it replaced is not offered by the repositories"
                         % (previous,))
        plan.append(entry)
    return plan


def remove_argv(manager: str, names: Sequence[str]) -> List[str]:
    """Remove packages (Debian: purge, as the install scope's repository rollback does)."""
    if manager == "dpkg":
        return ["dpkg", "--purge"] + list(names)
    return ["rpm", "-e"] + list(names)


def restore_argv(manager: str, entries: Sequence[Mapping[str, Any]]) -> List[str]:
    """Install the replaced versions again from the repositories (a downgrade)."""
    if manager == "dpkg":
        return (["apt-get", "install", "-y", "--allow-downgrades", "--no-install-recommends"]
                + ["%s=%s" % (e["name"], e["previous"]) for e in entries])
    return ["dnf", "-y", "install"] + ["%s-%s" % (e["name"], e["previous"]) for e in entries]


# --- DKMS (scst-dkms) -----------------------------------------------------------------------------------

# dkms 3 status lines: "scst/3.8.0, 6.1.0-57-amd64, x86_64: installed" (also "...: built",
# "scst/3.8.0: added", and a trailing " (WARNING ...)" or "(original_module exists)").
_DKMS_RE = re.compile(r"^(?P<module>[^/\s,]+)/(?P<version>[^,:\s]+)(?:,\s*(?P<kernel>[^,:\s]+)"
                      r"(?:,\s*(?P<arch>[^,:\s]+))?)?:\s*(?P<state>[a-z-]+)")


def parse_dkms_status(stdout: str) -> List[Dict[str, Optional[str]]]:
    """The lines of ``dkms status`` as dicts (module, version, kernel, arch, state); others are skipped."""
    result = []
    for line in (stdout or "").splitlines():
        match = _DKMS_RE.match(line.strip())
        if match:
            result.append(match.groupdict())
    return result


def dkms_version(manager: str, package_version: str) -> str:
    """The DKMS module version of SCST's DKMS package: Debian's ``scst-dkms`` ships ``/usr/src/scst-<V>``
    with the package version less its Debian revision; ``scst-dkms.spec`` uses ``<version>-<release>``
    (the rpm version-release as a whole)."""
    if manager == "dpkg":
        return package_version.rsplit("-", 1)[0] if "-" in package_version else package_version
    return package_version


def dkms_state(status: Sequence[Mapping[str, Optional[str]]], module: str, version: str, kernel: str) -> str:
    """State of module/version for the kernel: installed, built, added (for no kernel yet) or absent."""
    state = "absent"
    for entry in status:
        if entry.get("module") != module or entry.get("version") != version:
            continue
        if entry.get("kernel") == kernel:
            return str(entry.get("state"))
        if entry.get("kernel") is None:
            state = str(entry.get("state"))
    return state
