# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Running the OFED installers: argv, exit codes, logs, the no-op decision (pure functions).

Facts come from the domain doc (``../shared/domain/ofed-installers.md``):

* classic ``install.pl`` options per release (1.3): 1.x has ``-k``/``-s|--kernel-sources`` and no
  ``--builddir``; 3.5 adds ``--builddir`` and ``--umad-dev-rw``; 4.8 has ``-s|--linux <src>`` and
  ``-o|--linux-obj <build>`` instead of ``--kernel-sources`` plus ``--with-xeon-phi``, ``--without-<pkg>``,
  ``--disable-<pkg>``. No release has ``--tmpdir``. An unknown flag prints usage and exits 1.
* ``mlnxofedinstall`` options (2.2); unknown ones exit 22. ``-q`` suppresses the ``Do you want to
  continue?[y/N]`` prompt.
* exit codes (1.4, 2.3) and log locations (1.5, 2.4).
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ansible_collections.iser.ofed.plugins.module_utils._ofed_version import OfedVersion, parse_version

CLASSIC_INSTALLER = "./install.pl"
MLNX_INSTALLER = "./mlnxofedinstall"


class InstallerError(ValueError):
    """A requested option the installer of that release lacks, or a bad combination: nothing was run."""


# ---------------------------------------------------------------------------------------------- classic
# option -> takes a value. Options the module sets itself are listed in _CLASSIC_MANAGED.
_CLASSIC_1 = {
    "-c": True, "--config": True, "-n": True, "--net": True, "-l": True, "--prefix": True,
    "-k": True, "--kernel": True, "-s": True, "--kernel-sources": True, "-p": False,
    "--print-available": False, "--force": False, "--all": False, "--hpc": False, "--basic": False,
    "--build32": False, "--without-depcheck": False, "-q": False, "-v": False, "-vv": False, "-vvv": False,
}
_CLASSIC_3 = dict(_CLASSIC_1, **{"--umad-dev-rw": False, "--builddir": True})
_CLASSIC_4 = dict(_CLASSIC_3, **{"-s": True, "--linux": True, "-o": True, "--linux-obj": True,
                                 "--with-xeon-phi": False})
del _CLASSIC_4["--kernel-sources"]
_CLASSIC_PREFIX_4 = ("--without-", "--disable-")
_CLASSIC_MANAGED = ("-c", "--config", "-k", "--kernel", "-s", "--kernel-sources", "--linux", "-o",
                    "--linux-obj", "--builddir")
# not allowed next to -c, or not an install at all
_CLASSIC_REFUSED = {
    "--all": "'-c' option can't be used with '--all|--hpc|--basic' (install.pl exits 1)",
    "--hpc": "'-c' option can't be used with '--all|--hpc|--basic' (install.pl exits 1)",
    "--basic": "'-c' option can't be used with '--all|--hpc|--basic' (install.pl exits 1)",
    "-p": "--print-available only writes a conf file and installs nothing",
    "--print-available": "--print-available only writes a conf file and installs nothing",
}


def classic_generation(release: str) -> Tuple[int, OfedVersion]:
    version = parse_version(release)
    if version is None or version.major not in (1, 3, 4):
        raise InstallerError("%r is not a classic OFED release this module knows (1.x, 3.x, 4.x)" % (release,))
    return version.major, version  # type: ignore[return-value]


def classic_options(release: str) -> Dict[str, bool]:
    """The options ``install.pl`` of ``release`` accepts (option -> takes a value)."""
    gen, version = classic_generation(release)
    if gen == 1:
        return dict(_CLASSIC_1)
    if gen == 3:
        options = dict(_CLASSIC_3)
        if version < "3.5":  # --builddir and --umad-dev-rw are documented from 3.5 on
            del options["--builddir"]
            del options["--umad-dev-rw"]
        return options
    return dict(_CLASSIC_4)


