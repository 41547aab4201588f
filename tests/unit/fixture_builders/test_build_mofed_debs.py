# SPDX-License-Identifier: GPL-3.0-or-later
"""Black-box contract tests of ``tests/fixture_builders/build_mofed_debs.py``.

They live under tests/unit so that the unit-test run runs them (`make test-unit-2.19`; the 2.18 run leaves
tests/unit/fixture_builders out: they import nothing, neither from the builder nor from plugins/ nor Ansible).

The builder is run as a program; its packages are inspected only with dpkg's own tools
(``dpkg-deb -f/-c``, ``dpkg -i`` into a scratch root, ``dpkg-query``, ``dpkg -V``) and compared with
the captures of the vendor packages and of the vendor ``ofed_info`` (copies under
tests/fixture_builders/fixtures).
"""
from __future__ import annotations

import email.parser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BUILDER = REPO / "tests" / "fixture_builders" / "build_mofed_debs.py"
FIXTURES = REPO / "tests" / "fixture_builders" / "fixtures"
DPKG_DEB = FIXTURES / "mlnx-ofed" / "MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64" / "dpkg-deb"
OFED_INFO = FIXTURES / "captured" / "ofed_info"
DKMS_TABLE = (FIXTURES / "mlnx-ofed" / "MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64" / "deb-data"
              / "mlnx-ofed-kernel-dkms" / "mlnx-ofed-kernel-5.0" / "dkms_conf_module_table.txt")
COMPAT_BASE = DKMS_TABLE.parent / "compat_base"

SCRIPTS_DEB = "ofed-scripts_5.0-OFED.5.0.2.1.8_amd64.deb"
DKMS_DEB = "mlnx-ofed-kernel-dkms_5.0-OFED.5.0.2.1.8.1.g5f67178_all.deb"
REAL = {
    SCRIPTS_DEB: "mlnx-5.0_MLNX_LIBS_ofed-scripts_5.0-OFED.5.0.2.1.8_amd64",
    DKMS_DEB: "mlnx-5.0_COMMON_mlnx-ofed-kernel-dkms_5.0-OFED.5.0.2.1.8.1.g5f67178_all",
}

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian/Ubuntu controller)")


def run(argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)


