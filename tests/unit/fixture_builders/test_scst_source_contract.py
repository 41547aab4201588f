# SPDX-License-Identifier: GPL-3.0-or-later
"""Black-box contract tests of ``tests/fixture_builders/build_scst_source.py`` (the fixture SCST tree).

They import nothing from the builder or from plugins/: the builder runs as a program, its tarball is
read with ``tarfile`` and built for real. Local tests check the archive; container tests build the
modules with kbuild in ONE podman container from localhost/iser-ofed-debian12-kernel:latest (named
iser-ofed-s2-scstsrc-<pid>, removed afterwards; gcc + libc6-dev are installed in it with apt for
iscsi-scstd). The container runs the host's kernel, so every build there targets a kernel that is
NOT running (the image's). The container tests run in file order: the in-tree cases first, then the
fixture MLNX_OFED debs are installed, then the dkms package is removed. Without podman or the image
they FAIL (the test bed always has both). About 1.5 minutes in all.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BUILDER = REPO / "tests" / "fixture_builders" / "build_scst_source.py"
DEBS_BUILDER = REPO / "tests" / "fixture_builders" / "build_mofed_debs.py"
IMAGE = "localhost/iser-ofed-debian12-kernel:latest"
CONTAINER = f"iser-ofed-s2-scstsrc-{os.getpid()}"
VERSION = "3.8.0"
SRC = f"/root/scst-{VERSION}"
LINE_RE = re.compile(r"^iscsi-scst: OFED_FLAVOR=(\S+) KVER=(\S+) KDIR=(\S+) isert-scst=(yes|no) headers: (.+)$", re.M)


def run(argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)


def build(out: Path, *args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, str(BUILDER), "--out", str(out), *args])


@pytest.fixture(scope="session")
def tarball(tmp_path_factory) -> Path:
    """Built once per test session."""
    proc = build(tmp_path_factory.mktemp("scst"))
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip())


# --- the archive (local) ------------------------------------------------------------------------


def test_cli_prints_the_tarball_with_one_top_dir(tarball):
    assert tarball.name == f"scst-{VERSION}.tar.bz2" and tarball.is_file()
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        members = tar.getmembers()
    assert {n.split("/")[0] for n in names} == {f"scst-{VERSION}"}
    for rel in ("Makefile", "scst/src/Makefile", "scst/src/Kbuild", "iscsi-scst/Makefile",
                "iscsi-scst/kernel/Kbuild", "iscsi-scst/kernel/isert-scst/Kbuild", "iscsi-scst/usr/Makefile"):
        assert f"scst-{VERSION}/{rel}" in names, rel
    assert all(m.uid == 0 and m.gid == 0 and m.uname == "root" for m in members)


def test_build_is_reproducible_and_versioned(tarball, tmp_path):
    again = build(tmp_path / "a")
    assert Path(again.stdout.strip()).read_bytes() == tarball.read_bytes()
    other = build(tmp_path / "b", "--version", "3.7.1")
    assert other.returncode == 0, other.stderr
    with tarfile.open(other.stdout.strip()) as tar:
        const = tar.extractfile("scst-3.7.1/scst/include/scst_const.h").read().decode()
        assert '#define SCST_VERSION_NAME "3.7.1"' in const
        assert not any("@VERSION@" in tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile())


def test_bad_version_is_refused(tmp_path):
    proc = build(tmp_path, "--version", "3.8; rm -rf /")
    assert proc.returncode == 2 and "not a dotted release number" in proc.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_top_level_targets_are_scsts(tarball, tmp_path):
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp_path)  # noqa: S202 (our own archive)
    top = tmp_path / f"scst-{VERSION}"
    helptext = run(["make", "-s", "-C", str(top), "help"]).stdout
    for target in ("scst", "scst_install", "iscsi", "iscsi_install", "install", "uninstall", "2release"):
        assert re.search(rf"^\s+{target}\s+:", helptext, re.M), target
    # per-part targets delegate to the part's Makefile (and stop on errors); KDIR alone exports the
    # release read from $KDIR/include/config/kernel.release
    dry = run(["make", "-n", "-C", str(top), "scst", "iscsi", "MAKE=echo"]).stdout
    assert "cd scst && echo all" in dry and "cd iscsi-scst && echo all" in dry
    kdir = tmp_path / "kdir"
    (kdir / "include" / "config").mkdir(parents=True)
    (kdir / "include" / "config" / "kernel.release").write_text("9.9.9-fixture\n")
    (kdir / "Makefile").write_text("modules:\n\t@true\n")  # the kbuild step recurses even under -n
    env = {k: v for k, v in os.environ.items() if k not in ("KVER", "KDIR")}
    proc = run(["make", "-n", "-C", str(top), f"KDIR={kdir}", "scst_install"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert "/lib/modules/9.9.9-fixture/extra" in proc.stdout


# --- real builds (podman) -----------------------------------------------------------------------


def sh(script: str) -> subprocess.CompletedProcess:
    return run(["podman", "exec", CONTAINER, "bash", "-c", script])


def ok(script: str) -> str:
    proc = sh(script)
    assert proc.returncode == 0, f"{script}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def container(tarball, tmp_path_factory):
    debs = tmp_path_factory.mktemp("debs")
    proc = run([sys.executable, str(DEBS_BUILDER), "--out", str(debs)])
    assert proc.returncode == 0, proc.stderr
    run(["podman", "rm", "-f", CONTAINER])
    proc = run(["podman", "run", "-d", "--name", CONTAINER, "--entrypoint", "sleep", IMAGE, "3600"])
    assert proc.returncode == 0, proc.stderr
    try:
        ok("mkdir -p /in")
        for path in [tarball, *debs.iterdir()]:
            assert run(["podman", "cp", str(path), f"{CONTAINER}:/in/{path.name}"]).returncode == 0
        ok("apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive "
           "apt-get install -y -q --no-install-recommends gcc libc6-dev >/dev/null")
        yield {"kver": ok("ls /lib/modules").strip(), "running": ok("uname -r").strip()}
    finally:
        run(["podman", "rm", "-f", CONTAINER])


def fresh(name: str) -> str:
    """A freshly unpacked tree under /root/<name>/; returns its top dir."""
    ok(f"rm -rf /root/{name} && mkdir /root/{name} && tar -C /root/{name} -xjf /in/scst-{VERSION}.tar.bz2")
    return f"/root/{name}/scst-{VERSION}"


def modinfo(path: str, field: str) -> str:
    return ok(f"modinfo -F {field} {path}").strip()


def crc(path: str, symbol: str) -> str:
    """The CRC of ``symbol`` recorded in a module (modversions)."""
    rows = dict(reversed(line.split("\t")) for line in ok(f"modprobe --dump-modversions {path}").splitlines())
    return rows[symbol]


def symvers_crc(path: str, symbol: str) -> str:
    return ok(f"awk -F'\\t' '$2 == \"{symbol}\" {{print $1}}' {path}").strip()


def test_in_tree_build_for_a_kernel_that_is_not_running(container):
    kver = container["kver"]
    assert kver != container["running"]  # containers run the host's kernel
    top = fresh("intree")
    out = ok(f"cd {top} && make scst iscsi KVER={kver} 2>&1")
    assert LINE_RE.findall(out) == [("in-tree", kver, f"/lib/modules/{kver}/build", "yes",
                                     f"in-tree (/lib/modules/{kver}/build)")]
    scst, iscsi, isert = (f"{top}/scst/src/scst.ko", f"{top}/iscsi-scst/kernel/iscsi-scst.ko",
                          f"{top}/iscsi-scst/kernel/isert-scst/isert-scst.ko")
    for ko in (scst, iscsi, isert):
        assert modinfo(ko, "vermagic").split()[0] == kver
        assert modinfo(ko, "version") == VERSION
    assert modinfo(iscsi, "depends") == "scst"  # scst's symbols via KBUILD_EXTRA_SYMBOLS
    assert set(modinfo(isert, "depends").split(",")) == {"ib_core", "iscsi-scst"}
    assert modinfo(isert, "ofed_flavor") == "in-tree"
    assert modinfo(isert, "rdma_headers") == f"in-tree {kver}"  # from the kernel's own rdma/ib_verbs.h
    assert modinfo(isert, "ofed_compat") == "none"
    assert modinfo(isert, "mofed_version") == "none"
    kernel_crc = symvers_crc(f"/lib/modules/{kver}/build/Module.symvers", "ib_register_client")
    assert kernel_crc and crc(isert, "ib_register_client") == kernel_crc
    assert ok(f"{top}/iscsi-scst/usr/iscsi-scstd --version") == f"iscsi-scstd version {VERSION} (test fixture)\n"
    assert modinfo(scst, "scst_build_mode") == "debug"


def test_install_with_destdir_puts_modules_under_destdir(container):
    kver, top = container["kver"], f"/root/intree/scst-{VERSION}"
    ok(f"cd {top} && make scst_install iscsi_install KVER={kver} DESTDIR=/tmp/dest 2>&1")
    extra = f"/tmp/dest/lib/modules/{kver}/extra"
    assert ok(f"ls {extra}").split() == ["iscsi-scst.ko", "isert-scst.ko", "scst.ko"]
    assert modinfo(f"{extra}/isert-scst.ko", "ofed_flavor") == "in-tree"
    for path in ("/tmp/dest/usr/local/sbin/iscsi-scstd", "/tmp/dest/usr/local/include/scst/scst.h",
                 "/tmp/dest/usr/local/include/scst/Module.symvers"):
        ok(f"test -f {path}")
    assert sh(f"test -e /lib/modules/{kver}/extra").returncode == 1  # nothing outside DESTDIR


def test_default_kver_is_the_running_kernel(container):
    top = f"/root/intree/scst-{VERSION}"
    proc = sh(f"cd {top} && make scst 2>&1")
    assert proc.returncode != 0
    assert f"no kernel build tree at /lib/modules/{container['running']}/build" in proc.stdout


def test_kdir_alone_takes_kver_from_kernel_release(container):
    """Debian's headers hold the upstream version in kernel.release, not the package release."""
    kver, top = container["kver"], f"/root/intree/scst-{VERSION}"
    release = ok(f"cat /lib/modules/{kver}/build/include/config/kernel.release").strip()
    ok(f"cd {top} && make scst_install KDIR=/lib/modules/{kver}/build DESTDIR=/tmp/kdir 2>&1")
    ok(f"test -f /tmp/kdir/lib/modules/{release}/extra/scst.ko")
    assert release != kver  # 6.1.192 vs 6.1.0-56-amd64: the role must pass KVER


