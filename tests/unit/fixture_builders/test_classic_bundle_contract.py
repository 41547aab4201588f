# SPDX-License-Identifier: GPL-3.0-or-later
"""Black-box contract tests of the fixture classic OFED 1.5 / 3.5 bundles.

Expected messages, exit codes and names come from the domain tables (ofed-installers.md 1.2-1.6,
1.8) and from the real captures copied under tests/fixture_builders/classic_bundle/captured/.
Argument parsing runs install.pl locally as a subprocess (exits happen before anything is installed);
full installs run in a throwaway podman container (iser-ofed-i4-classic-*) from the Debian 12 kernel
image. Shares no code with plugins/.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

BUILDERS = Path(__file__).resolve().parents[2] / "fixture_builders"
sys.path.insert(0, str(BUILDERS))
import build_classic_bundle as bcb  # noqa: E402  pylint: disable=wrong-import-position

CAPTURED = BUILDERS / "classic_bundle" / "captured"
IMAGE = "localhost/iser-ofed-debian12-kernel:latest"


def _image_kernel() -> str:
    """The kernel release installed in IMAGE: the image is built from Debian's current packages, so it moves
    with Debian's point releases (6.1.0-56-amd64, then -57...). Without podman or the image only the local tests
    run, and any Debian 12 release string serves them."""
    podman = shutil.which("podman")
    if podman:
        proc = subprocess.run([podman, "run", "--rm", IMAGE, "ls", "-1", "/lib/modules"], capture_output=True,
                              text=True, timeout=120, check=False)
        names = proc.stdout.split()
        if proc.returncode == 0 and len(names) == 1:
            return names[0]
    return "6.1.0-56-amd64"


KVER = _image_kernel()
ANSI = re.compile(r"\x1b\[[0-9;]*m")
KERNEL_PKGS = {"1.5": ("kernel-ib", "kernel-ib-devel", "/usr/src/ofa_kernel/include"),
               "3.5": ("compat-rdma", "compat-rdma-devel", "/usr/src/compat-rdma/include")}
OFED_SCRIPTS_NVR = {"1.5": "ofed-scripts-1.5-0.x86_64", "3.5": "ofed-scripts-3.5-OFED.3.5.x86_64"}


def _plain(text: str) -> str:
    return ANSI.sub("", text)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    out = tmp_path_factory.mktemp("classic")
    result = {}
    for release in ("1.5", "3.5"):
        tgz = bcb.build_bundle(release, out / f"with-{release}", kernels=[KVER])
        bare = bcb.build_bundle(release, out / f"bare-{release}")
        for name, path in (("with", tgz), ("bare", bare)):
            dest = out / f"x-{name}-{release}"
            with tarfile.open(path) as tar:
                tar.extractall(dest)  # noqa: S202 - our own archive
            result[(name, release)] = (path, dest / f"OFED-{release}")
    return result


def _run_local(installer: Path, *args: str) -> subprocess.CompletedProcess:
    before = set(Path("/tmp").glob("OFED.*.logs"))
    proc = subprocess.run([str(installer), *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, LC_ALL="C"), check=False)
    for new in set(Path("/tmp").glob("OFED.*.logs")) - before:
        shutil.rmtree(new, ignore_errors=True)
    return proc


@pytest.mark.parametrize("release", ["1.5", "3.5"])
def test_layout_matches_real_tarball(bundles, release):
    tgz, root = bundles[("with", release)]
    assert tgz.name == f"OFED-{release}.tgz"
    src = BUILDERS / "classic_bundle" / "classic-ofed" / f"OFED-{release}"
    assert (root / "BUILD_ID").read_bytes() == (src / "BUILD_ID").read_bytes()
    first = (root / "BUILD_ID").read_text().splitlines()[0]
    assert first == ("OFED-1.5" if release == "1.5" else "OFED-3.5:")
    for doc in ("OFED_release_notes.txt", "ofed.conf-example", "ofed_net.conf-example", "README.txt"):
        assert (root / "docs" / doc).read_bytes() == (src / "docs" / doc).read_bytes()
    assert os.access(root / "install.pl", os.X_OK) and os.access(root / "uninstall.sh", os.X_OK)
    listed = {line.split(None, 2)[2] for line in (src / "tree-listing.txt").read_text().splitlines()
              if " SRPMS/" in line}
    assert {f"SRPMS/{p.name}" for p in (root / "SRPMS").iterdir()} == listed


@pytest.mark.parametrize("release", ["1.5", "3.5"])
def test_prebuilt_rpms_are_real_with_real_nvrs(bundles, release):
    root = bundles[("with", release)][1]
    dist = "debian" if release == "1.5" else "unsupported"
    rpms = root / "RPMS" / dist / "x86_64"
    krel = KVER.replace("-", "_")
    kpkg, dpkg = KERNEL_PKGS[release][:2]
    for name, nvr in ((kpkg, f"{kpkg}-{release}-{krel}"), (dpkg, f"{dpkg}-{release}-{krel}"),
                      ("ofed-scripts", OFED_SCRIPTS_NVR[release][: -len(".x86_64")])):
        path = rpms / f"{nvr}.x86_64.rpm"
        out = subprocess.run(["rpm", "-qp", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}", str(path)],
                             capture_output=True, text=True, check=True).stdout
        assert out == nvr
    qpl = subprocess.run(["rpm", "-qpl", str(rpms / f"{OFED_SCRIPTS_NVR[release]}.rpm")],
                         capture_output=True, text=True, check=True).stdout
    real = (CAPTURED / "pkg-query" / f"classic-{release}-rpm_rpm_ql_installed.txt").read_text()
    assert qpl == real
    devel = subprocess.run(["rpm", "-qpl", str(rpms / f"{dpkg}-{release}-{krel}.x86_64.rpm")],
                           capture_output=True, text=True, check=True).stdout
    if release == "1.5":
        assert "/usr/src/ofa_kernel/config.mk" in devel.splitlines()
    else:
        assert "/usr/src/compat-rdma/include/linux/compat-2.6.h" in devel.splitlines()
    # the name carries the kernel release with '-' -> '_' (what the SCST Makefile greps for)
    assert krel in subprocess.run(["rpm", "-qp", str(rpms / f"{dpkg}-{release}-{krel}.x86_64.rpm")],
                                  capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("release", ["1.5", "3.5"])
@pytest.mark.parametrize("flag", ["--bogus", "--without-libibverbs", "--tmpdir", "-z"])
def test_unknown_flag_prints_usage_exit_1(bundles, release, flag):
    proc = _run_local(bundles[("with", release)][1] / "install.pl", flag)
    assert proc.returncode == 1
    assert "Usage:" in proc.stdout


@pytest.mark.parametrize("flag", ["--umad-dev-rw", "--builddir"])
def test_35_only_flags(bundles, flag):
    args = [flag, "/var/tmp"] if flag == "--builddir" else [flag]
    p15 = _run_local(bundles[("with", "1.5")][1] / "install.pl", *args, "-c", "/nonexistent.conf")
    assert p15.returncode == 1 and "Usage:" in p15.stdout
    p35 = _run_local(bundles[("with", "3.5")][1] / "install.pl", *args, "-c", "/nonexistent.conf")
    assert p35.returncode == 1 and "Usage:" not in p35.stdout
    assert "/nonexistent.conf does not exist" in _plain(p35.stdout)


@pytest.mark.parametrize("release", ["1.5", "3.5"])
@pytest.mark.parametrize("opt", ["--all", "--hpc", "--basic"])
def test_c_with_all_hpc_basic(bundles, release, opt):
    root = bundles[("with", release)][1]
    proc = _run_local(root / "install.pl", "-c", str(root / "docs" / "ofed.conf-example"), opt)
    assert proc.returncode == 1
    assert "Error: '-c' option can't be used with '--all|--hpc|--basic'" in _plain(proc.stdout)


@pytest.mark.parametrize("release", ["1.5", "3.5"])
def test_missing_config(bundles, release):
    proc = _run_local(bundles[("with", release)][1] / "install.pl", "-c", "/no/such/ofed.conf")
    assert proc.returncode == 1
    assert "/no/such/ofed.conf does not exist" in _plain(proc.stdout)


@pytest.mark.parametrize("release", ["1.5", "3.5"])
def test_unknown_key_not_fatal_and_zero_selected(bundles, release, tmp_path):
    conf = tmp_path / "ofed.conf"
    conf.write_text("# comment\n\nnot-a-package=y\nsrpt=n\n")
    proc = _run_local(bundles[("with", release)][1] / "install.pl", "-c", str(conf))
    out = _plain(proc.stdout)
    assert "Unsupported package: not-a-package" in out
    assert "0 packages selected. Exiting..." in out
    assert proc.returncode == 1


@pytest.mark.parametrize("release", ["1.5", "3.5"])
def test_kernel_without_sources(bundles, release, tmp_path):
    conf = tmp_path / "ofed.conf"
    conf.write_text("ofed-scripts=y\n")
    proc = _run_local(bundles[("with", release)][1] / "install.pl", "-c", str(conf), "-k", "9.9.9-nope")
    assert proc.returncode == 1
    assert "Provide path to the kernel sources for 9.9.9-nope kernel." in _plain(proc.stdout)


@pytest.mark.parametrize("release", ["1.5", "3.5"])
def test_not_root(bundles, release):
    if os.geteuid() != 0:
        pytest.fail("the contract tests run as root on the test bed (install.pl must be run as root)")
    copy = Path("/tmp") / f"iser-classic-{release}-{uuid.uuid4().hex}"
    shutil.copytree(bundles[("with", release)][1], copy)
    try:
        for path in [copy, *copy.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o005 | (0o001 if path.is_dir() else 0))
        installer = copy / "install.pl"
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(installer)],
                              capture_output=True, text=True, timeout=30, check=False)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    assert proc.returncode == 1
    assert _plain(proc.stdout).strip() == f"Only root can run {installer}"


# ---------------------------------------------------------------- podman: full installs

def _podman():
    path = shutil.which("podman")
    if not path:
        pytest.fail("podman is required for the classic bundle install contract tests (the test bed has it)")
    return path


def _container(tmp_path, mounts):
    podman = _podman()
    name = f"iser-ofed-i4-classic-{uuid.uuid4().hex[:8]}"
    args = [podman, "run", "-d", "--name", name]
    for src, dst in mounts:
        args += ["-v", f"{src}:{dst}:ro"]
    subprocess.run(args + [IMAGE, "sleep", "600"], check=True, capture_output=True, timeout=60)
    return podman, name


def _exec(podman, name, script, timeout=120):
    return subprocess.run([podman, "exec", name, "bash", "-c", script], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def container(bundles, tmp_path_factory):
    tgzs = tmp_path_factory.mktemp("mnt")
    for (kind, release), (tgz, _root) in bundles.items():
        shutil.copy(tgz, tgzs / f"{kind}-{release}.tgz")
    podman, name = _container(tgzs, [(tgzs, "/in")])
    try:
        setup = _exec(podman, name, "apt-get install -y --no-install-recommends rpm >/dev/null 2>&1 && echo ok")
        assert setup.stdout.strip() == "ok", setup.stderr
        yield podman, name
    finally:
        subprocess.run([podman, "rm", "-f", "-t", "0", name], capture_output=True, timeout=120, check=False)


@pytest.mark.parametrize("release", ["1.5", "3.5"])
def test_full_install_and_uninstall_in_container(container, release):
    podman, name = container
    kpkg, dpkg, include = KERNEL_PKGS[release]
    work = f"/root/with-{release}"
    conf_keys = f"{kpkg}=y\n{dpkg}=y\nofed-scripts=y\nlibibverbs=y\ncore=y\nmlx4=y\nipoib=y\nsrpt=n\nbogus_key=y\n"
    script = (f"set -e; mkdir -p {work} && tar xzf /in/with-{release}.tgz -C {work}; "
              f"printf '{conf_keys}' > /root/ofed-{release}.conf; "
              f"set +e; {work}/OFED-{release}/install.pl -c /root/ofed-{release}.conf -k {KVER}; echo RC=$?")
    proc = _exec(podman, name, script)
    out = _plain(proc.stdout)
    assert "RC=0" in out, out + proc.stderr
    assert "Installation finished successfully." in out
    assert "Unsupported package: bogus_key" in out
    krel = KVER.replace("-", "_")
    q = _exec(podman, name, f"rpm -q ofed-scripts {kpkg} {dpkg} libibverbs")
    assert q.returncode == 0, q.stdout + q.stderr
    assert q.stdout.splitlines() == [OFED_SCRIPTS_NVR[release], f"{kpkg}-{release}-{krel}.x86_64",
                                     f"{dpkg}-{release}-{krel}.x86_64", q.stdout.splitlines()[3]]
    noarg = _exec(podman, name, "/usr/bin/ofed_info")
    assert noarg.stdout == (CAPTURED / "ofed_info" / f"classic-{release}-rpm_noarg.txt").read_text()
    short = _exec(podman, name, "/usr/bin/ofed_info -s")
    assert short.stdout == (CAPTURED / "ofed_info" / f"classic-{release}-rpm_s.txt").read_text()
    invalid = _exec(podman, name, "/usr/bin/ofed_info -z")
    assert invalid.stdout == (CAPTURED / "ofed_info" / f"classic-{release}-rpm_invalid.txt").read_text()
    check = f"test -d {include} && test -x /etc/infiniband/info && test -f /etc/infiniband/openib.conf"
    assert _exec(podman, name, check).returncode == 0
    info = _exec(podman, name, "/etc/infiniband/info").stdout
    assert "prefix=/usr" in info and f"Kernel={KVER}" in info
    un = _exec(podman, name, "yes | /usr/sbin/ofed_uninstall.sh")
    assert un.returncode == 0, un.stdout + un.stderr
    gone = _exec(podman, name, f"rpm -q ofed-scripts {kpkg} {dpkg}")
    assert gone.returncode != 0
    assert "package ofed-scripts is not installed" in gone.stdout


@pytest.mark.parametrize("release", ["1.5", "3.5"])
def test_bundle_without_prebuilt_kernel_rpms_cannot_install(container, release):
    """Debian: install.pl turns its dependency check off there (so the regex is not evaluated) and
    fails building the kernel package; with /etc/lsb-release naming Ubuntu, 3.5 runs the check."""
    podman, name = container
    kpkg, dpkg = KERNEL_PKGS[release][:2]
    srpm = "ofa_kernel" if release == "1.5" else "compat-rdma"
    work = f"/root/bare-{release}"
    script = (f"mkdir -p {work} && tar xzf /in/bare-{release}.tgz -C {work}; "
              f"printf '{kpkg}=y\\n{dpkg}=y\\nofed-scripts=y\\ncore=y\\n' > /root/bare-{release}.conf; "
              f"{work}/OFED-{release}/install.pl -c /root/bare-{release}.conf -k {KVER}; echo RC=$?")
    out = _plain(_exec(podman, name, script).stdout)
    assert "RC=1" in out
    assert f"Failed to build {srpm} RPM" in out
    assert re.search(rf"See /tmp/OFED\.\d+\.logs/{srpm}\.rpmbuild\.log", out)
    assert "Kernel" not in out or "is not supported" not in out
    # --force: the regex path, reached where the dependency check is on
    regex = (f"{work}/OFED-{release}/install.pl -c /root/bare-{release}.conf -k {KVER}")
    if release == "3.5":
        regex = ("printf 'DISTRIB_ID=Ubuntu\\n' > /etc/lsb-release; "
                 "printf '#!/bin/sh\\necho Ubuntu\\n' > /usr/local/bin/lsb_release; "
                 "chmod +x /usr/local/bin/lsb_release; " + regex +
                 "; echo RC=$?; rm -f /etc/lsb-release /usr/local/bin/lsb_release")
        out = _plain(_exec(podman, name, regex).stdout)
        assert "RC=1" in out
        assert f"Kernel {KVER} is not supported." in out
        assert "For the list of Supported Platforms and Operating Systems see" in out
        assert f"{work}/OFED-{release}/docs/OFED_release_notes.txt" in out