def build(out: Path) -> list[Path]:
    proc = run([sys.executable, str(BUILDER), "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    return [Path(line) for line in proc.stdout.splitlines()]


def real_fields(deb: str) -> dict[str, str]:
    text = (DPKG_DEB / f"{REAL[deb]}_fields.txt").read_text(encoding="utf-8")
    return dict(email.parser.Parser().parsestr(text, headersonly=True).items())


def contents(listing: str) -> dict[str, str]:
    """`dpkg-deb -c` lines keyed by path (with ` -> target` for links): {path: mode owner}."""
    rows = {}
    for line in listing.splitlines():
        mode, owner, _size, _date, _time, path = line.split(None, 5)
        rows[path] = f"{mode} {owner}"
    return rows


def squash(value: str) -> str:
    return " ".join(value.split())


def groups(depends: str) -> set:
    """The alternatives groups of a Depends field, whitespace-normalised."""
    return {squash(g) for g in depends.split(",")}


@pytest.fixture(scope="module")
def debs(tmp_path_factory) -> dict[str, Path]:
    paths = build(tmp_path_factory.mktemp("debs"))
    return {p.name: p for p in paths}


def install(root: Path, *debs: Path) -> Path:
    """`dpkg -i` into a scratch root with its own, initially empty, dpkg database.

    --force-depends: the scratch database knows none of the base system the Depends name.
    --force-script-chrootless: maintainer scripts run on the host with DPKG_ROOT=<root> (no shell in root).
    """
    admin = root / "var" / "lib" / "dpkg"
    for sub in ("info", "updates"):
        (admin / sub).mkdir(parents=True, exist_ok=True)
    for name in ("status", "available"):
        (admin / name).touch()
    proc = run(["dpkg", f"--root={root}", "--force-not-root", "--force-depends", "--force-script-chrootless",
                "-i", *map(str, debs)])
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory, debs) -> Path:
    """A scratch root where only the built ofed-scripts is installed (as in the captures)."""
    return install(tmp_path_factory.mktemp("root"), debs[SCRIPTS_DEB])


def ofed_info(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DPKG_ADMINDIR=str(root / "var" / "lib" / "dpkg"), LC_ALL="C")
    return run([str(root / "usr" / "bin" / "ofed_info"), *args], env=env)


def test_builds_both_packages_with_vendor_file_names(debs):
    assert sorted(debs) == sorted([SCRIPTS_DEB, DKMS_DEB])


def test_build_is_reproducible(debs, tmp_path):
    again = {p.name: p for p in build(tmp_path)}
    for name, path in debs.items():
        assert again[name].read_bytes() == path.read_bytes(), name


@pytest.mark.parametrize("deb", [SCRIPTS_DEB, DKMS_DEB])
def test_control_fields_are_the_vendor_ones(debs, deb):
    proc = run(["dpkg-deb", "-f", str(debs[deb])])
    assert proc.returncode == 0, proc.stderr
    built = dict(email.parser.Parser().parsestr(proc.stdout, headersonly=True).items())
    real = real_fields(deb)
    assert list(built) == list(real)  # same fields, same order
    for field in real:
        if field in ("Installed-Size", "Depends"):
            continue
        assert squash(built[field]) == squash(real[field]), field
    assert 0 < int(built["Installed-Size"]) < int(real["Installed-Size"])


def test_dkms_depends_is_a_subset_of_the_vendor_depends(debs):
    built = run(["dpkg-deb", "-f", str(debs[DKMS_DEB]), "Depends"]).stdout
    real = real_fields(DKMS_DEB)["Depends"]
    assert groups(built) < groups(real)
    assert groups(real) - groups(built) == {"dkms", "make", "lsof", "mlnx-ofed-kernel-utils"}


def test_ofed_scripts_files_are_vendor_paths(debs):
    built = contents(run(["dpkg-deb", "-c", str(debs[SCRIPTS_DEB])]).stdout)
    real = contents((DPKG_DEB / f"{REAL[SCRIPTS_DEB]}_contents.txt").read_text(encoding="utf-8"))
    assert set(built) <= set(real)
    assert built["./usr/bin/ofed_info"] == real["./usr/bin/ofed_info"] == "-rwxr-xr-x root/root"


def test_dkms_ships_ofa_kernel_empty_as_the_vendor_package(debs):
    """The header tree is not in the payload: the (emulated) DKMS build makes it at install time."""
    built = contents(run(["dpkg-deb", "-c", str(debs[DKMS_DEB])]).stdout)
    real = contents((DPKG_DEB / f"{REAL[DKMS_DEB]}_contents.txt").read_text(encoding="utf-8"))
    for path in ("./usr/src/ofa_kernel/",
                 "./usr/src/mlnx-ofed-kernel-5.0/include/linux/compat-2.6.h",
                 "./usr/src/ofa_kernel-5.0 -> mlnx-ofed-kernel-5.0"):
        assert path in built, path
    assert built["./usr/src/ofa_kernel/"] == real["./usr/src/ofa_kernel/"] == "drwxr-xr-x root/root"
    assert not [p for p in built if p.startswith("./usr/src/ofa_kernel/") and p != "./usr/src/ofa_kernel/"]
    assert set(built) <= set(real)  # every path is a vendor path


@pytest.mark.parametrize(
    ("args", "capture"),
    [((), "noarg"), (("-l",), "l"), (("-s",), "s"), (("-n",), "n"), (("-z",), "invalid")],
)
def test_ofed_info_behaves_like_the_vendor_script(scratch_root, args, capture):
    proc = ofed_info(scratch_root, *args)
    expected = (OFED_INFO / f"mlnx-5.0-deb_{capture}.txt").read_text(encoding="utf-8")
    # The usage text names the script by its path ($0): /usr/bin/ofed_info when installed for real.
    expected = expected.replace("/usr/bin/ofed_info", str(scratch_root / "usr" / "bin" / "ofed_info"))
    assert proc.stdout == expected
    assert proc.returncode == int((OFED_INFO / f"mlnx-5.0-deb_{capture}.rc").read_text())


def test_installed_packages_are_real_to_dpkg(tmp_path, debs):
    scratch_root = install(tmp_path, debs[SCRIPTS_DEB], debs[DKMS_DEB])
    admin = str(scratch_root / "var" / "lib" / "dpkg")
    query = run(["dpkg-query", f"--admindir={admin}", "-W", "-f=${Package}\t${Version}\t${db:Status-Abbrev}\n"])
    assert query.stdout.splitlines() == [
        "mlnx-ofed-kernel-dkms\t5.0-OFED.5.0.2.1.8.1.g5f67178\tii ",
        "ofed-scripts\t5.0-OFED.5.0.2.1.8\tii ",
    ]
    verify = run(["dpkg", f"--root={scratch_root}", "-V", "ofed-scripts", "mlnx-ofed-kernel-dkms"])
    assert (verify.returncode, verify.stdout) == (0, "")  # md5sums match the payload
    listing = ofed_info(scratch_root, "-l").stdout
    head = (OFED_INFO / "mlnx-5.0-deb_l.txt").read_text(encoding="utf-8").rstrip("\n")
    assert listing.startswith(head + "\n")
    rows = listing[len(head) + 1:].splitlines()
    assert len(rows) == 2 and rows[1] == ""
    assert re.fullmatch(
        r"ii  mlnx-ofed-kernel-dkms +5\.0-OFED\.5\.0\.2\.1\.8\.1\.g5f67178 +all +DKMS support for mlnx-ofed kernel modules",
        rows[0],
    )


def symvers_rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def test_dkms_postinst_emulates_the_dkms_build_and_postrm_removes_it(tmp_path, debs):
    """Placeholder modules named as the vendor dkms.conf's BUILT_MODULE_NAME land under
    /lib/modules/<k>/updates/dkms/, and the header tree of dkms_ofed_post_build.sh under
    /usr/src/ofa_kernel/<arch>/<k>/ with the ofa_kernel_headers alternative /usr/src/ofa_kernel/default
    pointing at it, for each kernel with a build dir (and only those); purge removes them all."""
    modules = tmp_path / "lib" / "modules"
    (modules / "6.1.0-fixture-amd64" / "build").mkdir(parents=True)
    (modules / "6.1.0-fixture-amd64" / "kernel").mkdir()
    (modules / "5.10.0-noheaders-amd64" / "kernel").mkdir(parents=True)
    expected = {line.split("=", 1)[1] + ".ko" for line in DKMS_TABLE.read_text(encoding="utf-8").splitlines()
                if line.startswith("BUILT_MODULE_NAME[")}
    assert {"mlx_compat.ko", "ib_core.ko", "mlx5_core.ko", "mlx5_ib.ko", "ib_ipoib.ko"} <= expected
    install(tmp_path, debs[DKMS_DEB])
    built = modules / "6.1.0-fixture-amd64" / "updates" / "dkms"
    assert {p.name for p in built.iterdir() if p.suffix == ".ko"} == expected
    assert "TEST FIXTURE placeholder" in (built / "ib_core.ko").read_text(encoding="utf-8")
    assert not (modules / "5.10.0-noheaders-amd64" / "updates").exists()
    if shutil.which("depmod") or Path("/usr/sbin/depmod").exists() or Path("/sbin/depmod").exists():
        dep = (modules / "6.1.0-fixture-amd64" / "modules.dep").read_text(encoding="utf-8")
        assert "updates/dkms/ib_core.ko:" in dep

    # The header tree, for the kernel with headers only.
    arch = os.uname().machine
    ofa = tmp_path / "usr" / "src" / "ofa_kernel"
    tree = ofa / arch / "6.1.0-fixture-amd64"
    assert sorted(p.name for p in (ofa / arch).iterdir()) == ["6.1.0-fixture-amd64"]
    compat = (tree / "include" / "linux" / "compat-2.6.h").read_text(encoding="utf-8")
    assert (tree / "compat_base").read_bytes() == COMPAT_BASE.read_bytes()  # the vendor's compat_base
    assert f'#define COMPAT_BASE "{COMPAT_BASE.read_text(encoding="ascii")}"' in compat
    assert '#define OFA_KERNEL_KVER "6.1.0-fixture-amd64"' in compat
    verbs = (tree / "include" / "rdma" / "ib_verbs.h").read_text(encoding="utf-8")
    assert f'#define OFA_KERNEL_RDMA_HEADERS "/usr/src/ofa_kernel/{arch}/6.1.0-fixture-amd64/include"' in verbs
    assert "int ib_register_client(struct ib_client *client);" in verbs
    assert (tree / "include" / "uapi" / "rdma").is_dir()
    rows = symvers_rows(tree / "Module.symvers")
    # kernel 6.1 format: crc, symbol, module, export type, namespace (empty)
    assert all(len(r) == 5 and re.fullmatch(r"0x[0-9a-f]{8}", r[0]) and r[3] == "EXPORT_SYMBOL" and r[4] == ""
               for r in rows)
    assert {"ib_register_client", "ib_unregister_client"} <= {r[1] for r in rows}
    assert {r[2] for r in rows if r[1].startswith("ib_")} == {"/var/lib/dkms/mlnx-ofed-kernel/5.0/build/drivers/infiniband/core/ib_core"}
    # default -> /etc/alternatives/ofa_kernel_headers -> the tree (update-alternatives, priority 17)
    assert os.readlink(ofa / "default") == "/etc/alternatives/ofa_kernel_headers"
    assert os.readlink(tmp_path / "etc" / "alternatives" / "ofa_kernel_headers") == f"/usr/src/ofa_kernel/{arch}/6.1.0-fixture-amd64"
    state = (tmp_path / "var" / "lib" / "dpkg" / "alternatives" / "ofa_kernel_headers").read_text(encoding="utf-8")
    assert f"/usr/src/ofa_kernel/{arch}/6.1.0-fixture-amd64\n17\n" in state

    # Files made by a maintainer script are not the package's: dpkg -V still matches the payload.
    verify = run(["dpkg", f"--root={tmp_path}", "-V", "mlnx-ofed-kernel-dkms"])
    assert (verify.returncode, verify.stdout) == (0, "")
    purge = run(["dpkg", f"--root={tmp_path}", "--force-not-root", "--force-script-chrootless", "--purge",
                 "mlnx-ofed-kernel-dkms"])
    assert purge.returncode == 0, purge.stderr
    assert "not empty" not in purge.stderr
    assert not (modules / "6.1.0-fixture-amd64" / "updates").exists()
    assert (modules / "6.1.0-fixture-amd64" / "build").is_dir()
    assert not ofa.exists() and not ofa.is_symlink()  # tree, default and the shipped empty dir are gone
    assert not (tmp_path / "etc" / "alternatives" / "ofa_kernel_headers").is_symlink()
