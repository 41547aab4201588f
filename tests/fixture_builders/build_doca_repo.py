# SPDX-License-Identifier: GPL-3.0-or-later
"""Build a signed local apt repository in the shape of NVIDIA's DOCA-Host (DOCA-OFED) repository.

NVIDIA serves DOCA-OFED as flat apt repositories at
``https://linux.mellanox.com/public/repo/doca/<doca version>/<distro>/x86_64/`` (``deb [signed-by=...]
<url>/ ./``, the key as ``doca_keyring.gpg`` in the same directory). This builder writes the same layout
under ``--out``: ``doca/2.9.1/debian12/x86_64/`` with REAL ``.deb`` files (``dpkg-deb --build``, via
build_mofed_debs.finish_and_build), a ``Packages`` index from ``dpkg-scanpackages``, ``Packages.gz``, a
``Release`` with MD5Sum/SHA1/SHA256/SHA512 hashes, and ``InRelease`` + ``Release.gpg`` signed with a test
GPG key generated at build time (exported as the binary keyring ``doca_keyring.gpg`` for ``signed-by``).

``--distro-repo`` adds ``distro/``: a second flat repository, signed with a second key
(``distro/distro_keyring.gpg``), that plays a distribution archive shipping ``libibverbs1`` at a version
that sorts HIGHER than DOCA's (to prove that apt pinning makes the DOCA package win). Its key is also the
"wrong key" for the DOCA repository.

What is real and what is constructed (details in README.md next to this file):

* package names and versions: DOCA 2.9.1 carries the OFED 24.10-1.1.4 packages; the names and versions
  of ``ofed-scripts`` (24.10.OFED.24.10.1.1.4-1), ``mlnx-ofed-kernel-dkms``/``-utils``
  (24.10.OFED.24.10.1.1.4.1-1), ``mlnx-tools`` (24.10-0.2410068) and the rdma-core family
  (2410mlnx54-1.2410068) are the file names of the vendor's 24.10-1.1.4.0 packages; ``doca-ofed`` /
  ``doca-ofed-userspace`` at ``2.9.1-018000`` follow the vendor's ``<doca>-<build>`` pattern (build
  018000 from the real ``doca-host_2.9.1-018000-24.10-*.deb`` name). The Depends lists of the two
  metapackages are CONSTRUCTED (the vendor's were not captured).
* Release ``Label``/``Suite`` ``DOCA-HOST-2.9.1``: inferred from real apt preferences (``Pin: release
  l=DOCA-HOST*``) and ``apt list`` output (``kernel-mft-dkms/DOCA-HOST-3.2.1``); no vendor Release file
  was captured. ``Origin`` says that this is a fixture.
* file payloads are stand-ins (``/usr/bin/ofed_info`` prints what a DOCA 2.9.1 host prints for ``-s``;
  the listing is constructed); every package carries a copyright file saying it is a test fixture.

Reproducible: the ``.deb`` files, ``Packages``, ``Packages.gz`` and ``Release`` are byte-identical on every
build (fixed mtimes and Date). NOT reproducible: the GPG keys (generated fresh each build), hence
``doca_keyring.gpg``, ``InRelease`` and ``Release.gpg``.

Usage: ``python3 build_doca_repo.py --out DIR [--distro-repo]`` prints the repository directory and the
keyring path, one a line (then the distro repository and its keyring with ``--distro-repo``).
Needs ``dpkg-deb``, ``dpkg-scanpackages`` (dpkg-dev) and ``gpg``. Shares no code with ``plugins/``.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build_mofed_debs as debs  # noqa: E402  pylint: disable=wrong-import-position

DOCA_VERSION = "2.9.1"
DOCA_BUILD = "018000"
META_VERSION = f"{DOCA_VERSION}-{DOCA_BUILD}"
OFED_VERSION = "24.10-1.1.4"                    # what `ofed_info -n` prints
OFED_INFO_S = f"OFED-internal-{OFED_VERSION}:"  # what `ofed_info -s` prints (real format, see README)
SCRIPTS_VERSION = "24.10.OFED.24.10.1.1.4-1"
KERNEL_VERSION = "24.10.OFED.24.10.1.1.4.1-1"
DKMS_MODULE_VERSION = KERNEL_VERSION.rsplit("-", 1)[0]  # dkms -m mlnx-ofed-kernel -v <this>
TOOLS_VERSION = "24.10-0.2410068"
RDMA_VERSION = "2410mlnx54-1.2410068"
# Constructed: Debian 12's real libibverbs1 is 44.0-2; the epoch makes the "distro" package sort higher
# than DOCA's 2410mlnx54-1.2410068 so that only pinning can make DOCA's win.
DISTRO_RDMA_VERSION = "1:44.0-2"

LABEL = f"DOCA-HOST-{DOCA_VERSION}"
DISTRO_LABEL = "Debian-fixture"
REPO_REL = Path("doca") / DOCA_VERSION / "debian12" / "x86_64"
KEYRING = "doca_keyring.gpg"
DISTRO_KEYRING = "distro_keyring.gpg"
MTIME = 1733011200  # 2024-12-01 00:00 UTC: file mtimes and the Release Date (DOCA 2.9.1 era)

MAINTAINER = "Vladimir Sokolovsky <vlad@mellanox.com>"  # as in the captured MLNX_OFED control stanzas
HOMEPAGE = "http://www.mellanox.com"
# Real Depends of mlnx-ofed-kernel-utils (24.07 debian/control) minus lsof, which the test image lacks;
# real Depends of mlnx-ofed-kernel-dkms is "dkms, mlnx-ofed-kernel-utils, libc6-dev, gcc": the fixture keeps
# dkms (its modules really build with Debian's dkms) and drops libc6-dev and gcc (kbuild needs neither for
# modules: the headers package brings gcc-12, and dkms itself depends on "gcc | c-compiler").
UTILS_DEPENDS = "coreutils, pciutils, grep, procps, module-init-tools | kmod, mlnx-tools (>= 5.2.0)"
DKMS_DEPENDS = "dkms, mlnx-ofed-kernel-utils"

# The DKMS source tree: a few of the modules of the vendor's dkms.conf (names and DEST_MODULE_LOCATION as in
# the captured 5.0 dkms.conf), each a tiny REAL module that kbuild builds against the target kernel's headers.
DKMS_MODULES = (
    ("mlx_compat", "compat", "/kernel/compat"),
    ("ib_core", "drivers/infiniband/core", "/kernel/drivers/infiniband/core"),
    ("mlx5_core", "drivers/net/ethernet/mellanox/mlx5/core", "/kernel/drivers/net/ethernet/mellanox/mlx5/core"),
    ("mlx5_ib", "drivers/infiniband/hw/mlx5", "/kernel/drivers/infiniband/hw/mlx5"),
)
DKMS_CONF_HEAD = """\
# TEST FIXTURE dkms.conf of mlnx-ofed-kernel {version} (iser.ofed build_doca_repo.py): the vendor's module
# names and locations for {count} of its modules, each a tiny module built by kbuild; not the vendor's tree.
PACKAGE_NAME="mlnx-ofed-kernel"
PACKAGE_VERSION="{version}"
MAKE[0]="make -C ${{kernel_source_dir}} M=${{dkms_tree}}/${{PACKAGE_NAME}}/${{PACKAGE_VERSION}}/build modules"
CLEAN="make -C ${{kernel_source_dir}} M=${{dkms_tree}}/${{PACKAGE_NAME}}/${{PACKAGE_VERSION}}/build clean"
AUTOINSTALL=yes
"""
MODULE_C = """\
// SPDX-License-Identifier: GPL-2.0
/* TEST FIXTURE {name}.ko of mlnx-ofed-kernel {version} (iser.ofed build_doca_repo.py): loads and does nothing. */
#include <linux/module.h>

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("iser.ofed test fixture standing in for {name} of mlnx-ofed-kernel (not NVIDIA code)");
/* A version makes dkms install it over the kernel's own module of the same name (its version check). */
MODULE_VERSION("{ofed}");

