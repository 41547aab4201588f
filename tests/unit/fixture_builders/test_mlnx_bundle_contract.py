# SPDX-License-Identifier: GPL-3.0-or-later
"""Black-box contract tests of the fixture MLNX_OFED DEB bundle (tests/fixture_builders/build_mlnx_bundle.py).

The builder is run as a program and its ``mlnxofedinstall`` / ``uninstall.sh`` as subprocesses; expected
exit codes and messages come from the domain tables (ofed-installers.md section 2: 0 success, 1 failure,
22 invalid option, 28 no space, 172 prerequisites, 174 dependants without --force), not from plugins/.

* Exit-code tests that stop before anything is installed run locally (the test bed runs as root; the
  distro comes from a fake os-release named by the fixture-only ``MLNX_FIXTURE_OS_RELEASE``).
* Install/uninstall tests need a real root for ``dpkg -i``: they run in one podman container from
  localhost/iser-ofed-debian12:latest, named iser-ofed-i4-mlnx-<pid>, removed afterwards. Without podman
  or the image they FAIL (the test bed always has both).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BUILDER = REPO / "tests" / "fixture_builders" / "build_mlnx_bundle.py"
REAL_CONF = (REPO / "tests" / "fixture_builders" / "fixtures" / "mlnx-ofed"
             / "MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64" / "bundle" / "docs" / "conf")
NAME = "MLNX_OFED_LINUX-5.0-2.1.8.0-debian12-x86_64"
IMAGE = "localhost/iser-ofed-debian12:latest"
KERNEL_DEBS = ("mlnx-ofed-kernel-dkms_5.0-OFED.5.0.2.1.8.1.g5f67178_all.deb",
               "mlnx-ofed-kernel-utils_5.0-OFED.5.0.2.1.8.1.g5f67178_amd64.deb")

pytestmark = pytest.mark.skipif(shutil.which("dpkg-scanpackages") is None,
                                reason="needs dpkg-dev (Debian/Ubuntu controller)")


def run(argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("bundle")
    proc = run([sys.executable, str(BUILDER), "--out", str(out), "--dependant-deb"])
    assert proc.returncode == 0, proc.stderr
    tgz, dep = (Path(p) for p in proc.stdout.splitlines())
    with tarfile.open(tgz) as tar:
        tar.extractall(out / "x", filter="tar")
    return {"tgz": tgz, "dep": dep, "top": out / "x" / NAME}


@pytest.fixture()
def bundle(built, tmp_path) -> Path:
    """A private copy of the unpacked bundle (tests may edit .mlnx, .arch, distro)."""
    copy = tmp_path / NAME
    shutil.copytree(built["top"], copy, symlinks=True)
    return copy


def os_release(tmp_path: Path, ident: str, version: str) -> str:
    path = tmp_path / "os-release"  # constructed: the two fields the installer reads
    path.write_text(f'ID={ident}\nVERSION_ID="{version}"\n', encoding="utf-8")
    return str(path)


def install(bundle: Path, tmp_path: Path, *args: str, ident="debian", version="12", required_mb=None,
            stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    env = dict(os.environ, MLNX_FIXTURE_OS_RELEASE=os_release(tmp_path, ident, version))
    if required_mb is not None:
        env["MLNX_FIXTURE_TMPDIR_REQUIRED_MB"] = str(required_mb)
    return run([str(bundle / "mlnxofedinstall"), "--tmpdir", str(tmp_path), *args], env=env, stdin=stdin)


# --- layout -------------------------------------------------------------------------------------------


def test_bundle_name_and_top_level_layout(built):
    assert built["tgz"].name == f"{NAME}.tgz"
    top = built["top"]
    assert (top / ".mlnx").read_text() == "5.0-2.1.8.0\n"
    assert (top / ".arch").read_text() == "x86_64\n"
    assert (top / "distro").read_text() == "debian12\n"
    for name in ("mlnxofedinstall", "uninstall.sh"):
        assert os.access(top / name, os.X_OK), name
    assert (top / "LICENSE").is_file()
    for conf in REAL_CONF.iterdir():  # the vendor files, unchanged
        assert (top / "docs" / "conf" / conf.name).read_bytes() == conf.read_bytes()


def test_debs_split_like_the_real_5_0_bundle(built):
    debs = built["top"] / "DEBS"
    assert sorted(p.name for p in (debs / "COMMON").iterdir()) == sorted(KERNEL_DEBS)
    for repo in ("MLNX_LIBS", "UPSTREAM_LIBS"):
        for deb in KERNEL_DEBS:  # kernel debs are symlinks into COMMON, as in the real tree listing
            assert os.readlink(debs / repo / deb) == f"../COMMON/{deb}"
        # The index is dpkg-scanpackages' own output for the debs shipped there.
        again = run(["dpkg-scanpackages", "--multiversion", "."], cwd=debs / repo, env=dict(os.environ, LC_ALL="C"))
        assert (debs / repo / "Packages").read_text() == again.stdout
        packages = re.findall(r"^Package: (.*)$", again.stdout, re.M)
        assert sorted(packages) == ["mlnx-ofed-kernel-dkms", "mlnx-ofed-kernel-only", "mlnx-ofed-kernel-utils", "ofed-scripts"]


def test_kernel_meta_package_depends_on_ofed_scripts(built):
    deb = built["top"] / "DEBS" / "UPSTREAM_LIBS" / "mlnx-ofed-kernel-only_5.0-2.1.8.0_all.deb"
    depends = run(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
    assert "ofed-scripts (>= 5.0-OFED.5.0.2.1.8)" in depends
    assert "mlnx-ofed-kernel-dkms (>= 5.0-OFED.5.0.2.1.8.1.g5f67178)" in depends
    dkms = run(["dpkg-deb", "-f", str(built["top"] / "DEBS" / "COMMON" / KERNEL_DEBS[0]), "Depends"]).stdout
    assert "mlnx-ofed-kernel-utils" in dkms  # as the vendor dkms package
    contents = run(["dpkg-deb", "-c", str(built["top"] / "DEBS" / "COMMON" / KERNEL_DEBS[0])]).stdout
    # headers="dkms", as the vendor package: /usr/src/ofa_kernel/ ships empty, the (emulated) DKMS build fills it
    assert "./usr/src/ofa_kernel/" in [line.split()[-1] for line in contents.splitlines()]
    assert "./usr/src/ofa_kernel/default/" not in contents
    scripts = run(["dpkg-deb", "-c", str(built["top"] / "DEBS" / "MLNX_LIBS" / "ofed-scripts_5.0-OFED.5.0.2.1.8_amd64.deb")]).stdout
    assert "./usr/sbin/ofed_uninstall.sh" in scripts


def test_build_is_reproducible(built, tmp_path):
    proc = run([sys.executable, str(BUILDER), "--out", str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).read_bytes() == built["tgz"].read_bytes()


# --- exit codes before anything changes (local) -------------------------------------------------------


def test_unknown_option_is_22(bundle, tmp_path):
    proc = install(bundle, tmp_path, "--no-such-flag")
    assert proc.returncode == 22
    assert "Unsupported installation option: '--no-such-flag'" in proc.stdout


def test_missing_dot_mlnx_is_172(bundle, tmp_path):
    (bundle / ".mlnx").unlink()
    proc = install(bundle, tmp_path, "-q")
    assert proc.returncode == 172
    assert ".mlnx file not found. Cannot continue..." in proc.stdout


def test_wrong_distro_is_172(bundle, tmp_path):
    proc = install(bundle, tmp_path, "-q", ident="ubuntu", version="20.04")
    assert proc.returncode == 172
    assert "Error: The current MLNX_OFED_LINUX is intended for debian12" in proc.stdout


def test_unsupported_os_is_1(bundle, tmp_path):
    proc = install(bundle, tmp_path, "-q", ident="rhel", version="8.6")
    assert proc.returncode == 1
    assert "Current operation system is not supported (rhel8.6)!" in proc.stdout


@pytest.mark.parametrize("how", ["flag", "file"])
def test_distro_check_can_be_skipped(bundle, tmp_path, how):
    args = ["-q"]
    if how == "flag":
        args.append("--skip-distro-check")
    else:
        (bundle / "distro").write_text("skip-distro-check\n")
    # Past the distro check, the next check (free space, made to fail) is reached.
    proc = install(bundle, tmp_path, *args, ident="ubuntu", version="20.04", required_mb=10**12)
    assert proc.returncode == 28, proc.stdout


def test_wrong_arch_is_172(bundle, tmp_path):
    (bundle / ".arch").write_text("aarch64\n")
    proc = install(bundle, tmp_path, "-q")
    assert proc.returncode == 172
    assert "Error: The current MLNX_OFED_LINUX is intended for a aarch64 architecture" in proc.stdout


def test_too_little_space_in_tmpdir_is_28(bundle, tmp_path):
    proc = install(bundle, tmp_path, "-q", required_mb=10**12)
    assert proc.returncode == 28
    assert f"Not enough free space in {tmp_path}" in proc.stdout


def test_prompt_with_closed_stdin_is_1_and_logs_exist(bundle, tmp_path):
    proc = install(bundle, tmp_path, "--without-fw-update")
    assert proc.returncode == 1
    assert proc.stdout.rstrip().endswith("Do you want to continue?[y/N]:")
    logs = re.search(r"^Logs dir: (.*)$", proc.stderr, re.M).group(1)
    assert re.fullmatch(rf"{re.escape(str(tmp_path))}/MLNX_OFED_LINUX\.\d+\.logs", logs)
    assert Path(logs, "general.log").is_file()
    assert "mlnx-ofed-kernel-dkms" in proc.stdout  # the selection is listed before the question


def test_help_is_0(bundle, tmp_path):
    proc = install(bundle, tmp_path, "-h")
    assert proc.returncode == 0 and "--without-fw-update" in proc.stdout


# --- real installs (podman) ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def container(built):
    if shutil.which("podman") is None:
        pytest.fail("podman is required for the MLNX_OFED bundle install contract tests (the test bed has it)")
    if run(["podman", "image", "exists", IMAGE]).returncode != 0:
        pytest.fail(f"image {IMAGE} is missing: build the test images first (make images)")
    name = f"iser-ofed-i4-mlnx-{os.getpid()}"
    src = built["tgz"].parent
    proc = run(["podman", "run", "-d", "--rm", "--name", name, "-v", f"{src}:/in:ro,z", IMAGE, "sleep", "600"])
    assert proc.returncode == 0, proc.stderr
    try:
        setup = sh(name, f"tar xzf /in/{NAME}.tgz -C /opt && mkdir -p /lib/modules/$(uname -r)/build")
        assert setup.returncode == 0, setup.stderr
        yield name
    finally:
        run(["podman", "rm", "-f", "-t", "0", name])


def sh(name: str, script: str, user: str = "root") -> subprocess.CompletedProcess:
    return run(["podman", "exec", "-i", "--user", user, name, "bash", "-c", script], stdin=subprocess.DEVNULL)


def installed(name: str) -> dict[str, str]:
    out = sh(name, "dpkg-query -W -f='${Package}\\t${db:Status-Abbrev}\\n' 'ofed-scripts' 'mlnx-ofed-*' "
                   "'lustre-client-modules' 2>/dev/null").stdout
    return {p: s.strip() for p, s in (line.split("\t") for line in out.splitlines()) if s.strip() == "ii"}


INSTALLER = f"/opt/{NAME}/mlnxofedinstall"


def test_container_install_cycle(container):
    """One ordered scenario (dpkg state carries over): refusals, install, ofed_info, 174, --force, uninstall."""
    # not root -> 172
    proc = sh(container, f"{INSTALLER} -q", user="nobody")
    assert proc.returncode == 172, proc.stdout
    # DKMS off and no non-DKMS kernel packages for this kernel -> 1, nothing installed
    proc = sh(container, f"{INSTALLER} -q --force --without-dkms --without-fw-update")
    assert proc.returncode == 1
    assert re.search(r"DKMS is disabled for \S+ kernel, MLNX_OFED_LINUX does not have non-DKMS driver "
                     r"packages available for this kernel\.", proc.stdout)
    assert installed(container) == {}

    # install (with the fixture-only step delay: 3 packages x 1 s, each announced in general.log first)
    started = time.monotonic()
    proc = sh(container, f"MLNX_FIXTURE_STEP_DELAY=1 {INSTALLER} -q --without-fw-update --tmpdir /var/tmp")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert time.monotonic() - started >= 3.0
    lines = proc.stdout.splitlines()
    done = next(i for i, line in enumerate(lines) if "Installation passed successfully" in line)
    assert lines[done + 1:done + 3] == ["To load the new driver, run:", "/etc/init.d/openibd restart"]
    assert set(installed(container)) == {"ofed-scripts", "mlnx-ofed-kernel-utils", "mlnx-ofed-kernel-dkms"}
    logs = re.search(r"^Logs dir: (/var/tmp/MLNX_OFED_LINUX\.\d+\.logs)$", proc.stderr, re.M).group(1)
    listing = sh(container, f"ls {logs}").stdout.split()
    assert {"general.log", "ofed-scripts.debinstall.log", "mlnx-ofed-kernel-utils.debinstall.log",
            "mlnx-ofed-kernel-dkms.debinstall.log"} <= set(listing)
    general = sh(container, f"cat {logs}/general.log").stdout
    assert [line.split()[1] for line in general.splitlines() if line.startswith("Installing ")] == [
        "ofed-scripts", "mlnx-ofed-kernel-utils", "mlnx-ofed-kernel-dkms"]
    # the emulated DKMS build wrote the header tree for the container's kernel (it has a build dir) and the
    # ofa_kernel_headers alternative default -> it
    kver = sh(container, "uname -r").stdout.strip()
    assert sh(container, f"test -f /usr/src/ofa_kernel/x86_64/{kver}/include/linux/compat-2.6.h").returncode == 0
    assert sh(container, "readlink -f /usr/src/ofa_kernel/default").stdout.strip() == f"/usr/src/ofa_kernel/x86_64/{kver}"
    assert sh(container, "test -f /usr/src/ofa_kernel/default/Module.symvers").returncode == 0
    # ofed_info rewritten as the vendor installer does
    assert sh(container, "ofed_info -s").stdout == "MLNX_OFED_LINUX-5.0-2.1.8.0:\n"
    assert sh(container, "ofed_info -n").stdout == "5.0-2.1.8.0\n"
    full = sh(container, "ofed_info").stdout
    assert full.splitlines()[0] == "MLNX_OFED_LINUX-5.0-2.1.8.0 (OFED-5.0-2.1.8):"
    assert "OFED-internal" not in full and "/MLNX_OFED_LINUX-5.0-1.0.0.0/SRPMS/" in full
    ver = sh(container, "dpkg-query -W --showformat='${Version}' mlnx-ofed-kernel-dkms").stdout
    assert ver == "5.0-OFED.5.0.2.1.8.1.g5f67178"

    # a package that depends on the stack: without --force -> 174 naming it, nothing removed
    assert sh(container, "dpkg -i /in/lustre-client-modules_2.12.9-1_all.deb").returncode == 0
    proc = sh(container, f"{INSTALLER} -q --without-fw-update")
    assert proc.returncode == 174
    assert ("Error: One or more packages depends on MLNX_OFED.\nThose packages should be removed before "
            "uninstalling MLNX_OFED:\n\nlustre-client-modules\n\nTo force uninstallation use '--force' flag.") in proc.stdout
    assert "lustre-client-modules" in installed(container)
    # with --force the dependant is removed and the stack reinstalled
    proc = sh(container, f"{INSTALLER} -q --force --without-fw-update")
    assert proc.returncode == 0, proc.stdout
    assert set(installed(container)) == {"ofed-scripts", "mlnx-ofed-kernel-utils", "mlnx-ofed-kernel-dkms"}

    # uninstall: the copy shipped by ofed-scripts, dry run first, then for real
    proc = sh(container, "/usr/sbin/ofed_uninstall.sh --dry-run")
    assert proc.returncode == 0 and len(installed(container)) == 3
    proc = sh(container, f"/opt/{NAME}/uninstall.sh")  # prompt, stdin closed -> 1
    assert proc.returncode == 1 and len(installed(container)) == 3
    proc = sh(container, f"/opt/{NAME}/uninstall.sh -q")
    assert proc.returncode == 0, proc.stdout
    assert installed(container) == {}
    assert sh(container, "command -v ofed_info").returncode != 0