DEB_RE = re.compile(r"^(scst|scst-dev|iscsi-scst|scst-dkms)_(\S+)_(amd64|all)\.deb$")


def test_dpkg_target_builds_scsts_packages(container):
    """`make dpkg` as SCST's: refuses without DEBEMAIL/DEBFULLNAME, takes the kernel from DEB_KVER_SET/
    DEB_KDIR_SET (not from make's command line: debuild drops it), writes the packages of debian/control
    into dpkg/ with faithful names; scst's .deb holds the three modules for that kernel and installs them
    where modinfo -k finds them (its postinst runs depmod); purged afterwards for the next tests."""
    kver, top = container["kver"], fresh("dpkg")
    proc = sh(f"cd {top} && make dpkg KVER={kver} 2>&1")
    assert proc.returncode != 0 and "Error: $DEBEMAIL has not been set" in proc.stdout
    proc = sh(f"cd {top} && DEBEMAIL=t@example.org make dpkg KVER={kver} 2>&1")
    assert proc.returncode != 0 and "Error: $DEBFULLNAME has not been set" in proc.stdout
    env = "DEBEMAIL=t@example.org DEBFULLNAME='Fixture Test'"
    proc = sh(f"cd {top} && {env} make dpkg KVER={kver} 2>&1")  # KVER alone: the running kernel's build
    assert proc.returncode != 0 and f"no kernel build tree at /lib/modules/{container['running']}/build" in proc.stdout
    out = ok(f"cd {top} && {env} DEB_KVER_SET={kver} DEB_KDIR_SET=/lib/modules/{kver}/build make -j2 dpkg 2>&1")
    assert LINE_RE.findall(out)[0][:2] == ("in-tree", kver)
    names = sorted(ok(f"ls {top}/dpkg").split())
    assert names == ["iscsi-scst_3.8.0-1_amd64.deb", "scst-dev_3.8.0-1_all.deb", "scst-dkms_3.8.0-1_all.deb",
                     "scst_3.8.0-1_amd64.deb"], names
    assert all(DEB_RE.match(n) for n in names)
    assert sh(f"ls {top}/../*.deb").returncode != 0  # moved from ../ into dpkg/
    deb = f"{top}/dpkg/scst_3.8.0-1_amd64.deb"
    assert ok(f"dpkg-deb -f {deb} Package Version Architecture Maintainer Conflicts").splitlines() == [
        "Package: scst", "Version: 3.8.0-1", "Architecture: amd64", "Maintainer: Fixture Test <t@example.org>",
        "Conflicts: scst-dkms"]
    files = [ln.split()[-1] for ln in ok(f"dpkg-deb -c {deb}").splitlines() if ln.endswith(".ko")]
    assert files == [f"./lib/modules/{kver}/extra/{m}.ko" for m in ("iscsi-scst", "isert-scst", "scst")]
    assert f'depmod "{kver}"' in ok(f"dpkg-deb -I {deb} postinst")
    assert "/usr/include/scst/Module.symvers" in ok(f"dpkg-deb -c {top}/dpkg/scst-dev_3.8.0-1_all.deb")
    assert "./usr/sbin/iscsi-scstd" in ok(f"dpkg-deb -c {top}/dpkg/iscsi-scst_3.8.0-1_amd64.deb")
    dkms = ok(f"dpkg-deb -f {top}/dpkg/scst-dkms_3.8.0-1_all.deb Depends")
    assert dkms.strip() == "dkms"  # one field: the value alone
    conf = ok(f"dpkg-deb --fsys-tarfile {top}/dpkg/scst-dkms_3.8.0-1_all.deb | tar -xOf - ./usr/src/scst-3.8.0/dkms.conf")
    assert 'BUILT_MODULE_NAME[2]="isert-scst"' in conf and 'PACKAGE_VERSION="3.8.0"' in conf
    # the tree is left in debug mode (make 2debug), the packaged scst.ko was built in release mode
    ok(f"mkdir -p /root/x && dpkg-deb -x {deb} /root/x")
    assert modinfo(f"/root/x/lib/modules/{kver}/extra/scst.ko", "scst_build_mode") == "release"
    try:
        ok(f"dpkg -i {deb} {top}/dpkg/iscsi-scst_3.8.0-1_amd64.deb >/dev/null")
        for mod in ("scst", "iscsi-scst", "isert-scst"):
            path = ok(f"modinfo -k {kver} -F filename {mod}").strip()
            assert path == f"/lib/modules/{kver}/extra/{mod}.ko"
            assert ok(f"dpkg -S {path}").startswith("scst: ")
        ok("test -x /usr/sbin/iscsi-scstd")
    finally:
        ok("dpkg --purge scst iscsi-scst >/dev/null && rm -rf /root/x")
    assert sh(f"modinfo -k {kver} scst").returncode != 0


