# SPDX-License-Identifier: GPL-3.0-or-later
"""Build a fixture MLNX_OFED DEB bundle: ``MLNX_OFED_LINUX-<ver>-<distro>-<arch>.tgz``.

The layout is the real 5.0 one (see fixtures/.../tree-listing.txt): a top directory of the bundle's name
with ``.mlnx``, ``.arch``, ``distro``, ``mlnxofedinstall``, ``uninstall.sh``, ``LICENSE``,
``docs/conf/*.conf`` (the vendor files) and ``DEBS/{COMMON,MLNX_LIBS,UPSTREAM_LIBS}`` (kernel debs in
COMMON, symlinked from both repos; ``Packages`` indexes made by ``dpkg-scanpackages``). The packages
are real ``.deb`` files: ``ofed-scripts`` and ``mlnx-ofed-kernel-dkms`` from build_mofed_debs.py,
plus ``mlnx-ofed-kernel-utils`` and the ``mlnx-ofed-kernel-only`` meta package built here. What is
real, emulated and constructed: mlnx_bundle/README.md.

Usage: ``python3 build_mlnx_bundle.py --out DIR [--distro debian12] [--arch x86_64] [--dependant-deb]``
prints the path of the .tgz (and of the dependant .deb with ``--dependant-deb``), one a line.
Shares no code with ``plugins/``. Reproducible: same inputs, same bytes.
"""
from __future__ import annotations

import argparse
import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build_mofed_debs as debs  # noqa: E402  pylint: disable=wrong-import-position

TEMPLATES = HERE / "mlnx_bundle"
REAL = debs.FIXTURES / "mlnx-ofed" / "MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64"
CONF_DIR = REAL / "bundle" / "docs" / "conf"
UTILS_DATA = REAL / "deb-data" / "mlnx-ofed-kernel-utils"
UTILS_FIELDS = debs.DPKG_DEB_DIR / "mlnx-5.0_COMMON_mlnx-ofed-kernel-utils_5.0-OFED.5.0.2.1.8.1.g5f67178_amd64_fields.txt"
KERNEL_ONLY_FIELDS = debs.DPKG_DEB_DIR / "mlnx-5.0_UPSTREAM_LIBS_mlnx-ofed-kernel-only_5.0-2.1.8.0_all_fields.txt"

DEFAULT_VERSION = "5.0-2.1.8.0"
# What mlnxofedinstall 5.0 (DEB) auto-detects on Debian 12: os-release ID + VERSION_ID = "debian" + "12".
DEFAULT_DISTRO = "debian12"
DEFAULT_ARCH = "x86_64"
MTIME = 1588769085  # 2020-05-06 12:44:45 UTC, the Date of the real bundle's Release files

# The vendor Depends minus lsof (not in the test images); mlnx-ofed-kernel-utils ships no modules.
UTILS_DEPENDS = "coreutils, pciutils, grep, procps, module-init-tools | kmod"
# The vendor Depends minus dkms, make, lsof (see build_mofed_debs.DKMS_DEPENDS); keeps
# mlnx-ofed-kernel-utils, as the real package does, since the bundle ships it.
BUNDLE_DKMS_DEPENDS = debs.DKMS_DEPENDS + ", mlnx-ofed-kernel-utils"
SHIPPED = ("ofed-scripts", "mlnx-ofed-kernel-utils", "mlnx-ofed-kernel-dkms")

