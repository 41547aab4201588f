# SPDX-License-Identifier: GPL-3.0-or-later
"""Build fixture MLNX_OFED 5.0 ``.deb`` packages: ``ofed-scripts`` and ``mlnx-ofed-kernel-dkms``.

They are REAL Debian packages made with ``dpkg-deb --build``, so ``dpkg -i``, ``dpkg-query``,
``dpkg -s`` and ``dpkg -L`` behave on a test host exactly as they do with the vendor's packages.
They are modelled on the packages of MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64, whose control
stanzas and file lists were captured with ``dpkg-deb -f`` / ``dpkg-deb -c`` (copies under
``fixtures/mlnx-ofed/.../dpkg-deb/``):

* control fields are read from those captures; ``Package``, ``Version``, ``Architecture``,
  ``Maintainer``, ``Description`` (and every other field) stay as the vendor wrote them, except:
  ``Installed-Size`` is recomputed for our smaller payload, and the dkms package's ``Depends`` is
  reduced to what the Debian 12 test images have (see ``DKMS_DEPENDS``);
* ``/usr/bin/ofed_info`` behaves like the vendor's script (same output, same exit codes; compared
  with the captured runs under ``fixtures/captured/ofed_info/`` by the contract tests);
* every other file is a small stand-in: only paths the preflight looks at are shipped;
* ``/usr/src/ofa_kernel/`` ships empty, as the vendor's; the postinst emulates the DKMS build and
  ``ofed_scripts/dkms_ofed_post_build.sh``: for every ``/lib/modules/<k>`` with a ``build`` dir it
  writes placeholder modules under ``updates/dkms/`` and the header tree
  ``/usr/src/ofa_kernel/<arch>/<k>/`` (``include/linux/compat-2.6.h``, ``include/rdma/ib_verbs.h``,
  ``include/uapi/rdma/``, ``Module.symvers`` in the kernel 6.1 format, ``compat_base``), and
  registers it as the ``ofa_kernel_headers`` alternative ``/usr/src/ofa_kernel/default`` (priority
  17); the prerm/postrm remove them. The headers define proof macros (``COMPAT_BASE``,
  ``OFA_KERNEL_RDMA_HEADERS``) that the fixture SCST tree (build_scst_source.py) records in
  isert-scst.ko. ``build_dkms(..., headers="payload")`` (the Python default, used by
  build_mlnx_bundle.py) keeps the older layout: ``default/`` shipped in the payload.

Shares no code with ``plugins/``: this is test data, built independently of the code it tests.

Usage: ``python3 build_mofed_debs.py --out DIR`` prints the path of each built package, one a line.
The build is reproducible (fixed mtimes, ``SOURCE_DATE_EPOCH``): the same inputs give the same bytes.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
DPKG_DEB_DIR = FIXTURES / "mlnx-ofed" / "MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64" / "dpkg-deb"
OFED_INFO_DIR = FIXTURES / "captured" / "ofed_info"

OFED_SCRIPTS_FIELDS = DPKG_DEB_DIR / "mlnx-5.0_MLNX_LIBS_ofed-scripts_5.0-OFED.5.0.2.1.8_amd64_fields.txt"
DKMS_FIELDS = DPKG_DEB_DIR / "mlnx-5.0_COMMON_mlnx-ofed-kernel-dkms_5.0-OFED.5.0.2.1.8.1.g5f67178_all_fields.txt"
# `ofed_info -l` of a host where only ofed-scripts is installed: the listing the script prints.
OFED_INFO_LISTING = OFED_INFO_DIR / "mlnx-5.0-deb_l.txt"
OFED_INFO_S = OFED_INFO_DIR / "mlnx-5.0-deb_s.txt"
OFED_INFO_N = OFED_INFO_DIR / "mlnx-5.0-deb_n.txt"
# BUILT_MODULE_NAME / PACKAGE_* lines of the vendor package's dkms.conf (captured with grep).
DKMS_MODULE_TABLE = (FIXTURES / "mlnx-ofed" / "MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64" / "deb-data"
                     / "mlnx-ofed-kernel-dkms" / "mlnx-ofed-kernel-5.0" / "dkms_conf_module_table.txt")
# /usr/src/mlnx-ofed-kernel-5.0/compat_base of the vendor package (bytes unchanged, no trailing newline).
COMPAT_BASE_FILE = DKMS_MODULE_TABLE.parent / "compat_base"

# The real Depends is "dkms, make, coreutils, pciutils, grep, procps, module-init-tools | kmod, lsof,
# mlnx-ofed-kernel-utils". dkms, make, lsof and mlnx-ofed-kernel-utils are not in the test images (and
# installing dkms would try to build the modules), so the fixture keeps only the dependencies the
# images satisfy; `dpkg -i` then configures the package without --force-depends.
DKMS_DEPENDS = "coreutils, pciutils, grep, procps, module-init-tools | kmod"

# mtimes of the files in the vendor packages (from the `dpkg-deb -c` captures).
OFED_SCRIPTS_MTIME = 1483893600  # 2017-01-08 16:40 UTC
DKMS_MTIME = 1356961080  # 2012-12-31 13:38 UTC

HEADER_MARKER = "OFED_INFO_LISTING_END"
USAGE = """Usage: $0 [options]

