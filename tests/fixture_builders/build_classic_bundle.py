# SPDX-License-Identifier: GPL-3.0-or-later
"""Build fixture classic OFED bundles ``OFED-1.5.tgz`` and ``OFED-3.5.tgz``.

Layout, ``BUILD_ID``, ``docs/`` and ``ofed-all.conf`` are the real files (copies under
``classic_bundle/classic-ofed/``); ``SRPMS/`` holds empty files named as in the real tarballs
(tree listings); ``install.pl`` and ``uninstall.sh`` are fixture emulations of the real scripts
(``classic_bundle/install.pl.in``, ``classic_bundle/ofed_uninstall.sh.in``); ``RPMS/<dist>/<arch>/``
holds REAL binary RPMs built here with ``rpmbuild``: the kernel packages for each kernel passed
with ``--kernel`` (their release is the kernel release with ``-`` turned into ``_``, as the real
spec files do), ``ofed-scripts`` (real NVR; ``/usr/bin/ofed_info`` prints the captured output) and
one empty package for every other package the release's ofed.conf files name.

Fidelity notes: ``classic_bundle/README.md``. Shares no code with ``plugins/``.

Usage: ``python3 build_classic_bundle.py --release 3.5 --out DIR [--kernel KVER ...] [--dist NAME]``
prints the path of the built ``.tgz``.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "classic_bundle"
SOURCE_DATE_EPOCH = 1360800000  # 2013-02-14, the OFED-3.5 docs commit date

RELEASES = {
    "1.5": {
        "srpm_kernel": "ofa_kernel",
        "kernel_packages": ["kernel-ib", "kernel-ib-devel"],
        "basic_modules": ["core", "mthca", "mlx4", "mlx4_en", "cxgb3", "nes", "ehca", "qib", "ipoib"],
        "ulp_modules": ["sdp", "srp", "srpt", "rds", "qlgc_vnic", "iser", "nfsrdma"],
        "unavailable_modules": ["ehca", "qib"],
        "kernel_regex": r"2.6.9-67|2.6.9-78|2.6.9-89|2.6.16.60-[0-9.]*-[A-Za-z0-9.]*|2.6.1[8-9]|2.6.2[0-9]|2.6.3[0-2]",
        "req_inst": {"kernel-ib-devel": ["kernel-ib"]},
        "headers_dir": "/usr/src/ofa_kernel",
        "default_dist": "debian",  # 1.5 on Debian without /etc/lsb-release
        "ofed_scripts_release": "0",
        "basic_user": ["libibverbs", "libibverbs-utils", "libmthca", "libmlx4", "libehca", "libcxgb3",
                       "libnes", "libipathverbs", "librdmacm", "librdmacm-utils", "mstflint",
                       "ofed-docs", "ofed-scripts"],
    },
    "3.5": {
        "srpm_kernel": "compat-rdma",
        "kernel_packages": ["compat-rdma", "compat-rdma-devel"],
        "basic_modules": ["core", "mthca", "mlx4", "mlx4_en", "cxgb3", "cxgb4", "nes", "ehca", "qib", "ipoib"],
        "ulp_modules": ["sdp", "srp", "srpt", "rds", "qlgc_vnic", "iser", "nfsrdma"],
        "unavailable_modules": ["ehca", "sdp"],
        "kernel_regex": (r"2.6.16.60-[A-Za-z0-9.]*-[A-Za-z0-9.]*|2.6.1[8-9]|2.6.2[0-9]|2.6.3[0-9]"
                         r"|2.6.40|3.[0-5]"),
        "req_inst": {"compat-rdma": ["ofed-scripts"], "compat-rdma-devel": ["compat-rdma"]},
        "headers_dir": "/usr/src/compat-rdma",
        "default_dist": "unsupported",  # 3.5 on Debian without /etc/lsb-release
        "ofed_scripts_release": "OFED.3.5",
        "basic_user": ["libibverbs", "libibverbs-utils", "libmthca", "libmlx4", "libehca", "libcxgb3",
                       "libcxgb4", "libnes", "libipathverbs", "librdmacm", "librdmacm-utils", "mstflint",
                       "ofed-docs", "ofed-scripts"],
    },
}

# module key -> .ko files of the kernel package (paths under /lib/modules/<kver>/updates/)
MODULE_FILES = {
    "core": ["kernel/drivers/infiniband/core/ib_core.ko", "kernel/drivers/infiniband/core/ib_mad.ko",
             "kernel/drivers/infiniband/core/ib_sa.ko", "kernel/drivers/infiniband/core/ib_cm.ko",
             "kernel/drivers/infiniband/core/iw_cm.ko", "kernel/drivers/infiniband/core/rdma_cm.ko",
             "kernel/drivers/infiniband/core/ib_addr.ko", "kernel/drivers/infiniband/core/ib_uverbs.ko",
             "kernel/drivers/infiniband/core/ib_umad.ko", "kernel/drivers/infiniband/core/rdma_ucm.ko"],
    "mthca": ["kernel/drivers/infiniband/hw/mthca/ib_mthca.ko"],
    "mlx4": ["kernel/drivers/infiniband/hw/mlx4/mlx4_ib.ko", "kernel/drivers/net/mlx4/mlx4_core.ko"],
    "mlx4_en": ["kernel/drivers/net/mlx4/mlx4_en.ko"],
    "cxgb3": ["kernel/drivers/infiniband/hw/cxgb3/iw_cxgb3.ko", "kernel/drivers/net/cxgb3/cxgb3.ko"],
    "cxgb4": ["kernel/drivers/infiniband/hw/cxgb4/iw_cxgb4.ko", "kernel/drivers/net/cxgb4/cxgb4.ko"],
    "nes": ["kernel/drivers/infiniband/hw/nes/iw_nes.ko"],
    "qib": ["kernel/drivers/infiniband/hw/qib/ib_qib.ko"],
    "ipoib": ["kernel/drivers/infiniband/ulp/ipoib/ib_ipoib.ko"],
    "sdp": ["kernel/drivers/infiniband/ulp/sdp/ib_sdp.ko"],
    "srp": ["kernel/drivers/infiniband/ulp/srp/ib_srp.ko"],
    "srpt": ["kernel/drivers/infiniband/ulp/srpt/ib_srpt.ko"],
    "rds": ["kernel/net/rds/rds.ko", "kernel/net/rds/rds_rdma.ko"],
    "qlgc_vnic": ["kernel/drivers/infiniband/ulp/qlgc_vnic/qlgc_vnic.ko"],
    "iser": ["kernel/drivers/infiniband/ulp/iser/ib_iser.ko"],
    "nfsrdma": ["kernel/net/sunrpc/xprtrdma/xprtrdma.ko", "kernel/net/sunrpc/xprtrdma/svcrdma.ko"],
}

MPI_PARENTS = {"mvapich_": "mvapich", "mvapich2_": "mvapich2", "openmpi_": "openmpi", "mpitests_": "mpitests"}
SUFFIXES = ("-devel-static", "-devel", "-utils", "-static", "-debuginfo", "-libs")
SPECIAL_PARENTS = {"rds-devel": "rds-tools", "qlgc_vnic_daemon": "qlvnictools", "ibvexdmtools": "qlvnictools"}


def release_dir(release: str) -> Path:
    return DATA / "classic-ofed" / f"OFED-{release}"


def srpm_names(release: str) -> list[str]:
    """SRPM file names from the real tree listing (``mode size path``)."""
    names = []
    for line in (release_dir(release) / "tree-listing.txt").read_text().splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[2].startswith("SRPMS/") and parts[2].endswith(".src.rpm"):
            names.append(parts[2][len("SRPMS/"):])
    return sorted(names)


def srpm_table(release: str) -> dict[str, tuple[str, str]]:
    """SRPM name -> (version, release), parsed from ``name-version-release.src.rpm``."""
    table = {}
    for fname in srpm_names(release):
        m = re.match(r"^(.+)-([^-]+)-([^-]+)\.src\.rpm$", fname)
        if m:
            table[m.group(1)] = (m.group(2), m.group(3))
    return table


def conf_keys(path: Path) -> list[str]:
    keys = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#") or "=" not in line:
            continue
        keys.append(line.split("=", 1)[0])
    return keys


def parent_of(package: str, release: str, srpms: dict[str, tuple[str, str]]) -> str | None:
    cfg = RELEASES[release]
    if package in cfg["kernel_packages"]:
        return cfg["srpm_kernel"]
    if package in SPECIAL_PARENTS:
        return SPECIAL_PARENTS[package]
    if package in srpms:
        return package
    for prefix, parent in MPI_PARENTS.items():
        if package.startswith(prefix):
            return parent
    for suffix in SUFFIXES:
        if package.endswith(suffix) and package[: -len(suffix)] in srpms:
            return package[: -len(suffix)]
        if package.endswith(suffix):
            return package[: -len(suffix)]
    return package if not package.startswith("ib-bonding") else "ib-bonding"


def package_list(release: str) -> list[str]:
    """Every package key (not module, not setting) of the release's ofed.conf files, in order."""
    cfg = RELEASES[release]
    modules = set(cfg["basic_modules"] + cfg["ulp_modules"])
    seen: list[str] = []
    for path in (release_dir(release) / "docs" / "ofed.conf-example", release_dir(release) / "ofed-all.conf"):
        for key in conf_keys(path):
            if key not in modules and key not in seen:
                seen.append(key)
    kernel = cfg["kernel_packages"]
    return kernel + [p for p in seen if p not in kernel]