def test_isert_needs_infiniband_for_the_target_kernel(container):
    kver, top = container["kver"], fresh("noib")
    symbols, config = f"/lib/modules/{kver}/modules.symbols", f"/lib/modules/{kver}/build/.config"

    def dry() -> str:  # what the Makefile decides, without building (the kbuild calls become `true`)
        out = ok(f"cd {top}/iscsi-scst && make -n mods KVER={kver} MAKE=true")
        return re.search(r"iscsi-scst: OFED_FLAVOR=\S+ KVER=\S+ KDIR=\S+ isert-scst=(yes|no) ", out).group(1)

    ok(f"cp {symbols} /root/symbols.orig && cp {config} /root/config.orig")
    try:
        ok(f"sed -i '/ib_register_client/d' {symbols}")
        assert dry() == "yes"  # CONFIG_INFINIBAND=m alone is enough
        ok(f"cp /root/symbols.orig {symbols} && sed -i '/^CONFIG_INFINIBAND=/d' {config}")
        assert dry() == "yes"  # ib_register_client alone is enough
        ok(f"sed -i '/ib_register_client/d' {symbols}")
        out = ok(f"cd {top} && make scst iscsi KVER={kver} 2>&1")
        assert LINE_RE.findall(out)[0][3] == "no"
        assert f"InfiniBand is not enabled for kernel {kver}" in out
        ok(f"test -f {top}/iscsi-scst/kernel/iscsi-scst.ko")
        assert sh(f"ls {top}/iscsi-scst/kernel/isert-scst/*.ko").returncode != 0
    finally:
        ok(f"cp /root/symbols.orig {symbols} && cp /root/config.orig {config}")