def _check_extra(extra_args: Sequence[str], accepted: Dict[str, bool], prefixes: Sequence[str],
                 managed: Sequence[str], refused: Dict[str, str], who: str) -> List[str]:
    """Validate ``extra_args`` option by option; values follow their option as the next word."""
    args = [str(a) for a in extra_args]
    index = 0
    while index < len(args):
        arg = args[index]
        if "=" in arg and arg.startswith("-"):
            raise InstallerError("%s: %r: give the value as the next word (the installer parses options word by "
                                 "word, %s)" % (who, arg, arg.replace("=", " ", 1)))
        if not arg.startswith("-"):
            raise InstallerError("%s: %r is not an option (values must follow an option that takes one)"
                                 % (who, arg))
        if arg in managed:
            raise InstallerError("%s: %s is set by the module from its own options; do not pass it in "
                                 "extra_args" % (who, arg))
        if arg in refused:
            raise InstallerError("%s: %s refused: %s" % (who, arg, refused[arg]))
        takes_value = accepted.get(arg)
        if takes_value is None and not any(arg.startswith(p) and len(arg) > len(p) for p in prefixes):
            raise InstallerError("%s does not accept %s (the installer would print its usage and fail)"
                                 % (who, arg))
        if takes_value:
            if index + 1 >= len(args) or args[index + 1].startswith("-"):
                raise InstallerError("%s: %s needs a value" % (who, arg))
            index += 1
        index += 1
    return args


def classic_argv(release: str, conf: str, kernel: Optional[str] = None, kernel_sources: Optional[str] = None,
                 builddir: Optional[str] = None, tmpdir: Optional[str] = None,
                 extra_args: Sequence[str] = ()) -> List[str]:
    """``./install.pl -c <conf>`` plus only what ``release`` accepts (run it with the bundle as cwd)."""
    gen, version = classic_generation(release)
    who = "install.pl of OFED %s" % release
    if not conf:
        raise InstallerError("%s needs a conf file (-c): without one it asks questions interactively" % who)
    if tmpdir:
        raise InstallerError("%s has no --tmpdir option (no classic install.pl has one)%s" % (
            who, "; use builddir (--builddir) for the RPM build tree" if gen >= 3 and version >= "3.5" else ""))
    options = classic_options(release)
    argv = [CLASSIC_INSTALLER, "-c", conf]
    if kernel_sources and not kernel:
        raise InstallerError("%s: kernel_sources needs kernel (the target kernel release)" % who)
    if kernel:
        argv += ["-k", kernel]
        build = kernel_sources or "/lib/modules/%s/build" % kernel
        # 1.x/3.x: -s|--kernel-sources <build dir>; 4.x: -o|--linux-obj <build dir> (-s there is --linux <src>)
        argv += ["-o", build] if gen == 4 else ["-s", build]
    if builddir:
        if "--builddir" not in options:
            raise InstallerError("%s has no --builddir option (added in OFED 3.5)" % who)
        argv += ["--builddir", builddir]
    refused = dict(_CLASSIC_REFUSED)
    if gen == 4:
        refused["--hpc"] = "OFED 4.x install.pl accepts --hpc but then fails 'Unsupported installation option: hpc'"
    argv += _check_extra(extra_args, options, _CLASSIC_PREFIX_4 if gen == 4 else (), _CLASSIC_MANAGED, refused,
                         who)
    return argv


# ---------------------------------------------------------------------------------------------- MLNX_OFED
_MLNX_OPTIONS = {
    "--force": False, "--tmpdir": True, "-k": True, "--kernel": True, "-s": True, "--kernel-sources": True,
    "--distro": True, "--skip-distro-check": False, "--without-depcheck": False,
    "--add-kernel-support": False, "--add-kernel-support-build-only": False, "--auto-add-kernel-support": False,
    "--skip-repo": False, "--dkms": False, "--force-dkms": False, "--without-dkms": False,
    "--umad-dev-rw": False, "--umad-dev-na": False, "--enable-mlnx_tune": False, "--enable-affinity": False,
    "--disable-affinity": False, "--enable-opensm": False, "--enable-sriov": False, "--post-start-delay": True,
    "--package-install-options": True, "-n": True, "--net": True,
    "--without-fw-update": False, "--force-fw-update": False, "--fw-dir": True, "--fw-image-dir": True,
    "--skip-unsupported-devices-check": False,
    "-c": True, "--config": True, "--all": False, "--bluefield": False, "--hpc": False, "--basic": False,
    "--msm": False, "--dpdk": False, "--ovs-dpdk": False, "--vma": False, "--vma-eth": False, "--vma-vpi": False,
    "--guest": False, "--hypervisor": False, "--eth-only": False, "--kernel-only": False,
    "--user-space-only": False, "--with-nvmf": False, "--with-nfsrdma": False, "--without-nfsrdma": False,
    "--with-libdisni": False, "--with-vma": False, "--mlnx-libs": False, "--upstream-libs": False,
    "--with-debug-symbols": False, "--without-debug-symbols": False,
    "-v": False, "-vv": False, "-vvv": False, "-q": False,
}
_MLNX_PREFIXES = ("--with-", "--without-", "--pre-install-", "--post-install-")
_MLNX_MANAGED = ("-q", "--force", "--tmpdir", "-k", "--kernel", "-s", "--kernel-sources", "-c", "--config",
                 "--add-kernel-support", "--without-fw-update")