def _perl_list(items) -> str:
    return ", ".join(f"'{i}'" for i in items)


def _perl_hash_of_lists(mapping: dict[str, list[str]]) -> str:
    return ", ".join(f"'{k}' => [{_perl_list(v)}]" for k, v in mapping.items())


def render_install_pl(release: str) -> str:
    cfg = RELEASES[release]
    srpms = srpm_table(release)
    packages = package_list(release)
    modules = cfg["basic_modules"] + cfg["ulp_modules"]
    requires = {m: (["core", "ipoib"] if m in ("sdp", "srp", "rds") else ([] if m == "core" else ["core"]))
                for m in modules}
    available = ", ".join(f"'{m}' => {0 if m in cfg['unavailable_modules'] else 1}" for m in modules)
    parents = ", ".join(f"'{p}' => '{parent_of(p, release, srpms)}'" for p in packages)
    hpc_prefixes = ("librdmacm", "compat-dapl", "dapl", "mpi", "mvapich", "openmpi", "qperf", "perftest",
                    "infiniband-diags", "ibutils")
    hpc = cfg["basic_user"] + [p for p in packages if p.startswith(hpc_prefixes)]
    # Templates carry no shebang in the repository (ansible-test's shebang rule); the bundle's do.
    text = "#!/usr/bin/perl\n" + (DATA / "install.pl.in").read_text()
    subst = {
        "@@RELEASE@@": release,
        "@@SRPM_KERNEL@@": cfg["srpm_kernel"],
        "@@KERNEL_PACKAGES@@": _perl_list(cfg["kernel_packages"]),
        "@@BASIC_MODULES@@": _perl_list(cfg["basic_modules"]),
        "@@ULP_MODULES@@": _perl_list(cfg["ulp_modules"]),
        "@@MODULE_AVAILABLE@@": available,
        "@@MODULE_REQUIRES@@": _perl_hash_of_lists(requires),
        "@@PARENTS@@": parents,
        "@@REQ_INST@@": _perl_hash_of_lists(cfg["req_inst"]),
        "@@ALL_PACKAGES@@": _perl_list(packages),
        "@@BASIC_PACKAGES@@": _perl_list([cfg["kernel_packages"][0]] + cfg["basic_user"]),
        "@@HPC_PACKAGES@@": _perl_list([cfg["kernel_packages"][0]] + hpc),
        "@@KERNEL_REGEX@@": cfg["kernel_regex"],
    }
    for key, value in subst.items():
        text = text.replace(key, value)
    return text