Options:
    -s       Show package name and version number.
    -n       Show numerical version number only.
    -l       List installed packages details (Default option).
"""

# Constructed (not vendor bytes): a stand-in for the real 3867-byte compat-2.6.h. iscsi-scst's Makefile
# only needs the file to exist (it forces it in with -include).
COMPAT_H = """\
/* Constructed test fixture, not the MLNX_OFED file: stands in for
 * mlnx-ofed-kernel 5.0 include/linux/compat-2.6.h so that build checks find it. */
#ifndef LINUX_26_COMPAT_H
#define LINUX_26_COMPAT_H
#define COMPAT_BASE "mlnx-ofed-kernel-5.0 fixture"
#endif /* LINUX_26_COMPAT_H */
"""

# Constructed: Module.symvers lines in the kernel 6.1 format (crc, symbol, module, export, namespace);
# CRC values are invented. In a real install the DKMS build writes this file.
MODULE_SYMVERS = """\
0x5b3e3d2a\tib_register_client\tdrivers/infiniband/core/ib_core\tEXPORT_SYMBOL\t
0x6f8e2c11\tib_unregister_client\tdrivers/infiniband/core/ib_core\tEXPORT_SYMBOL\t
0x1a2b3c4d\trdma_create_id\tdrivers/infiniband/core/rdma_cm\tEXPORT_SYMBOL\t
"""

COPYRIGHT = """\
This package is a TEST FIXTURE built by tests/fixture_builders/build_mofed_debs.py of the iser.ofed
Ansible collection. It carries the name, version and control fields of the {name} package of
MLNX_OFED_LINUX-5.0-2.1.8.0, but none of its code. It is not Mellanox/NVIDIA software.
"""


def dkms_module_names() -> list[str]:
    """BUILT_MODULE_NAME values of the vendor dkms.conf, in order, without repeats."""
    names: list[str] = []
    for line in DKMS_MODULE_TABLE.read_text(encoding="utf-8").splitlines():
        key, _eq, value = line.partition("=")
        if key.startswith("BUILT_MODULE_NAME[") and value not in names:
            names.append(value)
    if not names:
        raise SystemExit(f"no BUILT_MODULE_NAME in {DKMS_MODULE_TABLE}")
    return names


# EMULATED DKMS build. The vendor postinst runs `dkms add/build/install` for every installed kernel that
# has headers; Debian's dkms installs the built modules flat under /lib/modules/<k>/updates/dkms/ and runs
# depmod. DKMS cannot compile in the test containers, so the fixture writes one placeholder file (not an
# ELF module: it cannot be loaded) per BUILT_MODULE_NAME of the vendor dkms.conf, for every
# /lib/modules/<k> with a build dir, then runs depmod (which logs "Exec format error" for the
# placeholders and exits 0). ${DPKG_ROOT} is honoured (`dpkg --root --force-script-chrootless`).
DKMS_POSTINST = """\
#!/bin/sh
# TEST FIXTURE (emulated DKMS build of mlnx-ofed-kernel {release}): writes placeholder modules and the
# header tree of ofed_scripts/dkms_ofed_post_build.sh, builds nothing.
set -e
MODULES="{modules}"
if [ "$1" = configure ]; then
    for dir in "$DPKG_ROOT"/lib/modules/*; do
        [ -d "$dir/build" ] || continue
        kver=${{dir##*/}}
        mkdir -p "$dir/updates/dkms"
        for mod in $MODULES; do
            printf 'TEST FIXTURE placeholder for %s.ko of mlnx-ofed-kernel {release} (emulated DKMS build for %s)\\n' \\
                "$mod" "$kver" > "$dir/updates/dkms/$mod.ko"
        done
        if command -v depmod >/dev/null 2>&1; then
            depmod -b "${{DPKG_ROOT:-/}}" -a "$kver" || true
        fi
{headers}
    done