# Constructed stand-ins (the vendor files are not captured or are large scripts).
OPENIBD = """#!/bin/bash
# TEST FIXTURE stand-in for /etc/init.d/openibd of mlnx-ofed-kernel-utils 5.0 (not the vendor script).
### BEGIN INIT INFO
# Provides:       openibd
# Required-Stop:  opensmd
# Default-Start:  2 3 4 5
### END INIT INFO
case "$1" in
    start|force-start|stop|force-stop|restart|force-restart)
        echo "openibd (fixture): $1: no MLNX_OFED kernel modules in this test bundle"; exit 0 ;;
    status) echo "openibd (fixture): no modules loaded"; exit 3 ;;
    *) echo "Usage: $0 {start|force-start|stop|force-stop|restart|force-restart|status}"; exit 1 ;;
esac
"""
INFO = """#!/bin/bash
# TEST FIXTURE stand-in for /etc/infiniband/info (format of the vendor script).
echo prefix=/usr
echo Kernel=$(uname -r)
echo
echo "Configure options: --with-core-mod --with-user_mad-mod --with-user_access-mod --with-addr_trans-mod \\
--with-mlx5-mod --with-ipoib-mod --with-iser-mod --with-isert-mod --with-srp-mod"
echo
"""
LICENSE = """TEST FIXTURE. This bundle was built by tests/fixture_builders/build_mlnx_bundle.py of the iser.ofed
Ansible collection (GPL-3.0-or-later). It imitates the layout and installer behaviour of an NVIDIA
MLNX_OFED_LINUX DEB bundle but contains no NVIDIA/Mellanox software; the docs/conf files are copies of
the vendor's configuration examples, kept for their package names.
"""
DEPENDANT_FIELDS = [  # Constructed: a third-party package that depends on the MLNX_OFED kernel stack.
    ("Package", "lustre-client-modules"),
    ("Version", "2.12.9-1"),
    ("Architecture", "all"),
    ("Maintainer", "iser.ofed test fixtures <fixtures@invalid>"),
    ("Installed-Size", "0"),
    ("Depends", "mlnx-ofed-kernel-dkms"),
    ("Section", "kernel"),
    ("Priority", "optional"),
    ("Description", "TEST FIXTURE: stands in for a Lustre client built against MLNX_OFED"),
]


def build_utils(work: Path, out: Path) -> Path:
    root = work / "mlnx-ofed-kernel-utils"
    for src in sorted(UTILS_DATA.rglob("*")):
        rel = src.relative_to(UTILS_DATA)
        if src.is_file() and rel.parts[0] in ("etc", "lib"):
            debs.write(root, str(rel), src.read_text(encoding="utf-8"))
    debs.write(root, "etc/init.d/openibd", OPENIBD, 0o755)
    debs.write(root, "etc/infiniband/info", INFO, 0o755)
    debs.write(root, "usr/share/doc/mlnx-ofed-kernel-utils/copyright",
               debs.COPYRIGHT.format(name="mlnx-ofed-kernel-utils"))
    fields = [(n, UTILS_DEPENDS if n == "Depends" else v) for n, v in debs.parse_fields(UTILS_FIELDS)]
    return debs.finish_and_build(root, fields, debs.DKMS_MTIME, out)


def build_kernel_only(work: Path, out: Path) -> Path:
    """The meta package: the real one Depends on ofed-scripts and the kernel packages (all kept that
    the bundle ships, with the vendor's version constraints)."""
    root = work / "mlnx-ofed-kernel-only"
    debs.write(root, "usr/share/doc/mlnx-ofed-kernel-only/copyright",
               debs.COPYRIGHT.format(name="mlnx-ofed-kernel-only"))
    fields = []
    for name, value in debs.parse_fields(KERNEL_ONLY_FIELDS):
        if name == "Depends":
            value = ", ".join(g.strip() for g in value.split(",") if g.strip().split(" ")[0] in SHIPPED)
        fields.append((name, value))
    return debs.finish_and_build(root, fields, MTIME, out)


def build_dependant(work: Path, out: Path) -> Path:
    root = work / "lustre-client-modules"
    debs.write(root, "usr/share/doc/lustre-client-modules/copyright", "TEST FIXTURE (constructed).\n")
    return debs.finish_and_build(root, DEPENDANT_FIELDS, MTIME, out)


def scan(repo: Path) -> None:
    env = dict(os.environ, LC_ALL="C")
    proc = subprocess.run(["dpkg-scanpackages", "--multiversion", "."], cwd=repo, env=env,
                          capture_output=True, text=True, check=True)
    (repo / "Packages").write_text(proc.stdout, encoding="utf-8")