def test_mofed_build_uses_the_ofa_kernel_headers(container):
    kver, top = container["kver"], fresh("mofed")
    ok("dpkg -i /in/ofed-scripts_*.deb /in/mlnx-ofed-kernel-dkms_*.deb >/dev/null 2>&1")
    tree = ok("readlink -f /usr/src/ofa_kernel/default").strip()
    assert tree == f"/usr/src/ofa_kernel/{ok('uname -m').strip()}/{kver}"
    out = ok(f"cd {top} && make scst iscsi KVER={kver} 2>&1")
    assert LINE_RE.findall(out) == [("MOFED", kver, f"/lib/modules/{kver}/build", "yes",
                                     "/usr/src/ofa_kernel/default/include")]
    isert = f"{top}/iscsi-scst/kernel/isert-scst/isert-scst.ko"
    assert modinfo(isert, "ofed_flavor") == "MOFED"
    assert modinfo(isert, "rdma_headers") == f"{tree}/include"  # OFED's rdma/ib_verbs.h, not the kernel's
    assert modinfo(isert, "ofed_compat") == ok(f"cat {tree}/compat_base")  # the forced compat-2.6.h
    assert modinfo(isert, "mofed_version") == "5.0"
    ofed_crc = symvers_crc("/usr/src/ofa_kernel/default/Module.symvers", "ib_register_client")
    assert crc(isert, "ib_register_client") == ofed_crc  # OFED's Module.symvers via KBUILD_EXTRA_SYMBOLS
    assert ofed_crc != symvers_crc(f"/lib/modules/{kver}/build/Module.symvers", "ib_register_client")