fi
exit 0
"""
DKMS_POSTRM = """\
#!/bin/sh
# TEST FIXTURE (emulated `dkms remove` of mlnx-ofed-kernel {release}): deletes the placeholder modules.
set -e
MODULES="{modules}"
if [ "$1" = remove ] || [ "$1" = purge ]; then
    for dir in "$DPKG_ROOT"/lib/modules/*; do
        [ -d "$dir/updates/dkms" ] || continue
        kver=${{dir##*/}}
        for mod in $MODULES; do
            rm -f "$dir/updates/dkms/$mod.ko"
        done
        rmdir "$dir/updates/dkms" "$dir/updates" 2>/dev/null || true
        if [ -d "$dir/kernel" ] && command -v depmod >/dev/null 2>&1; then
            depmod -b "${{DPKG_ROOT:-/}}" -a "$kver" || true
        fi
    done
fi
exit 0
"""


# Emulated header removal of the vendor prerm (remove/upgrade/deconfigure): drop the alternatives of
# priority 17 that dkms_ofed_post_build.sh registered and their header trees. (The vendor prerm means
# to do this but loops over a misspelt variable; the fixture does what it intends.)
DKMS_PRERM = """\
#!/bin/sh
# TEST FIXTURE (emulated prerm of mlnx-ofed-kernel-dkms 5.0): removes the DKMS-built header trees.
set -e
case "$1" in
    remove|upgrade|deconfigure)
        arch=$(uname -m)
        for dir in "$DPKG_ROOT"/usr/src/ofa_kernel/"$arch"/*; do
            [ -f "$dir/include/linux/compat-2.6.h" ] || continue
            update-alternatives --root "${DPKG_ROOT:-/}" --quiet --remove ofa_kernel_headers \\
                "/usr/src/ofa_kernel/$arch/${dir##*/}" || true
            rm -rf "$dir"
        done
        rmdir "$DPKG_ROOT/usr/src/ofa_kernel/$arch" 2>/dev/null || true
        if [ -L "$DPKG_ROOT/usr/src/ofa_kernel/default" ] && [ ! -e "$DPKG_ROOT/usr/src/ofa_kernel/default" ]; then
            rm -f "$DPKG_ROOT/usr/src/ofa_kernel/default"
        fi
        ;;
esac
exit 0
"""

# Constructed headers written by the emulated DKMS build (the vendor build copies its backported
# include/ tree there). They carry proof macros: the fixture SCST tree records OFA_KERNEL_RDMA_HEADERS
# and COMPAT_BASE in isert-scst.ko (modinfo), so a build shows which headers it really included.
# ${hdr} (the tree's path) and ${kver} are expanded by the maintainer script.
OFA_COMPAT_H = """\
/* Constructed test fixture, not the MLNX_OFED file: stands in for include/linux/compat-2.6.h of
 * mlnx-ofed-kernel 5.0 as its DKMS build installs it (built for kernel ${kver}). */
#ifndef LINUX_26_COMPAT_H
#define LINUX_26_COMPAT_H
#define COMPAT_BASE "@COMPAT_BASE@"
#define OFA_KERNEL_KVER "${kver}"
#endif /* LINUX_26_COMPAT_H */
"""
OFA_IB_VERBS_H = """\
/* Constructed test fixture, not the MLNX_OFED file: stands in for the backported
 * include/rdma/ib_verbs.h of mlnx-ofed-kernel 5.0 (built for kernel ${kver}). */