static int __init fixture_init(void)
{{
\treturn 0;
}}

static void __exit fixture_exit(void)
{{
}}

module_init(fixture_init);
module_exit(fixture_exit);
"""
# dh_dkms's postinst/prerm templates (dkms 3.0.10 debian/ "template-dkms-mkdeb", as dh_dkms inserts them):
# configure hands over to /usr/lib/dkms/common.postinst (dkms add, build and install for the kernels that have
# headers; a failed build fails the configure), remove/upgrade runs dkms remove --all.
DKMS_POSTINST = """\
#!/bin/sh
set -e
# Automatically added by dh_dkms (template as in dkms 3.0.10); TEST FIXTURE package of iser.ofed.
DKMS_NAME=mlnx-ofed-kernel
DKMS_PACKAGE_NAME=$DKMS_NAME-dkms
DKMS_VERSION={version}

postinst_found=0

case "$1" in
\tconfigure)
\t\tfor DKMS_POSTINST in /usr/lib/dkms/common.postinst /usr/share/$DKMS_PACKAGE_NAME/postinst; do
\t\t\tif [ -f $DKMS_POSTINST ]; then
\t\t\t\t$DKMS_POSTINST $DKMS_NAME $DKMS_VERSION /usr/share/$DKMS_PACKAGE_NAME "" $2
\t\t\t\tpostinst_found=1
\t\t\t\tbreak
\t\t\tfi
\t\tdone
\t\tif [ "$postinst_found" -eq 0 ]; then
\t\t\techo "ERROR: DKMS version is too old and $DKMS_PACKAGE_NAME was not"
\t\t\techo "built with legacy DKMS support."
\t\t\techo "You must either rebuild $DKMS_PACKAGE_NAME with legacy postinst"
\t\t\techo "support or upgrade DKMS to a more current version."
\t\t\texit 1
\t\tfi
\t;;
esac
exit 0
"""
DKMS_PRERM = """\
#!/bin/sh
set -e
# Automatically added by dh_dkms (template as in dkms 3.0.10); TEST FIXTURE package of iser.ofed.
DKMS_NAME=mlnx-ofed-kernel
DKMS_VERSION={version}