_MLNX_REFUSED = {
    "--fw-update-only": "it updates firmware only and installs nothing",
    "--check-deps-only": "it checks dependencies only and installs nothing",
    "-p": "--print-available writes a conf file and installs nothing",
    "--print-available": "--print-available writes a conf file and installs nothing",
    "-h": "--help installs nothing", "--help": "--help installs nothing",
    "--add-kernel-support-build-only": "it builds a bundle and installs nothing",
    "--without-ofed-scripts": "ofed-scripts is required: iscsi-scst's Makefile reads /usr/bin/ofed_info",
    "--user-space-only": "SCST needs the kernel modules and their headers",
}
_MLNX_PRE_POST_VALUE = re.compile(r"^--(pre|post)-install-")


def mlnx_argv(kernel: Optional[str] = None, running_kernel: Optional[str] = None,
              kernel_sources: Optional[str] = None, tmpdir: Optional[str] = None, conf: Optional[str] = None,
              firmware_update: bool = False, allow_package_removal: bool = False,
              add_kernel_support: bool = False, kernel_supported: Optional[bool] = None,
              extra_args: Sequence[str] = ()) -> List[str]:
    """``./mlnxofedinstall -q ...`` (run with the bundle as cwd and stdin closed).

    ``kernel_supported``: whether the bundle has driver packages for the target kernel (``None``: unknown,
    let the installer decide). ``False`` needs ``add_kernel_support`` (else refused here: the installer would
    fail with exit 1 after a long run) and adds ``--add-kernel-support``.
    """
    who = "mlnxofedinstall"
    argv = [MLNX_INSTALLER, "-q"]
    if not firmware_update:
        argv.append("--without-fw-update")
    if allow_package_removal:
        argv.append("--force")
    if kernel_supported is False:
        if not add_kernel_support:
            raise InstallerError(
                "MLNX_OFED_LINUX has no driver packages for kernel %s; allow add_kernel_support to rebuild the "
                "bundle for it (--add-kernel-support, needs the kernel headers and 10-40 minutes) or install a "
                "kernel the bundle supports" % (kernel or running_kernel or "(target)"))
        argv.append("--add-kernel-support")
    if kernel_sources and not kernel:
        raise InstallerError("%s: kernel_sources needs kernel (the target kernel release)" % who)
    if kernel and kernel != running_kernel:
        argv += ["--kernel", kernel, "--kernel-sources", kernel_sources or "/lib/modules/%s/build" % kernel]
    elif kernel_sources:
        argv += ["--kernel-sources", kernel_sources]
    if tmpdir:
        argv += ["--tmpdir", tmpdir]
    if conf:
        argv += ["-c", conf]
    refused = dict(_MLNX_REFUSED)
    if not firmware_update:
        refused["--force-fw-update"] = "firmware updates are opt-in: set firmware_update to true"
    if conf:
        for opt in ("--all", "--bluefield", "--hpc", "--basic", "--msm", "--dpdk", "--ovs-dpdk", "--vma",
                    "--vma-eth", "--vma-vpi", "--guest", "--hypervisor", "--eth-only"):
            refused[opt] = "a package set option cannot be combined with -c <conf> (manual selection)"
    args = [str(a) for a in extra_args]
    accepted = dict(_MLNX_OPTIONS)
    for arg in args:  # --pre-install-<pkg> / --post-install-<pkg> take a script path
        if _MLNX_PRE_POST_VALUE.match(arg):
            accepted[arg] = True
    argv += _check_extra(args, accepted, _MLNX_PREFIXES, _MLNX_MANAGED, refused, who)
    return argv