def test_mlnx_ofed_info_without_the_kernel_package_fails_before_compiling(container):
    kver = container["kver"]
    # `dpkg -r` leaves the package in state rc: `dpkg -s` still exits 0, so the Makefile (as the
    # real one) takes the MOFED path and the compiler finds no compat-2.6.h.
    ok("dpkg -r mlnx-ofed-kernel-dkms >/dev/null 2>&1")
    assert sh("dpkg -s mlnx-ofed-kernel-dkms >/dev/null").returncode == 0
    top = f"/root/mofed/scst-{VERSION}"  # scst.ko is built there already
    proc = sh(f"cd {top} && make iscsi_clean >/dev/null 2>&1; make iscsi KVER={kver} 2>&1")
    assert proc.returncode != 0
    assert "compat-2.6.h: No such file or directory" in proc.stdout
    # purged: ofed_info still says MLNX_OFED, no kernel package -> the Makefile's own error
    ok("dpkg --purge mlnx-ofed-kernel-dkms >/dev/null 2>&1")
    assert ok("/usr/bin/ofed_info | head -n1").startswith(("MLNX_OFED", "OFED-internal"))
    top = fresh("purged")
    proc = sh(f"cd {top} && make iscsi KVER={kver} 2>&1")
    assert proc.returncode != 0
    assert "Error: MLNX OFED has not been installed" in proc.stdout
    assert not LINE_RE.findall(proc.stdout)
    listing = ok(f"find {top}/iscsi-scst -name '*.ko' -o -name '*.o' -o -name iscsi-scstd")
    assert listing == ""  # nothing of iscsi-scst was compiled


def test_uninstall_removes_what_install_put_under_destdir(container):
    kver, top = container["kver"], f"/root/intree/scst-{VERSION}"
    ok("dpkg --purge ofed-scripts >/dev/null 2>&1")
    ok(f"cd {top} && make iscsi_uninstall scst_uninstall KVER={kver} DESTDIR=/tmp/dest 2>&1")
    assert sh(f"ls /tmp/dest/lib/modules/{kver}/extra/*.ko").returncode != 0
    assert sh("test -e /tmp/dest/usr/local/sbin/iscsi-scstd").returncode == 1