case "$1" in
\tremove|upgrade|deconfigure)
\t\tif [ "$(dkms status -m $DKMS_NAME -v $DKMS_VERSION)" ]; then
\t\t\tdkms remove -m $DKMS_NAME -v $DKMS_VERSION --all
\t\tfi
\t;;
esac
exit 0
"""

COPYRIGHT = """\
This package is a TEST FIXTURE built by tests/fixture_builders/build_doca_repo.py of the iser.ofed
Ansible collection. It carries the name and version of the {name} package of a DOCA-Host {doca}
repository (OFED {ofed}), but none of its code. It is not Mellanox/NVIDIA software.
"""

# Constructed listing; only the first line (= `ofed_info -s`) follows a real format.
OFED_INFO = """\
#!/bin/bash
# TEST FIXTURE modelled on ofed_info of ofed-scripts {scripts} (DOCA-Host {doca}); not the vendor script.
usage()
{{
\tcat <<EOF
{usage}EOF
}}
if [ "X$1" == "X-s" ]; then echo {line_s}; exit 0; fi
if [ "X$1" == "X-n" ]; then echo {line_n}; exit 0; fi
if [ "X$1" != "X-l" ] && [ "X$1" != "X" ]; then usage; exit 1; fi
echo {line_s}
echo
echo 'Installed Packages:'
echo '-------------------'
dpkg -l 'mlnx-ofed-kernel-*' 'doca-*' 2>/dev/null | grep '^ii'
echo
"""


def _fields(package: str, version: str, arch: str, description: str, **extra: str) -> list[tuple[str, str]]:
    fields = [("Package", package)]
    if "Source" in extra:
        fields.append(("Source", extra.pop("Source")))
    fields += [("Version", version), ("Architecture", arch), ("Maintainer", MAINTAINER),
               ("Installed-Size", "0")]
    fields += [(name.replace("_", "-"), value) for name, value in extra.items()]
    fields.append(("Description", description))
    return fields


def _package(work: Path, out: Path, fields: list[tuple[str, str]], files: dict[str, tuple[str, int]],
             scripts: dict[str, str] | None = None) -> Path:
    meta = dict(fields)
    root = work / meta["Package"]
    for rel, (content, mode) in files.items():
        debs.write(root, rel, content, mode)
    debs.write(root, f"usr/share/doc/{meta['Package']}/copyright",
               COPYRIGHT.format(name=meta["Package"], doca=DOCA_VERSION, ofed=OFED_VERSION))
    return debs.finish_and_build(root, fields, MTIME, out, scripts=scripts)


def dkms_conf() -> str:
    """dkms.conf of the fixture mlnx-ofed-kernel: one BUILT_MODULE_* / DEST_MODULE_LOCATION per module."""
    lines = [DKMS_CONF_HEAD.format(version=DKMS_MODULE_VERSION, count=len(DKMS_MODULES))]
    for index, (name, loc, dest) in enumerate(DKMS_MODULES):
        lines.append(f"BUILT_MODULE_NAME[{index}]={name}\nBUILT_MODULE_LOCATION[{index}]={loc}\n"
                     f"DEST_MODULE_LOCATION[{index}]={dest}\n")
    return "".join(lines)


def build_doca_debs(work: Path, out: Path) -> list[Path]:
    """The DOCA-shaped packages, written to ``out``."""
    built = []
    ofed_info = OFED_INFO.format(scripts=SCRIPTS_VERSION, doca=DOCA_VERSION, usage=debs.USAGE,
                                 line_s=OFED_INFO_S, line_n=OFED_VERSION)
    built.append(_package(work, out, _fields(
        "ofed-scripts", SCRIPTS_VERSION, "amd64", "MLNX_OFED utilities",
        Section="utils", Priority="extra", Homepage=HOMEPAGE),
        {"usr/bin/ofed_info": (ofed_info, 0o755)}))
    built.append(_package(work, out, _fields(
        "mlnx-tools", TOOLS_VERSION, "amd64", "Userspace tools to debug and tune mlnx-ofed kernel modules",
        Section="net", Priority="optional", Homepage=HOMEPAGE), {}))
    built.append(_package(work, out, _fields(
        "mlnx-ofed-kernel-utils", KERNEL_VERSION, "amd64",
        "Userspace tools to restart and tune mlnx-ofed kernel modules",
        Source="mlnx-ofed-kernel", Depends=UTILS_DEPENDS, Conflicts="mlnx-en-utils", Section="net",
        Priority="optional"), {}))
    # The dkms package: a real DKMS source tree (dkms.conf, Kbuild, one tiny module per DKMS_MODULES entry)
    # with dh_dkms's maintainer scripts, plus the headers + Module.symvers the vendor's DKMS POST_BUILD leaves
    # in /usr/src/ofa_kernel/default (shipped directly here: the SCST build reads them).
    src = f"usr/src/mlnx-ofed-kernel-{DKMS_MODULE_VERSION}"  # dkms: /usr/src/<module>-<version>
    compat_h = debs.COMPAT_H.replace("mlnx-ofed-kernel 5.0", "mlnx-ofed-kernel 24.10").replace(
        "mlnx-ofed-kernel-5.0 fixture", "mlnx-ofed-kernel-24.10 fixture")
    scripts = {"postinst": DKMS_POSTINST.format(version=DKMS_MODULE_VERSION),
               "prerm": DKMS_PRERM.format(version=DKMS_MODULE_VERSION)}
    dkms_files = {
        "usr/share/dkms/modules_to_force_install/mlnx-ofed-kernel.force": ("mlnx-ofed-kernel\n", 0o644),
        f"{src}/include/linux/compat-2.6.h": (compat_h, 0o644),
        f"{src}/dkms.conf": (dkms_conf(), 0o644),
        f"{src}/Kbuild": ("obj-m += " + " ".join(f"{loc}/" for _n, loc, _d in DKMS_MODULES) + "\n", 0o644),
        "usr/src/ofa_kernel/default/include/linux/compat-2.6.h": (compat_h, 0o644),
        "usr/src/ofa_kernel/default/Module.symvers": (debs.MODULE_SYMVERS, 0o644),
    }
    for name, loc, _dest in DKMS_MODULES:
        dkms_files[f"{src}/{loc}/Kbuild"] = (f"obj-m += {name}.o\n", 0o644)
        dkms_files[f"{src}/{loc}/{name}.c"] = (
            MODULE_C.format(name=name, version=DKMS_MODULE_VERSION, ofed=OFED_VERSION), 0o644)
    built.append(_package(work, out, _fields(
        "mlnx-ofed-kernel-dkms", KERNEL_VERSION, "all", "DKMS support for mlnx-ofed kernel modules",
        Source="mlnx-ofed-kernel", Depends=DKMS_DEPENDS,
        Recommends="linux-headers-amd64 | linux-headers-generic | linux-headers",
        Provides="mlnx-rdma-rxe-dkms", Conflicts="mlnx-rdma-rxe-dkms", Replaces="mlnx-rdma-rxe-dkms",
        Section="kernel", Priority="optional"), dkms_files, scripts=scripts))
    for name, depends in (("libibverbs1", None), ("ibverbs-providers", f"libibverbs1 (= {RDMA_VERSION})"),
                          ("rdma-core", None)):
        extra = {"Source": "rdma-core", "Section": "net", "Priority": "optional"}
        if depends:
            extra["Depends"] = depends
        built.append(_package(work, out, _fields(name, RDMA_VERSION, "amd64",
                                                 f"{name} (RDMA core userspace, fixture)", **extra), {}))
    userspace = ", ".join([f"ofed-scripts (= {SCRIPTS_VERSION})", f"mlnx-tools (= {TOOLS_VERSION})",
                           f"rdma-core (= {RDMA_VERSION})", f"libibverbs1 (= {RDMA_VERSION})",
                           f"ibverbs-providers (= {RDMA_VERSION})"])
    built.append(_package(work, out, _fields(
        "doca-ofed-userspace", META_VERSION, "amd64", "DOCA-OFED user space packages (meta package)",
        Depends=userspace, Section="metapackages", Priority="optional"), {}))
    kernel = ", ".join([f"doca-ofed-userspace (= {META_VERSION})", f"mlnx-ofed-kernel-dkms (= {KERNEL_VERSION})",
                        f"mlnx-ofed-kernel-utils (= {KERNEL_VERSION})"])
    built.append(_package(work, out, _fields(
        "doca-ofed", META_VERSION, "amd64", "DOCA-OFED: kernel drivers and user space (meta package)",
        Depends=kernel, Section="metapackages", Priority="optional"), {}))
    return built


def build_distro_debs(work: Path, out: Path) -> list[Path]:
    """The "distribution" side: libibverbs1 at a version that sorts above DOCA's."""
    fields = _fields("libibverbs1", DISTRO_RDMA_VERSION, "amd64", "libibverbs1 (distribution stand-in, fixture)",
                     Source="rdma-core", Section="net", Priority="optional")
    root = work / "distro-libibverbs1"
    debs.write(root, "usr/share/doc/libibverbs1/copyright",
               "TEST FIXTURE: a stand-in for a distribution's libibverbs1 (iser.ofed build_doca_repo.py).\n")
    deb = debs.finish_and_build(root, fields, MTIME, out)
    # Archives name files without the epoch (pool/.../libibverbs1_44.0-2_amd64.deb).
    return [deb.rename(deb.with_name(deb.name.replace(DISTRO_RDMA_VERSION, DISTRO_RDMA_VERSION.split(":", 1)[1])))]


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C", TZ="UTC")
    env.update(kwargs.pop("env", {}))
    return subprocess.run(argv, check=True, capture_output=True, env=env, **kwargs)