# ---------------------------------------------------------------------------------------------- exit codes
EXIT_CODES = {
    "mlnx_ofed": {
        0: ("installation succeeded", "restart the driver (/etc/init.d/openibd restart) or reboot if firmware "
            "was updated"),
        1: ("installation failed", "read the log tail and the installer's log directory; common causes: no "
            "driver packages for the kernel (use add_kernel_support), a DKMS or package build failure, a "
            "missing build dependency"),
        2: ("no firmware was found for the adapter", "install without firmware update (firmware_update: false) "
            "or supply a firmware image (--fw-dir / --fw-image-dir in extra_args)"),
        22: ("invalid parameter: the installer rejected an option", "remove or correct the option in extra_args "
             "(see mlnxofedinstall --help for this release)"),
        28: ("not enough free space", "free space in the tmp directory (tmpdir, default /tmp) and under / and "
             "/usr, or point tmpdir to a larger file system"),
        171: ("not applicable to this system configuration (the hardware is not present)",
              "run on a host with the adapter, or use a package set that does not need it"),
        172: ("prerequisites not met: wrong distro or architecture for this bundle, required software missing, "
              "or not run as root", "use the bundle built for this distro and architecture (.mlnx, distro, .arch) "
              "and install the missing prerequisites; run the iser.ofed.validate role first"),
        173: ("failed to start the mst driver", "check the mft/kernel-mft packages and dmesg, then retry"),
        174: ("other installed packages depend on the RDMA stack the installer would remove",
              "remove those packages first, or set allow_package_removal: true (adds --force, which lets the "
              "installer remove them)"),
        30: ("mlnx_add_kernel_support.sh: the kernel is already supported",
             "nothing to add: run without add_kernel_support"),
    },
    "ofed": {
        0: ("installation succeeded", "restart the driver (/etc/init.d/openibd restart) or reboot"),
        1: ("installation failed (install.pl uses exit 1 for every error: unsupported kernel, missing build "
            "dependency, RPM build or install failure, bad option, nothing selected)",
            "read the log tail: 'Kernel X is not supported' needs a kernel from docs/OFED_release_notes.txt, "
            "'Failed to build <pkg> RPM' points to <pkg>.rpmbuild.log, a missing build tree needs the kernel "
            "headers/devel package"),
    },
}


def explain(flavor: str, rc: int, output: str = "") -> Dict[str, Any]:
    """``{rc, meaning, remedy, known, dependants}`` for an installer exit code."""
    table = EXIT_CODES.get(flavor, {})
    meaning, remedy = table.get(rc, ("undocumented exit code %s" % rc,
                                     "read the log tail and the installer's log directory"))
    result = {"rc": rc, "meaning": meaning, "remedy": remedy, "known": rc in table,
              "dependants": []}  # type: Dict[str, Any]
    if flavor == "mlnx_ofed" and rc == 174:
        result["dependants"] = parse_dependants(output)
        if result["dependants"]:
            result["meaning"] += ": " + " ".join(result["dependants"])
    if flavor == "ofed" and rc == 1:
        match = re.search(r"^Kernel (\S+) is not supported\.", output or "", re.MULTILINE)
        if match:
            result["meaning"] = "kernel %s is not supported by this OFED release (install.pl exit 1)" % match.group(1)
            result["remedy"] = ("use a kernel listed in the bundle's docs/OFED_release_notes.txt, or a bundle that "
                                "ships prebuilt kernel RPMs for it")
    return result


_DEPENDS_RE = re.compile(r"^Error: One or more packages depends on MLNX_OFED", re.MULTILINE)


