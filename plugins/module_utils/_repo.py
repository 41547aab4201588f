# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Repository mode (DOCA-OFED / MLNX_OFED from apt or dnf repositories): pure rendering and parsing.

* ``apt_sources`` / ``apt_preferences``: the deb822 ``.sources`` file (``Signed-By``) and the apt
  preferences pin that makes the vendor's packages beat the distribution's of the same name.
* ``dnf_repo``: the ``.repo`` file (``gpgcheck``, ``repo_gpgcheck``, ``gpgkey``, ``priority``).
* ``apt_isolated_options``: ``-o`` options that point apt at a throw-away directory (sources, pins,
  lists, cache), so a dry run never touches the host's own apt state.
* ``parse_apt_simulate``: ``apt-get -s install`` output (``Inst``/``Conf``/``Remv`` lines, ``E:`` errors).
* ``parse_dnf_assumeno``: ``dnf --assumeno install`` output (transaction table, ``Error:`` lines).
* ``parse_dkms_status`` / ``dkms_verdict``: ``dkms status`` in the dkms 2.x format
  (``mod, ver, kver, arch: state``) and the 3.x format (``mod/ver, kver, arch: state``, ``mod/ver: added``).
* ``ofed_release_of_scripts``: the OFED release (``24.10-1.1.4``) from an ``ofed-scripts`` version
  (``24.10.OFED.24.10.1.1.4-1``, ``5.0-OFED.5.0.2.1.8``).
* ``package_plan``: the packages to install: the chosen metapackages plus ``ofed-scripts`` and the
  devel/DKMS package the SCST build needs.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

# What the SCST build needs besides the metapackages, per package family: ofed-scripts (iscsi-scst's
# Makefile reads /usr/bin/ofed_info) and the package with /usr/src/ofa_kernel (headers, Module.symvers).
ALWAYS = {
    "apt": ["ofed-scripts", "mlnx-ofed-kernel-dkms"],
    "dnf": ["ofed-scripts", "mlnx-ofa_kernel-devel"],
}
# The DKMS module the kernel package registers (dkms.conf PACKAGE_NAME).
DKMS_MODULE = "mlnx-ofed-kernel"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._-]*$")
_URL_RE = re.compile(r"^(https?|file|ftp)://?\S+$")


class RepoError(ValueError):
    """Bad input for a repository file; the message names the problem."""


def _check_url(url: str) -> str:
    url = (url or "").strip()
    if not _URL_RE.match(url):
        raise RepoError(f"'{url}' is not a repository URL (http://, https://, ftp:// or file:///path)")
    return url


def _flat(suite: str) -> bool:
    return suite.endswith("/")


def apt_sources(url: str, signed_by: str, suite: str = "./", components: Optional[List[str]] = None,
                architectures: Optional[List[str]] = None) -> str:
    """A deb822 ``.sources`` stanza. A flat repository (suite ending in ``/``, DOCA's ``./``) has no
    components; a dists/ repository needs at least one."""
    url = _check_url(url)
    components = [c for c in (components or []) if c]
    if not suite:
        raise RepoError("the apt suite is empty: give ./ for a flat repository (DOCA) or a suite name")
    if _flat(suite) and components:
        raise RepoError(f"suite '{suite}' is a flat repository path: it takes no components (got {components})")
    if not _flat(suite) and not components:
        raise RepoError(f"suite '{suite}' needs components (e.g. main)")
    if not signed_by.startswith("/"):
        raise RepoError(f"Signed-By must be an absolute key file path, not '{signed_by}'")
    lines = ["Types: deb", f"URIs: {url}", f"Suites: {suite}"]
    if components:
        lines.append("Components: " + " ".join(components))
    if architectures:
        lines.append("Architectures: " + " ".join(architectures))
    lines.append(f"Signed-By: {signed_by}")
    return "# Managed by iser.ofed (ofed_install, repository mode)\n" + "\n".join(lines) + "\n"


def apt_preferences(pin_release: str, priority: int, packages: str = "*") -> str:
    """The pin: ``Package: *``, ``Pin: release <pin_release>`` (e.g. ``l=DOCA-HOST*``), ``Pin-Priority``.

    A priority above 500 (the distribution's default) makes the pinned release win even against a higher
    version; above 1000 it would also downgrade installed packages on upgrades, which is refused here."""
    if not re.match(r"^[a-z]=\S", pin_release or ""):
        raise RepoError(f"pin '{pin_release}' is not an apt release pin such as l=DOCA-HOST* or o=NVIDIA")
    if not 500 < int(priority) <= 1000:
        raise RepoError(f"pin priority {priority} must be above 500 (the distribution's) and at most 1000")
    return ("# Managed by iser.ofed (ofed_install, repository mode): the vendor's RDMA packages win over the\n"
            "# distribution's of the same name (rdma-core, libibverbs1 ...).\n"
            f"Package: {packages}\nPin: release {pin_release}\nPin-Priority: {int(priority)}\n")