#ifndef IB_VERBS_H
#define IB_VERBS_H
#define OFA_KERNEL_RDMA_HEADERS "${hdr}/include"
struct ib_device;
struct ib_client {
    const char *name;
    int (*add)(struct ib_device *device);
    void (*remove)(struct ib_device *device, void *client_data);
};
int ib_register_client(struct ib_client *client);
void ib_unregister_client(struct ib_client *client);
#endif /* IB_VERBS_H */
"""
# Constructed Module.symvers rows in the kernel 6.1 format (crc, symbol, module, export type,
# namespace); CRCs invented (they differ from the Debian kernel's, so a build shows which file it used).
OFA_SYMVERS_MODULE_DIR = "/var/lib/dkms/mlnx-ofed-kernel/5.0/build"
OFA_SYMVERS = [
    ("0x5b3e3d2a", "ib_register_client", "drivers/infiniband/core/ib_core", "EXPORT_SYMBOL"),
    ("0x6f8e2c11", "ib_unregister_client", "drivers/infiniband/core/ib_core", "EXPORT_SYMBOL"),
    ("0x2c9d1e77", "ib_alloc_pd_user", "drivers/infiniband/core/ib_core", "EXPORT_SYMBOL"),
    ("0x1a2b3c4d", "rdma_create_id", "drivers/infiniband/core/rdma_cm", "EXPORT_SYMBOL"),
    ("0x7e1f0b95", "rdma_listen", "drivers/infiniband/core/rdma_cm", "EXPORT_SYMBOL"),
    ("0x0c5d7a31", "mlx_compat_ver", "compat/mlx_compat", "EXPORT_SYMBOL"),
]


def dkms_headers_script() -> str:
    """Shell lines (inside the postinst's per-kernel loop, $kver set) emulating
    ofed_scripts/dkms_ofed_post_build.sh: copy the build's headers and Module.symvers to
    /usr/src/ofa_kernel/<arch>/<kver> and point /usr/src/ofa_kernel/default at it through the
    ofa_kernel_headers alternative (priority 17), as the vendor script does."""
    compat_base = COMPAT_BASE_FILE.read_text(encoding="ascii")
    if not compat_base or "'" in compat_base or "\n" in compat_base:
        raise SystemExit(f"unexpected content of {COMPAT_BASE_FILE}")
    symvers = "".join(
        f"        printf '%s\\t%s\\t%s\\t%s\\t\\n' {crc} {sym} {OFA_SYMVERS_MODULE_DIR}/{mod} {kind}\n"
        for crc, sym, mod, kind in OFA_SYMVERS)
    return (
        "        # dkms_ofed_post_build.sh (emulated): this kernel's headers for other modules to build on.\n"
        "        hdr=/usr/src/ofa_kernel/$(uname -m)/$kver\n"
        '        rm -rf "$DPKG_ROOT$hdr"\n'
        '        mkdir -p "$DPKG_ROOT$hdr/include/linux" "$DPKG_ROOT$hdr/include/rdma" "$DPKG_ROOT$hdr/include/uapi/rdma"\n'
        f"        printf '%s' '{compat_base}' > \"$DPKG_ROOT$hdr/compat_base\"\n"
        '        cat > "$DPKG_ROOT$hdr/include/linux/compat-2.6.h" <<EOF\n'
        + OFA_COMPAT_H.replace("@COMPAT_BASE@", compat_base) + "EOF\n"
        '        cat > "$DPKG_ROOT$hdr/include/rdma/ib_verbs.h" <<EOF\n'
        + OFA_IB_VERBS_H + "EOF\n"
        "        {\n" + symvers + '        } > "$DPKG_ROOT$hdr/Module.symvers"\n'
        '        mkdir -p "$DPKG_ROOT/etc/alternatives" "$DPKG_ROOT/var/lib/dpkg/alternatives"\n'
        '        update-alternatives --root "${DPKG_ROOT:-/}" --quiet --install /usr/src/ofa_kernel/default \\\n'
        '            ofa_kernel_headers "$hdr" 17'
    )


def parse_fields(path: Path) -> list[tuple[str, str]]:
    """Parse a control stanza (``dpkg-deb -f`` output) into ordered (field, value) pairs."""
    fields: list[tuple[str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        if line[0] in " \t":
            name, value = fields[-1]
            fields[-1] = (name, value + "\n" + line)
            continue
        name, value = line.split(":", 1)
        fields.append((name, value.strip()))
    return fields


def ofed_info_script() -> str:
    """The fixture /usr/bin/ofed_info: prints what the vendor's 5.0 script prints."""
    captured = OFED_INFO_LISTING.read_text(encoding="utf-8")
    trailer = "Installed Packages:\n-------------------\n"
    listing, found, rest = captured.partition(trailer)
    if not found or HEADER_MARKER in listing or rest.strip():
        raise SystemExit(f"unexpected layout of {OFED_INFO_LISTING}")
    line_s = OFED_INFO_S.read_text(encoding="utf-8").strip()
    line_n = OFED_INFO_N.read_text(encoding="utf-8").strip()
    # After the listing the vendor script prints the kernel packages that are installed, as
    # `dpkg -l` rows (captured: a row for mlnx-ofed-kernel-utils once it is installed, nothing
    # while only ofed-scripts is), then an empty line. Which packages it lists beyond
    # mlnx-ofed-kernel-utils is not captured; the fixture lists the mlnx-ofed-kernel-* family.
    return (
        "#!/bin/bash\n"
        "# Test fixture modelled on ofed_info of MLNX_OFED 5.0-2.1.8 (ofed-scripts 5.0-OFED.5.0.2.1.8).\n"
        "usage()\n{\n\tcat <<EOF\n" + USAGE + "EOF\n}\n"
        f'if [ "X$1" == "X-s" ]; then echo {line_s}; exit 0; fi\n'
        f'if [ "X$1" == "X-n" ]; then echo {line_n}; exit 0; fi\n'
        'if [ "X$1" != "X-l" ] && [ "X$1" != "X" ]; then usage; exit 1; fi\n'
        f"cat <<'{HEADER_MARKER}'\n{listing}{HEADER_MARKER}\n"
        "echo 'Installed Packages:'\n"
        "echo '-------------------'\n"
        "rows=$(dpkg -l 'mlnx-ofed-kernel-*' 2>/dev/null | grep '^ii')\n"
        'echo "$rows"\n'
        "echo\n"
    )


def write(root: Path, rel: str, content: str, mode: int = 0o644) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    path.chmod(mode)


def installed_size_kib(root: Path) -> int:
    """Installed-Size as dpkg-gencontrol computes it: KiB per file rounded up, 1 per dir/link."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath).relative_to(root).parts[:1] == ("DEBIAN",):
            continue
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink() or path.is_dir():
                total += 1 if name != "DEBIAN" else 0
            else:
                total += (path.stat().st_size + 1023) // 1024
    return total


def finish_and_build(root: Path, fields: list[tuple[str, str]], mtime: int, out: Path,
                     scripts: dict[str, str] | None = None) -> Path:
    """Write DEBIAN/control + md5sums (+ ``scripts``: {maintainer script name: text}), fix modes and
    mtimes, run dpkg-deb --build."""
    md5 = []
    for dirpath, _dirs, filenames in os.walk(root):
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not path.is_symlink():
                md5.append((hashlib.md5(path.read_bytes()).hexdigest(), str(path.relative_to(root))))
    size = installed_size_kib(root)
    control = []
    for name, value in fields:
        if name == "Installed-Size":
            value = str(size)
        control.append(f"{name}: {value}")
    debian = root / "DEBIAN"
    debian.mkdir(mode=0o755)
    write(root, "DEBIAN/control", "\n".join(control) + "\n")
    write(root, "DEBIAN/md5sums", "".join(f"{h}  {p}\n" for h, p in sorted(md5, key=lambda x: x[1])))
    for name, text in sorted((scripts or {}).items()):
        write(root, f"DEBIAN/{name}", text, 0o755)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            os.chmod(Path(dirpath) / name, 0o755)
        for name in dirnames + filenames:
            os.utime(Path(dirpath) / name, (mtime, mtime), follow_symlinks=False)
    os.utime(root, (mtime, mtime))
    package = dict(fields)
    deb = out / f"{package['Package']}_{package['Version']}_{package['Architecture']}.deb"
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(mtime))
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(deb)],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )
    return deb


def build_ofed_scripts(work: Path, out: Path, extra_files: dict[str, tuple[str, int]] | None = None) -> Path:
    """``extra_files``: {relative path: (content, mode)} added to the payload (default: none)."""
    root = work / "ofed-scripts"
    write(root, "usr/bin/ofed_info", ofed_info_script(), 0o755)
    for rel, (content, mode) in (extra_files or {}).items():
        write(root, rel, content, mode)
    write(root, "usr/share/doc/ofed-scripts/copyright", COPYRIGHT.format(name="ofed-scripts"))
    return finish_and_build(root, parse_fields(OFED_SCRIPTS_FIELDS), OFED_SCRIPTS_MTIME, out)


def dkms_scripts(release: str, headers_script: str = "        :") -> dict:
    """The emulated DKMS ``postinst``/``postrm`` of mlnx-ofed-kernel-dkms ``release`` for the modules of the
    captured dkms.conf; ``headers_script`` is the shell run per kernel after depmod (``:`` = none)."""
    modules = " ".join(dkms_module_names())
    return {"postinst": DKMS_POSTINST.format(release=release, modules=modules, headers=headers_script),
            "postrm": DKMS_POSTRM.format(release=release, modules=modules)}


def build_dkms(work: Path, out: Path, depends: str = DKMS_DEPENDS, headers: str = "payload") -> Path:
    """``depends``: the Depends field (default ``DKMS_DEPENDS``, what the bare test images satisfy).

    ``headers``: where ``/usr/src/ofa_kernel/default`` comes from.
    ``"dkms"`` (as the vendor package): the payload ships ``/usr/src/ofa_kernel/`` empty and the
    emulated DKMS build of the postinst writes ``/usr/src/ofa_kernel/<arch>/<kver>/`` (include/,
    compat-2.6.h, rdma/ib_verbs.h, uapi/, Module.symvers, compat_base) for every kernel with a
    build dir, and the ofa_kernel_headers alternative ``default`` -> it; the prerm removes them.
    ``"payload"`` (older fixture, still the default for the bundle builder): the package ships
    ``default/include/linux/compat-2.6.h`` and ``default/Module.symvers`` itself.
    """
    if headers not in ("dkms", "payload"):
        raise ValueError(f"headers must be 'dkms' or 'payload', not {headers!r}")
    root = work / "mlnx-ofed-kernel-dkms"
    src = "usr/src/mlnx-ofed-kernel-5.0"
    write(root, "usr/share/dkms/modules_to_force_install/mlnx-ofed-kernel.force", "mlnx-ofed-kernel\n")
    write(root, "usr/share/doc/mlnx-ofed-kernel-dkms/copyright", COPYRIGHT.format(name="mlnx-ofed-kernel-dkms"))
    write(root, f"{src}/include/linux/compat-2.6.h", COMPAT_H)
    (root / "usr/src/ofa_kernel-5.0").symlink_to("mlnx-ofed-kernel-5.0")
    if headers == "dkms":
        (root / "usr/src/ofa_kernel").mkdir(parents=True)
        scripts = dkms_scripts("5.0", dkms_headers_script())
        scripts["prerm"] = DKMS_PRERM
    else:
        # The vendor package ships /usr/src/ofa_kernel/ empty; its DKMS build fills it. This mode
        # ships the result (default/) directly.
        write(root, "usr/src/ofa_kernel/default/include/linux/compat-2.6.h", COMPAT_H)
        write(root, "usr/src/ofa_kernel/default/Module.symvers", MODULE_SYMVERS)
        scripts = dkms_scripts("5.0")
    fields = [(n, depends if n == "Depends" else v) for n, v in parse_fields(DKMS_FIELDS)]
    return finish_and_build(root, fields, DKMS_MTIME, out, scripts=scripts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="directory to write the .deb files to")
    args = parser.parse_args(argv)
    if shutil.which("dpkg-deb") is None:
        print("build_mofed_debs: dpkg-deb not found (apt-get install dpkg)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="iser-ofed-debs-") as tmp:
        work = Path(tmp)
        for deb in (build_ofed_scripts(work, args.out), build_dkms(work, args.out, headers="dkms")):
            print(deb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