def parse_dependants(output: str) -> List[str]:
    """Package names mlnxofedinstall lists before exiting 174.

    The real text (mlnxofedinstall / uninstall.sh)::

        Error: One or more packages depends on MLNX_OFED.
        Those packages should be removed before uninstalling MLNX_OFED:

        lustre-client-modules ceph-common

        To force uninstallation use '--force' flag.
    """
    match = _DEPENDS_RE.search(output or "")
    if not match:
        return []
    names = []  # type: List[str]
    for line in output[match.end():].splitlines()[1:]:
        text = line.strip()
        if text.startswith("To force"):
            break
        if not text or text.startswith("Those packages"):
            continue
        for name in text.split():
            if name not in names:
                names.append(name)
    return names


# ---------------------------------------------------------------------------------------------- running
LOG_ENV = "ISER_OFED_INSTALLER_LOG"
# exec replaces the shell: the installer gets the shell's pid, stdin /dev/null (a prompt that slipped through
# -q reads end-of-file at once and takes its default answer, no), stdout and stderr appended to the log as
# they are written. The log path travels in the environment, never inside the shell text.
_REDIRECT = 'exec "$0" "$@" </dev/null >>"$%s" 2>&1' % LOG_ENV


def redirected_argv(argv: Sequence[str]) -> List[str]:
    """``argv`` wrapped in ``/bin/sh -c 'exec "$0" "$@" </dev/null >>"$ISER_OFED_INSTALLER_LOG" 2>&1'``.

    Run it with ``ISER_OFED_INSTALLER_LOG=<log file>`` in the environment. The words of ``argv`` reach the
    installer unchanged (``"$0" "$@"``): nothing is parsed by the shell.
    """
    if not argv:
        raise InstallerError("no installer command to run")
    return ["/bin/sh", "-c", _REDIRECT] + [str(a) for a in argv]


def log_header(argv: Sequence[str], cwd: str, started: str) -> str:
    """The lines written to the log before the installer's own output."""
    return "# iser.ofed.ofed_installer %s\n# cmd: %s\n# cwd: %s\n# stdin: /dev/null; stdout and stderr follow\n" % (
        started, " ".join(argv), cwd)


def run_logged(run, argv: Sequence[str], cwd: str, log_path: str, started: str) -> Tuple[int, str]:
    """Run the installer; return ``(rc, output)``, ``output`` being what this run added to ``log_path``.

    ``run(argv, cwd, env)`` runs a command and returns ``(rc, stdout, stderr)``; ``env`` carries ``LC_ALL=C`` and
    the log path. stdin is /dev/null and stdout/stderr are appended to ``log_path`` as the installer writes them
    (a shell that ``exec``s the installer, see ``redirected_argv``), so the log shows progress while it runs
    and nothing is held in memory. What the shell itself printed (the log could not be opened) is added.
    """
    with open(log_path, "ab") as log:
        log.write(log_header(argv, cwd, started).encode("utf-8"))
        start = log.tell()
    rc, out, err = run(redirected_argv(argv), cwd, {"LC_ALL": "C", LOG_ENV: log_path})
    with open(log_path, "rb") as log:
        log.seek(start)
        output = log.read().decode("utf-8", "replace")
    with open(log_path, "ab") as log:
        log.write(("%s# rc: %s\n" % ("" if output.endswith("\n") or not output else "\n", rc)).encode("utf-8"))
    shell = (out + err).strip()
    return rc, output + ("\n" + shell if shell else "")


# ---------------------------------------------------------------------------------------------- output
_LOGS_DIR_RES = (
    re.compile(r"Logs dir:\s*(?P<path>/\S+)"),
    re.compile(r"(?P<path>/\S*/(?:MLNX_OFED_LINUX|OFED|mlnx-en)\.\d+\.logs)\b"),
)
_SEE_LOG_RE = re.compile(r"See (?P<path>/\S+\.log)\b")
_GENERAL_LOG_RE = re.compile(r"General log file:\s*(?P<path>/\S+)")


def logs_dir(output: str) -> Optional[str]:
    """The installer's own log directory (``/tmp/MLNX_OFED_LINUX.<pid>.logs``, ``/tmp/OFED.<pid>.logs``)."""
    for regex in _LOGS_DIR_RES:
        match = regex.search(output or "")
        if match:
            return match.group("path").rstrip("/.:")
    return None