def dnf_repo(repo_id: str, url: str, gpgkey: str, priority: int, name: str = "",
             repo_gpgcheck: bool = False) -> str:
    """A ``.repo`` section with package signature checks on (``repo_gpgcheck``: the metadata's too, for
    repositories that sign ``repomd.xml``)."""
    if not _NAME_RE.match(repo_id or ""):
        raise RepoError(f"repository id '{repo_id}' must be letters, digits and . _ - +")
    url = _check_url(url)
    if not re.match(r"^(https?|file|ftp)://", gpgkey or ""):
        raise RepoError(f"gpgkey '{gpgkey}' must be a URL (file:///etc/pki/rpm-gpg/... for a local file)")
    if not 1 <= int(priority) <= 99:
        raise RepoError(f"dnf priority {priority} must be 1..99 (lower wins; the distribution's is 99)")
    return ("# Managed by iser.ofed (ofed_install, repository mode)\n"
            f"[{repo_id}]\nname={name or repo_id}\nbaseurl={url}\nenabled=1\ngpgcheck=1\n"
            f"repo_gpgcheck={1 if repo_gpgcheck else 0}\n"
            f"gpgkey={gpgkey}\npriority={int(priority)}\n")


def apt_isolated_options(tmpdir: str, host_sources: bool) -> List[str]:
    """``-o`` options for apt-get that keep sources, pins, lists and caches in ``tmpdir``.

    ``host_sources`` false: only the repository under test (``apt-get update`` of it alone, no network to
    the host's mirrors); true: the host's ``sources.list`` too (the dry-run install resolves the
    dependencies the distribution provides, from the host's existing lists copied into ``tmpdir``)."""
    opts = {
        "Dir::Etc::SourceList": "/etc/apt/sources.list" if host_sources else "/dev/null",
        "Dir::Etc::SourceParts": f"{tmpdir}/sources.list.d",
        "Dir::Etc::PreferencesParts": f"{tmpdir}/preferences.d",
        "Dir::State::Lists": f"{tmpdir}/lists",
        "Dir::Cache": f"{tmpdir}/cache",
    }
    argv: List[str] = []
    for key, value in opts.items():
        argv += ["-o", f"{key}={value}"]
    return argv


_INST_RE = re.compile(r"^Inst (\S+) (?:\[(\S+)\] )?\((\S+) (.*?) \[(\S+)\]\)(?: \[.*\])?$")
_REMV_RE = re.compile(r"^Remv (\S+)(?: \[(\S+)\])?")


def parse_apt_simulate(stdout: str, stderr: str = "", rc: int = 0) -> Dict[str, Any]:
    """``apt-get -s install`` → ``{ok, install: {name: {version, old, release, arch}}, remove: [..],
    errors: [..], problems: [..]}``. ``problems``: the unmet-dependency lines apt prints before its E:."""
    install: Dict[str, Dict[str, Any]] = {}
    remove: List[str] = []
    problems: List[str] = []
    in_unmet = False
    for line in (stdout or "").splitlines():
        match = _INST_RE.match(line)
        if match:
            name, old, version, release, arch = match.groups()
            install[name] = {"version": version, "old": old, "release": release, "arch": arch}
            continue
        match = _REMV_RE.match(line)
        if match:
            remove.append(match.group(1))
            continue
        if line.startswith("The following packages have unmet dependencies"):
            in_unmet = True
            continue
        if in_unmet:
            if line.strip() and not line.startswith("E: "):
                problems.append(line.strip())
            else:
                in_unmet = False
    errors = [line[3:].strip() for line in ((stderr or "") + "\n" + (stdout or "")).splitlines()
              if line.startswith("E: ")]
    return {"ok": rc == 0 and not errors, "install": install, "remove": remove, "errors": errors,
            "problems": problems}


def apt_update_errors(stderr: str) -> List[str]:
    """The ``E:`` and ``W: GPG error`` lines of ``apt-get update`` (a wrong key is a W: then an E:)."""
    return [line.strip() for line in (stderr or "").splitlines()
            if line.startswith("E: ") or line.startswith("W: GPG error")]


_DNF_SECTION_RE = re.compile(r"^(Installing|Upgrading|Downgrading|Reinstalling|Removing)"
                             r"( dependencies| weak dependencies| for dependencies)?:$")