def write_index(repo: Path, label: str, suite: str) -> None:
    """Packages (dpkg-scanpackages), Packages.gz and a Release with hashes, all reproducible."""
    scan = _run(["dpkg-scanpackages", "--multiversion", "."], cwd=repo)
    (repo / "Packages").write_bytes(scan.stdout)
    with open(repo / "Packages.gz", "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(scan.stdout)
    # apt-ftparchive's Release layout (apt-utils is not on every controller, and its Date is "now").
    lines = [
        "Origin: iser.ofed test fixture (not NVIDIA)",
        f"Label: {label}",
        f"Suite: {suite}",
        time.strftime("Date: %a, %d %b %Y %H:%M:%S UTC", time.gmtime(MTIME)),
        "Architectures: amd64 all",
        "Description: TEST FIXTURE repository built by iser.ofed tests/fixture_builders/build_doca_repo.py",
    ]
    files = ("Packages", "Packages.gz")
    for field, algo in (("MD5Sum", hashlib.md5), ("SHA1", hashlib.sha1), ("SHA256", hashlib.sha256),
                        ("SHA512", hashlib.sha512)):
        lines.append(f"{field}:")
        for name in files:
            data = (repo / name).read_bytes()
            lines.append(f" {algo(data).hexdigest()} {len(data):>16} {name}")
    (repo / "Release").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for path in [repo] + list(repo.iterdir()):
        os.utime(path, (MTIME, MTIME))


def sign(repo: Path, keyring: Path, uid: str, gnupghome: Path) -> str:
    """Generate a key in ``gnupghome``, sign Release (InRelease + Release.gpg), export the public key."""
    gnupghome.mkdir(mode=0o700)
    gpg = ["gpg", "--batch", "--quiet", "--homedir", str(gnupghome), "--pinentry-mode", "loopback",
           "--passphrase", ""]
    try:
        _run(gpg + ["--quick-gen-key", uid, "ed25519", "sign", "never"])
        listing = _run(gpg + ["--with-colons", "--list-keys", uid]).stdout.decode()
        fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        keyring.write_bytes(_run(gpg + ["--export", fpr]).stdout)
        for name in ("InRelease", "Release.gpg"):
            (repo / name).unlink(missing_ok=True)
        _run(gpg + ["--local-user", fpr, "--digest-algo", "SHA512", "--clearsign", "--output",
                    str(repo / "InRelease"), str(repo / "Release")])
        _run(gpg + ["--local-user", fpr, "--digest-algo", "SHA512", "--armor", "--detach-sign", "--output",
                    str(repo / "Release.gpg"), str(repo / "Release")])
    finally:
        subprocess.run(["gpgconf", "--homedir", str(gnupghome), "--kill", "gpg-agent"],
                       capture_output=True, check=False)
    return fpr


def build(out: Path, distro: bool = False) -> list[Path]:
    """Build the repositories under ``out``; returns [repo, keyring] (+ [distro repo, distro keyring])."""
    result = []
    with tempfile.TemporaryDirectory(prefix="iser-doca-") as tmp:
        work = Path(tmp)
        plan = [(out / REPO_REL, KEYRING, build_doca_debs, LABEL, "doca")]
        if distro:
            plan.append((out / "distro", DISTRO_KEYRING, build_distro_debs, DISTRO_LABEL, "distro"))
        for repo, keyname, builder, label, tag in plan:
            if repo.exists():
                shutil.rmtree(repo)
            repo.mkdir(parents=True)
            builder(work / tag, repo)
            write_index(repo, label, label)
            keyring = repo / keyname
            sign(repo, keyring, f"iser.ofed TEST {tag} repository key (fixture, not NVIDIA)", work / f"gnupg-{tag}")
            for path in [repo] + list(repo.iterdir()):
                path.chmod(0o755 if path.is_dir() else 0o644)
            result += [repo, keyring]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="directory to write the repositories to")
    parser.add_argument("--distro-repo", action="store_true",
                        help="also build distro/: a second signed repository with a higher-versioned libibverbs1")
    args = parser.parse_args(argv)
    for tool, package in (("dpkg-deb", "dpkg"), ("dpkg-scanpackages", "dpkg-dev"), ("gpg", "gnupg")):
        if shutil.which(tool) is None:
            print(f"build_doca_repo: {tool} not found (apt-get install {package})", file=sys.stderr)
            return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for path in build(args.out.resolve(), args.distro_repo):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
