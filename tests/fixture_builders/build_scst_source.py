# SPDX-License-Identifier: GPL-3.0-or-later
"""Build a fixture SCST source tarball, ``scst-<version>.tar.bz2``, that behaves like SCST's for the
parts the ``iscsi_scst`` role drives. The real sources cannot be fetched in the test bed.

The tree (templates under ``scst_source/``; ``@VERSION@`` is replaced) follows SCST's own layout and
Makefiles (SCST-project/scst: top-level ``Makefile``, ``scst/src/Makefile``, ``iscsi-scst/Makefile``,
``iscsi-scst/kernel/isert-scst/Kbuild``) and the detection rules of the collection's domain notes
(docs of iscsi-scst's Makefile as of late 2026)::

    scst-<version>/Makefile                 help all install uninstall clean extraclean
                                            scst scst_install scst_uninstall scst_clean scst_extraclean
                                            iscsi iscsi_install iscsi_uninstall iscsi_clean iscsi_extraclean
                                            2release 2debug 2perf dpkg
    scst-<version>/scripts/fixture-dpkg     what `make dpkg` runs (the real one: debuild + debian/rules)
    scst-<version>/scst/src/                scst.ko (exports __scst_register_target_template ...)
    scst-<version>/iscsi-scst/kernel/       iscsi-scst.ko (uses scst's symbols: KBUILD_EXTRA_SYMBOLS)
    scst-<version>/iscsi-scst/kernel/isert-scst/   isert-scst.ko (ib_register_client: RDMA headers)
    scst-<version>/iscsi-scst/usr/          iscsi-scstd, built with $(CC) (`cc`) against libc headers

The modules are REAL: kbuild builds them against the target kernel's build tree. What the Makefiles do:

* ``KVER`` defaults to ``uname -r``, ``KDIR`` to ``/lib/modules/$KVER/build``; ``KDIR`` alone makes
  them read ``$KDIR/include/config/kernel.release``. On Debian that file holds the upstream version
  (``6.1.192``), not the package release (``6.1.0-56-amd64``): always pass ``KVER`` (as the real one).
* ``make scst`` / ``make iscsi`` (and ``*_install``) stop at the first error; ``make all`` /
  ``make install`` loop over the parts ignoring errors, as SCST's top-level Makefile does.
* OFED flavour: first line of ``/usr/bin/ofed_info`` (``MLNX_OFED``/``OFED-internal`` -> MOFED,
  ``OFED-`` -> OFED), in-tree without that file. MOFED needs ``dpkg -s mlnx-ofed-kernel-dkms`` or
  ``mlnx-ofed-kernel-modules`` (RPM: ``mlnx-ofa_kernel-devel`` / ``kernel-ib-devel``), else
  ``Error: MLNX OFED has not been installed`` (exit 2 from make, before anything is compiled);
  then ``-I/usr/src/ofa_kernel/default/include -I.../include/uapi -include
  .../include/linux/compat-2.6.h -DMOFED_MAJOR= -DMOFED_MINOR=`` and
  ``KBUILD_EXTRA_SYMBOLS=.../Module.symvers``. Classic OFED: ``rpm -q kernel-ib-devel`` /
  ``compat-rdma-devel`` containing ``uname -r`` (the RUNNING kernel) with ``-`` -> ``_``.
* ``isert-scst.ko`` only when InfiniBand is enabled for the target kernel:
  ``/lib/modules/$KVER/modules.symbols`` lists ``ib_register_client`` or ``$KDIR/.config`` has
  ``CONFIG_INFINIBAND=m|y``.
* Install: ``scst.ko`` with ``install`` into ``$DESTDIR/lib/modules/$KVER/extra`` (+ headers and
  ``Module.symvers`` into ``$DESTDIR$PREFIX/include/scst``, ``PREFIX=/usr/local``);
  ``iscsi-scst.ko``/``isert-scst.ko`` with kbuild ``modules_install`` into
  ``$INSTALL_MOD_PATH/lib/modules/<kernel release of KDIR>/extra`` (``INSTALL_MOD_PATH`` defaults to
  ``DESTDIR``); ``iscsi-scstd`` into ``$DESTDIR/usr/local/sbin``. ``scst_install`` runs depmod
  (on ``$DESTDIR`` when set); ``iscsi_install`` passes ``DEPMOD=true`` to kbuild when ``DESTDIR`` or
  ``INSTALL_MOD_PATH`` is set, as the real one: run ``depmod -a <kver>`` after installing.
* ``make dpkg`` (as SCST's): refuses without ``$DEBEMAIL`` / ``$DEBFULLNAME``; the kernel comes from
  ``DEB_KVER_SET`` / ``DEB_KDIR_SET`` (debian/rules; debuild drops make's command line), empty means the
  running kernel; builds in release mode (``make 2release``, ``make 2debug`` afterwards), installs with
  ``PREFIX=/usr DESTDIR=debian/tmp`` and makes, with ``dpkg-deb``, the packages of SCST's debian/control:
  ``scst_<V>-1_<arch>.deb`` (the three modules in ``/lib/modules/<kver>/extra``, postinst ``depmod
  <kver>``, preinst removes ``make install``'s ``/usr/local`` files), ``scst-dev_<V>-1_all.deb``
  (``/usr/include/scst``), ``iscsi-scst_<V>-1_<arch>.deb`` (``/usr/sbin/iscsi-scstd``) and
  ``scst-dkms_<V>-1_all.deb`` (``/usr/src/scst-<V>`` with ``dkms.conf``; Depends: dkms), written to ``../``
  and moved into ``dpkg/``. ``<V>`` is the version of ``scst_const.h`` (a git checkout appends
  ``.<commits>``, as the real one).
* A removed but not purged ``mlnx-ofed-kernel-dkms`` (dpkg state ``rc``) still passes ``dpkg -s``:
  the Makefile takes the MOFED path and the compiler then misses ``compat-2.6.h`` (as the real one).

Build output (for tools and logs), one line per ``make iscsi`` / ``make -C iscsi-scst mods``::

    iscsi-scst: OFED_FLAVOR=<MOFED|OFED|in-tree> KVER=<kver> KDIR=<dir> isert-scst=<yes|no> headers: <dir>

where ``<dir>`` is ``/usr/src/ofa_kernel/default/include`` (MOFED), ``/usr/src/ofa_kernel/include`` or
``/usr/src/compat-rdma/include`` (OFED) or ``in-tree (<KDIR>)``. When IB is off a second line says
``InfiniBand is not enabled for kernel <kver> ...: not building isert-scst.``

Proof inside the modules (``modinfo -F <field> isert-scst.ko``): ``ofed_flavor`` (from the Makefile),
``rdma_headers`` (a macro of the ``<rdma/ib_verbs.h>`` that was really included: the MLNX_OFED tree's
path, e.g. ``/usr/src/ofa_kernel/x86_64/6.1.0-56-amd64/include``, as the fixture
``mlnx-ofed-kernel-dkms`` writes it, or ``in-tree <UTS_RELEASE>``), ``ofed_compat`` (``COMPAT_BASE``
of the forced ``compat-2.6.h``, ``none`` without), ``mofed_version`` (``<major>.<minor>`` or ``none``);
``version`` is the SCST version. ``modprobe --dump-modversions`` shows the CRC of
``ib_register_client`` taken from the Module.symvers the build used. ``scst.ko`` has
``scst_build_mode`` (debug/release/perf; ``make 2release`` switches it).

Build prerequisites on a Debian 12 target (what a real SCST build needs too): ``make``, the kernel's
``linux-headers-<kver>`` (which bring gcc-12 and kbuild), and for ``iscsi-scstd`` the ``gcc`` package
(``cc``) and ``libc6-dev``. ``libelf-dev`` is not needed for modules against Debian's headers.

Usage: ``python3 build_scst_source.py --out DIR [--version 3.8.0]`` prints the tarball's path.
Importable: ``build(out: Path, version: str = "3.8.0") -> Path``. The tarball is reproducible (fixed
mtimes, owners and order; bzip2 has no timestamp): the same inputs give the same bytes.
Shares no code with ``plugins/``: this is test data, built independently of the code it tests.
"""
from __future__ import annotations