def render_uninstall(release: str) -> str:
    text = "#!/bin/bash\n" + (DATA / "ofed_uninstall.sh.in").read_text()
    # ofed-scripts last: it owns the script that is running
    packages = [p for p in package_list(release) if p != "ofed-scripts"] + ["ofed-scripts"]
    return text.replace("@@RELEASE@@", release).replace("@@PACKAGES@@", " ".join(packages))


def ofed_info_script(release: str) -> str:
    full = (DATA / "captured" / "ofed_info" / f"classic-{release}-rpm_noarg.txt").read_text()
    delim = "__OFED_INFO_EOF__"
    assert delim not in full and full.endswith("\n")
    head = "#!/bin/bash\n# FIXTURE ofed_info: prints the output captured from the real OFED-%s ofed-scripts.\n" % release
    if release == "1.5":
        head += "# OFED-1.5's ofed_info takes no options: every argument is ignored.\n"
    else:
        short = (DATA / "captured" / "ofed_info" / f"classic-{release}-rpm_s.txt").read_text()
        head += 'if [ "$1" = "-s" ]; then\n    cat <<\'%s\'\n%s%s\n    exit 0\nfi\n' % (delim, short, delim)
    return head + "cat <<'%s'\n%s%s\n" % (delim, full, delim)


def _stage_files(release: str, kernels: list[str]) -> dict[str, dict[str, tuple[str, int]]]:
    """package -> {absolute path: (content, mode)}."""
    cfg = RELEASES[release]
    files: dict[str, dict[str, tuple[str, int]]] = {}
    uninstall = render_uninstall(release)
    files["ofed-scripts"] = {
        "/usr/bin/ofed_info": (ofed_info_script(release), 0o755),
        "/usr/sbin/ofed_uninstall.sh": (uninstall, 0o755),
        "/usr/sbin/vendor_pre_uninstall.sh": ("#!/bin/bash\n", 0o755),
        "/usr/sbin/vendor_post_uninstall.sh": ("#!/bin/bash\n", 0o755),
    }
    openib = (release_dir("3.5") / "compat-rdma-3.5-tarball-data" / "ofed_scripts" / "openib.conf").read_text()
    rules = (release_dir("3.5") / "compat-rdma-3.5-tarball-data" / "ofed_scripts" / "90-ib.rules").read_text()
    hdr = cfg["headers_dir"]
    for kver in kernels:
        krel = kver.replace("-", "_")
        kpkg, dpkg = cfg["kernel_packages"]
        mod = {}
        for module in cfg["basic_modules"] + cfg["ulp_modules"]:
            if module in cfg["unavailable_modules"]:
                continue
            for rel in MODULE_FILES[module]:
                if release != "1.5":
                    rel = rel[len("kernel/"):]  # 3.5 installs with INSTALL_MOD_DIR=updates
                mod[f"/lib/modules/{kver}/updates/{rel}"] = ("", 0o644)
        mod["/etc/infiniband/openib.conf"] = (openib, 0o644)
        mod["/etc/udev/rules.d/90-ib.rules"] = (rules, 0o644)
        files[f"{kpkg}@{krel}"] = mod
        devel = {
            f"{hdr}/include/rdma/ib_verbs.h": ("/* fixture header: stands in for the OFED %s headers */\n"
                                               % release, 0o644),
            f"{hdr}/include/linux/compat-2.6.h": ("/* fixture compat header (OFED %s, kernel %s) */\n"
                                                  % (release, kver), 0o644),
            f"{hdr}/Module.symvers": ("", 0o644),
        }
        if release == "1.5":
            devel[f"{hdr}/config.mk"] = ("BACKPORT_INCLUDES=\nCONFIG_INFINIBAND=m\nCONFIG_INFINIBAND_IPOIB=m\n"
                                         "CONFIG_MLX4_CORE=m\nCONFIG_MLX4_INFINIBAND=m\n", 0o644)
        else:
            for name in ("compat_base", "compat_base_tree", "compat_base_tree_version", "compat_version"):
                devel[f"{hdr}/{name}"] = ((release_dir("3.5") / "compat-rdma-3.5-tarball-data" / name).read_text(),
                                          0o644)
        files[f"{dpkg}@{krel}"] = devel
    return files