_DNF_ROW_RE = re.compile(r"^ (\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+\d[\d.]* [kMG]?\b")


def parse_dnf_assumeno(stdout: str, stderr: str = "", rc: int = 1) -> Dict[str, Any]:
    """``dnf --assumeno install`` → the same shape as ``parse_apt_simulate``.

    dnf exits 1 after ``Operation aborted.`` even when the transaction resolved: success is a table and
    no ``Error:`` line."""
    install: Dict[str, Dict[str, Any]] = {}
    remove: List[str] = []
    section = ""
    for line in (stdout or "").splitlines():
        head = _DNF_SECTION_RE.match(line)
        if head:
            section = head.group(1)
            continue
        if not line.startswith(" "):
            section = "" if line.strip() and not line.startswith("=") else section
            continue
        row = _DNF_ROW_RE.match(line)
        if row and section:
            name, arch, version, repo = row.groups()
            if section == "Removing":
                remove.append(name)
            else:
                install[name] = {"version": version, "old": None, "release": repo, "arch": arch}
    text = (stderr or "") + "\n" + (stdout or "")
    errors = [line.split(":", 1)[1].strip() or "the transaction cannot be resolved (problems below)"
              for line in text.splitlines() if line.startswith("Error:")]
    problems = [line.strip() for line in text.splitlines() if line.startswith(" Problem") or
                line.startswith("  - ")]
    resolved = bool(install) and not errors and ("Operation aborted." in text or rc == 0)
    return {"ok": resolved, "install": install, "remove": remove, "errors": errors, "problems": problems}


_DKMS_NEW_RE = re.compile(r"^([^/,\s]+)/([^,\s]+)(?:, (\S+), (\S+))?: (\S+)(?: \((.*)\))?$")
_DKMS_OLD_RE = re.compile(r"^([^/,\s]+), ([^,\s]+)(?:, (\S+), (\S+))?: (\S+)(?: \((.*)\))?$")


def parse_dkms_status(stdout: str) -> List[Dict[str, Any]]:
    """``dkms status`` lines → ``[{module, version, kernel, arch, state, note}]`` (kernel/arch ``None`` for
    ``added``). Lines that are neither format (warnings) are skipped."""
    rows: List[Dict[str, Any]] = []
    for line in (stdout or "").splitlines():
        line = line.strip()
        match = _DKMS_NEW_RE.match(line) or _DKMS_OLD_RE.match(line)
        if not match:
            continue
        module, version, kernel, arch, state, note = match.groups()
        rows.append({"module": module, "version": version, "kernel": kernel, "arch": arch,
                     "state": state.rstrip(","), "note": note})
    return rows


def dkms_verdict(rows: List[Dict[str, Any]], module: str, kernel: str) -> Dict[str, Any]:
    """Is ``module`` installed by DKMS for ``kernel``? ``{ok, state, version, reason, make_log}``;
    ``make_log`` is where DKMS keeps the build log of the version that is not installed."""
    mine = [r for r in rows if r["module"] == module]
    for_kernel = [r for r in mine if r["kernel"] == kernel]
    installed = [r for r in for_kernel if r["state"] == "installed"]
    if installed:
        row = installed[-1]
        note = f" ({row['note']})" if row["note"] else ""
        return {"ok": True, "state": "installed", "version": row["version"], "make_log": None,
                "reason": f"dkms: {module}/{row['version']} installed for {kernel}{note}"}
    version = (for_kernel or mine or [{"version": None}])[-1]["version"]
    make_log = f"/var/lib/dkms/{module}/{version}/build/make.log" if version else None
    if for_kernel:
        state = for_kernel[-1]["state"]
        reason = f"dkms: {module}/{version} is '{state}' for {kernel}, not installed"
    elif mine:
        state = "missing"
        seen = ", ".join(sorted({f"{r['kernel']}: {r['state']}" if r["kernel"] else r["state"] for r in mine}))
        reason = f"dkms: {module}/{version} has no build for {kernel} ({seen})"
    else:
        state = "unknown"
        reason = f"dkms does not know {module}: the DKMS package did not register it (dkms add)"
    return {"ok": False, "state": state, "version": version, "make_log": make_log, "reason": reason}


_SCRIPTS_RE = re.compile(r"OFED\.(\d+\.\d+)\.(\d+(?:\.\d+)*?)(?:-\d+)?$")