def reproducible_tgz(src: Path, dest: Path) -> None:
    def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "root", "root"
        return info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        paths = [src] + sorted(src.rglob("*"))
        for path in paths:
            tar.add(path, arcname=str(path.relative_to(src.parent)), recursive=False, filter=reset)
    with open(dest, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buf.getvalue())


def build_bundle(out: Path, version: str, distro: str, arch: str) -> Path:
    name = f"MLNX_OFED_LINUX-{version}-{distro}-{arch}"
    with tempfile.TemporaryDirectory(prefix="iser-ofed-mlnx-") as tmp:
        work = Path(tmp)
        top = work / "stage" / name
        common, mlnx_libs, upstream = (top / "DEBS" / d for d in ("COMMON", "MLNX_LIBS", "UPSTREAM_LIBS"))
        for d in (common, mlnx_libs, upstream):
            d.mkdir(parents=True)
        # Templates carry no shebang in the repository (ansible-test's shebang rule); the bundle's do.
        uninstall = "#!/bin/bash\n" + (TEMPLATES / "uninstall.sh.in").read_text(encoding="utf-8")
        installer = "#!/usr/bin/python3\n" + (TEMPLATES / "mlnxofedinstall.in").read_text(encoding="utf-8")
        scripts = debs.build_ofed_scripts(work / "pkg", mlnx_libs,
                                          extra_files={"usr/sbin/ofed_uninstall.sh": (uninstall, 0o755)})
        shutil.copy2(scripts, upstream / scripts.name)
        dkms = debs.build_dkms(work / "pkg", common, depends=BUNDLE_DKMS_DEPENDS, headers="dkms")
        utils = build_utils(work / "pkg", common)
        for repo in (mlnx_libs, upstream):
            for deb in (dkms, utils):
                (repo / deb.name).symlink_to(f"../COMMON/{deb.name}")
            build_kernel_only(work / f"meta-{repo.name}", repo)
            scan(repo)
        debs.write(top, ".mlnx", version + "\n")
        debs.write(top, ".arch", arch + "\n")
        debs.write(top, "distro", distro + "\n")
        debs.write(top, "LICENSE", LICENSE)
        debs.write(top, "mlnxofedinstall", installer, 0o755)
        debs.write(top, "uninstall.sh", uninstall, 0o755)
        for conf in sorted(CONF_DIR.iterdir()):
            debs.write(top, f"docs/conf/{conf.name}", conf.read_text(encoding="utf-8"))
        for dirpath, dirnames, _files in os.walk(top):
            for d in dirnames:
                os.chmod(Path(dirpath) / d, 0o755)
        tgz = out / f"{name}.tgz"
        reproducible_tgz(top, tgz)
    return tgz


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="directory to write the .tgz to")
    parser.add_argument("--version", default=DEFAULT_VERSION, help=f"content of .mlnx (default {DEFAULT_VERSION})")
    parser.add_argument("--distro", default=DEFAULT_DISTRO, help=f"content of distro (default {DEFAULT_DISTRO})")
    parser.add_argument("--arch", default=DEFAULT_ARCH, help=f"content of .arch (default {DEFAULT_ARCH})")
    parser.add_argument("--dependant-deb", action="store_true",
                        help="also write lustre-client-modules_2.12.9-1_all.deb (Depends: mlnx-ofed-kernel-dkms)")
    args = parser.parse_args(argv)
    for tool in ("dpkg-deb", "dpkg-scanpackages"):
        if shutil.which(tool) is None:
            print(f"build_mlnx_bundle: {tool} not found (apt-get install dpkg-dev)", file=sys.stderr)
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    print(build_bundle(args.out, args.version, args.distro, args.arch))
    if args.dependant_deb:
        with tempfile.TemporaryDirectory(prefix="iser-ofed-dep-") as tmp:
            print(build_dependant(Path(tmp), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