def build_rpms(release: str, kernels: list[str], dest: Path, workdir: Path) -> list[Path]:
    """Build every binary RPM of the bundle with ONE rpmbuild run (one spec, many subpackages)."""
    cfg = RELEASES[release]
    srpms = srpm_table(release)
    staged = _stage_files(release, kernels)
    top = workdir / "rpmbuild"
    stage = top / "SOURCES" / "stage"
    spec_lines = [
        "Name: ofed-fixture-bundle", f"Version: {release}", "Release: 0", "Summary: OFED fixture bundle",
        "License: GPL/BSD", "Group: System Environment/Base", "URL: http://www.openfabrics.org",
        "Vendor: OpenFabrics", "", "%description", "Fixture bundle (never built itself).", "",
    ]
    files_sections = []

    def add(name: str, version: str, rel: str, summary: str, paths: dict[str, tuple[str, int]]):
        spec_lines.extend([f"%package -n {name}", f"Version: {version}", f"Release: {rel}",
                           f"Summary: {summary}", f"%description -n {name}", summary, ""])
        section = [f"%files -n {name}"]
        for path, (content, mode) in sorted(paths.items()):
            target = stage / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            target.chmod(mode)
            section.append(f"%attr({mode:o},root,root) {path}")
        files_sections.append("\n".join(section) + "\n")

    kpkg, dpkg = cfg["kernel_packages"]
    kversion = srpms[cfg["srpm_kernel"]][0]
    for kver in kernels:
        krel = kver.replace("-", "_")
        add(kpkg, kversion, krel, "Infiniband Driver and ULPs kernel modules", staged[f"{kpkg}@{krel}"])
        add(dpkg, kversion, krel, "Infiniband Driver and ULPs kernel modules sources", staged[f"{dpkg}@{krel}"])
    for package in package_list(release):
        if package in cfg["kernel_packages"]:
            continue
        parent = parent_of(package, release, srpms)
        if parent not in srpms or parent.startswith("ib-bonding"):
            continue
        version, rel = srpms[parent]
        if package == "ofed-scripts":
            add(package, release, cfg["ofed_scripts_release"], "OFED scripts", staged["ofed-scripts"])
        else:
            add(package, version, rel, f"fixture stand-in for {package} (empty)", {})
    spec_lines += ["%prep", "%build", "%install", "mkdir -p %{buildroot}",
                   "cp -a %{_sourcedir}/stage/. %{buildroot}/", ""]
    spec = top / "SPECS" / "bundle.spec"
    spec.parent.mkdir(parents=True, exist_ok=True)
    stage.mkdir(parents=True, exist_ok=True)
    spec.write_text("\n".join(spec_lines) + "\n" + "\n".join(files_sections))
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(SOURCE_DATE_EPOCH), LC_ALL="C")
    cmd = ["rpmbuild", "-bb", "--quiet", "--target", "x86_64",
           "--define", f"_topdir {top}", "--define", "_build_id_links none",
           "--define", "debug_package %{nil}", "--define", "__os_install_post %{nil}",
           "--define", "_buildhost fixture.openfabrics.org",
           "--define", "use_source_date_epoch_as_buildtime 1",
           "--define", "clamp_mtime_to_source_date_epoch 1", str(spec)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"rpmbuild failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    dest.mkdir(parents=True, exist_ok=True)
    built = []
    for rpm in sorted((top / "RPMS").rglob("*.rpm")):
        target = dest / rpm.name
        shutil.move(str(rpm), target)
        built.append(target)
    return built


def build_bundle(release: str, out_dir: Path, kernels: list[str] | tuple[str, ...] = (),
                 dist: str | None = None, arch: str = "x86_64") -> Path:
    """Write ``<out_dir>/OFED-<release>.tgz`` and return its path."""
    if release not in RELEASES:
        raise ValueError(f"unknown release {release!r}; known: {sorted(RELEASES)}")
    cfg = RELEASES[release]
    dist = dist or cfg["default_dist"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="classic-bundle-") as tmp:
        work = Path(tmp)
        root = work / f"OFED-{release}"
        src = release_dir(release)
        shutil.copytree(src / "docs", root / "docs")
        shutil.copy2(src / "BUILD_ID", root / "BUILD_ID")
        shutil.copy2(src / "ofed-all.conf", root / "ofed-all.conf")
        (root / "install.pl").write_text(render_install_pl(release))
        (root / "install.pl").chmod(0o755)
        (root / "uninstall.sh").write_text(render_uninstall(release))
        (root / "uninstall.sh").chmod(0o755)
        (root / "SRPMS").mkdir()
        for name in srpm_names(release):
            (root / "SRPMS" / name).write_bytes(b"")
        # user-space RPMs always; kernel RPMs only for the kernels asked for
        build_rpms(release, list(kernels), root / "RPMS" / dist / arch, work)
        target = out_dir / f"OFED-{release}.tgz"

        def _norm(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = SOURCE_DATE_EPOCH
            return info

        with tarfile.open(target, "w:gz") as tar:
            tar.add(root, arcname=root.name, filter=_norm)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--release", required=True, choices=sorted(RELEASES))
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--kernel", action="append", default=[],
                        help="kernel release to ship prebuilt kernel RPMs for (repeatable)")
    parser.add_argument("--dist", default=None,
                        help="RPMS/<dist>/ directory name (default: what the release's install.pl "
                             "computes on Debian without /etc/lsb-release)")
    args = parser.parse_args(argv)
    print(build_bundle(args.release, args.out, args.kernel, args.dist))
    return 0


if __name__ == "__main__":
    sys.exit(main())