def failed_logs(output: str) -> List[str]:
    """Logs the output points to, most relevant first: ``See <...>.log`` (last one first), the general log."""
    paths = [m.group("path") for m in _SEE_LOG_RE.finditer(output or "")][::-1]
    general = _GENERAL_LOG_RE.search(output or "")
    if general and general.group("path") not in paths:
        paths.append(general.group("path"))
    directory = logs_dir(output)
    if directory:
        fallback = directory + "/general.log"
        if fallback not in paths:
            paths.append(fallback)
    return paths


# Terminal colour/cursor sequences (mlnxofedinstall and install.pl print errors in red and blue).
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def tail(text: Optional[str], lines: int = 40) -> List[str]:
    """The last ``lines`` non-trailing lines of ``text``, without terminal colour sequences."""
    if not text:
        return []
    return _ANSI_RE.sub("", text).rstrip("\n").splitlines()[-lines:]


_RESTART_RE = re.compile(r"To load the new driver, run:\s*\n\s*(?P<cmd>\S*(?:openibd|mlnx-en\.d) restart)")
_REBOOT_RES = (
    re.compile(r"please reboot", re.IGNORECASE),
    re.compile(r"reboot (?:your|the) (?:system|machine|server|host)", re.IGNORECASE),
    re.compile(r"firmware (?:was|were|has been) updated", re.IGNORECASE),
    re.compile(r"^\s*Status:\s*Updated", re.IGNORECASE | re.MULTILINE),
)


def after_install(output: str) -> Dict[str, Any]:
    """``{restart_required, restart_command, reboot_required}`` from a successful run's output."""
    match = _RESTART_RE.search(output or "")
    reboot = any(r.search(output or "") for r in _REBOOT_RES)
    return {"restart_required": bool(match), "restart_command": match.group("cmd") if match else None,
            "reboot_required": reboot}


# ---------------------------------------------------------------------------------------------- no-op
def decide(installed: Dict[str, Any], flavor: str, bundle_version: Optional[str], wanted_version: Optional[str],
           kernel: str, kernel_has_modules: bool) -> Tuple[bool, str]:
    """``(satisfied, reason)``: True when the installed stack already is what this run would install.

    ``installed``: ``{flavor, version}`` read from the host (``ofed_info -s`` or packages). The version must
    equal the bundle's (trailing zero fields ignored: ``ofed_info -s`` of a package-installed MLNX_OFED says
    ``5.0-2.1.8``, the bundle ``5.0-2.1.8.0``) and match ``wanted_version`` by the documented rule; and the
    modules must be installed for ``kernel``.
    """
    have_flavor = installed.get("flavor")
    have_version = installed.get("version")
    if not have_flavor:
        return False, "no OFED stack is installed"
    if have_flavor != flavor:
        return False, "installed flavor is %s, wanted %s" % (have_flavor, flavor)
    have = parse_version(have_version)
    if have is None:
        return False, "installed version %r cannot be read" % (have_version,)
    if bundle_version:
        bundle = parse_version(bundle_version)
        if bundle is None or have != bundle:
            return False, "installed version %s differs from the bundle's %s" % (have_version, bundle_version)
    if wanted_version and not have.matches(wanted_version):
        return False, "installed version %s does not match the wanted %s" % (have_version, wanted_version)
    if not kernel_has_modules:
        return False, "no OFED kernel modules are installed for kernel %s" % kernel
    return True, "%s %s is installed with modules for kernel %s" % (flavor, have_version, kernel)


_MODULE_FILE_RE = re.compile(r"(?:^|/)(?:ib_core|mlx_compat|compat)\.ko(?:\.[a-z]+)?$")


def kernel_has_ofed_modules(files: Sequence[str]) -> bool:
    """Whether files under ``/lib/modules/<kver>/{updates,extra}`` include OFED's ``ib_core``/compat module.

    OFED installs there (domain doc 5.5): classic ``updates/...``, MLNX RPM ``extra/mlnx-ofa_kernel``,
    MLNX DEB DKMS ``updates/dkms``; the distro's own modules live under ``kernel/``.
    """
    return any(_MODULE_FILE_RE.search(f) for f in files)