import argparse
import io
import re
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "scst_source"
DEFAULT_VERSION = "3.8.0"
MTIME = 1735689600  # 2025-01-01 00:00 UTC
VERSION_RE = re.compile(r"^[0-9]+(\.[0-9]+){1,3}$")


def tree_files(version: str) -> list[tuple[str, bytes]]:
    """(path relative to the top dir, content) for every template, sorted, ``@VERSION@`` replaced."""
    files = []
    for path in sorted(p for p in TEMPLATES.rglob("*") if p.is_file()):
        rel = path.relative_to(TEMPLATES).as_posix()
        files.append((rel, path.read_bytes().replace(b"@VERSION@", version.encode("ascii"))))
    if not files:
        raise SystemExit(f"build_scst_source: no templates under {TEMPLATES}")
    return files


def _info(name: str, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if directory:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o644
    return info


def build(out: Path, version: str = DEFAULT_VERSION) -> Path:
    """Write ``out/scst-<version>.tar.bz2`` (top directory ``scst-<version>/``) and return its path."""
    if not VERSION_RE.match(version):
        raise ValueError(f"version {version!r} is not a dotted release number like 3.8.0")
    top = f"scst-{version}"
    files = tree_files(version)
    dirs = sorted({top} | {f"{top}/{parent.as_posix()}" for rel, _data in files
                           for parent in Path(rel).parents if parent.as_posix() != "."})
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{top}.tar.bz2"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:bz2", format=tarfile.GNU_FORMAT) as tar:
        for name in dirs:
            tar.addfile(_info(name, directory=True))
        for rel, data in files:
            tar.addfile(_info(f"{top}/{rel}", len(data)), io.BytesIO(data))
    target.write_bytes(buffer.getvalue())
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="directory to write the tarball to")
    parser.add_argument("--version", default=DEFAULT_VERSION, help=f"SCST version (default {DEFAULT_VERSION})")
    args = parser.parse_args(argv)
    try:
        print(build(args.out, args.version))
    except ValueError as exc:
        print(f"build_scst_source: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