def ofed_release_of_scripts(version: str) -> str:
    """``24.10.OFED.24.10.1.1.4-1`` → ``24.10-1.1.4``; ``5.0-OFED.5.0.2.1.8`` → ``5.0-2.1.8``; else ``""``."""
    match = _SCRIPTS_RE.search((version or "").strip())
    return f"{match.group(1)}-{match.group(2)}" if match else ""


def package_plan(packages: List[str], family: str) -> List[str]:
    """The metapackages asked for, then ``ofed-scripts`` and the devel/DKMS package, without duplicates."""
    if family not in ALWAYS:
        raise RepoError(f"repository mode supports apt and dnf hosts, not package manager '{family}'")
    out: List[str] = []
    for name in list(packages or []) + ALWAYS[family]:
        name = str(name).strip()
        if not _NAME_RE.match(name):
            raise RepoError(f"'{name}' is not a package name")
        if name not in out:
            out.append(name)
    return out


def kernel_hook(module: str = DKMS_MODULE) -> str:
    """An ``/etc/kernel/postinst.d`` script: build the DKMS modules for a kernel as it is installed."""
    return ("#!/bin/sh\n"
            "# Managed by iser.ofed (ofed_install_kernel_hook): build the OFED DKMS modules for a newly\n"
            f"# installed kernel ($1) before it is booted, so it never boots without {module}.\n"
            "set -e\n"
            "[ -n \"$1\" ] || exit 0\n"
            "command -v dkms >/dev/null 2>&1 || exit 0\n"
            "[ -d \"/lib/modules/$1/build\" ] || { echo \"iser.ofed: no headers for $1, \"\\\n"
            f"\"{module} not built\" >&2; exit 0; }}\n"
            "exec dkms autoinstall -k \"$1\"\n")


def parse_dpkg_rows(stdout: str) -> Dict[str, Dict[str, str]]:
    """``dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'`` → ``{name: {version, status}}``."""
    rows: Dict[str, Dict[str, str]] = {}
    for line in (stdout or "").splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[0]:
            rows[fields[0]] = {"version": fields[1], "status": fields[2].strip()}
    return rows


def packages_to_install(wanted: Dict[str, str], installed: Dict[str, Dict[str, str]]) -> Dict[str, str]:
    """The ``{name: version}`` of ``wanted`` that are not installed (``ii``) at exactly that version."""
    todo: Dict[str, str] = {}
    for name, version in (wanted or {}).items():
        row = installed.get(name) or {}
        if not (row.get("status", "").startswith("ii") and row.get("version") == version):
            todo[name] = version
    return todo


def parse_apt_madison(stdout: str) -> Dict[str, List[Dict[str, str]]]:
    """``apt-cache madison <names>`` → ``{name: [{version, source}]}``: the versions the host's apt sources
    offer (the dpkg status alone is not a source: an installed-only version is not listed)."""
    offers: Dict[str, List[Dict[str, str]]] = {}
    for line in (stdout or "").splitlines():
        fields = [field.strip() for field in line.split("|")]
        if len(fields) != 3 or not fields[0] or not fields[1]:
            continue
        offers.setdefault(fields[0], []).append({"version": fields[1], "source": fields[2]})
    return offers


def restore_plan(replaced: Dict[str, str], installed: Dict[str, Dict[str, str]],
                 offers: Dict[str, List[Dict[str, str]]]) -> Dict[str, Any]:
    """What rollback can put back of the packages a repository install replaced (``{name: old version}``,
    from the journal), given ``dpkg-query`` rows (``parse_dpkg_rows``) and the host's offers
    (``parse_apt_madison``, read after the repository was removed).

    ``{install: {name: version}, restored: [names already at that version], not_restored: {name: reason}}``;
    a package that is not installed any more is put back too (the purge may have removed it)."""
    plan: Dict[str, Any] = {"install": {}, "restored": [], "not_restored": {}}
    for name, version in sorted((replaced or {}).items()):
        row = installed.get(name) or {}
        if row.get("status", "").startswith("ii") and row.get("version") == version:
            plan["restored"].append(name)
            continue
        if any(offer["version"] == version for offer in (offers or {}).get(name, [])):
            plan["install"][name] = version
            continue
        have = ", ".join(sorted({offer["version"] for offer in (offers or {}).get(name, [])})) or "none"
        now = f"{row['version']} is installed" if row.get("status", "").startswith("ii") else "it is not installed"
        plan["not_restored"][name] = (
            f"{name} {version} was replaced by the repository install, but none of the host's apt sources offers "
            f"that version any more (they offer: {have}; {now}): add a source that carries it (the distribution's "
            f"archive or snapshot.debian.org) and run apt-get install --allow-downgrades {name}={version}, or keep "
            "the installed version")
    return plan
