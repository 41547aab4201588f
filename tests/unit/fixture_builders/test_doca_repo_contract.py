# SPDX-License-Identifier: GPL-3.0-or-later
"""Black-box contract tests of the fixture DOCA-Host apt repository (tests/fixture_builders/build_doca_repo.py).

The builder runs as a program. Layout, index and signature checks run locally (dpkg-deb, dpkg-scanpackages,
gpgv). The apt behaviour is checked with the real apt of Debian 12 in one podman container from
localhost/iser-ofed-debian12-kernel:latest (named iser-ofed-s2-doca-<pid>, removed afterwards; it has the
headers of its kernel, so gcc-12 and make): our file:// repositories are the only sources refreshed, the
image's Debian sources and lists stay (apt resolves mlnx-ofed-kernel-dkms's Depends on dkms from them).
The real-install test downloads Debian's dkms (and lsb-release) from the Debian mirror and DKMS really
builds the fixture's modules. Expected messages are apt's own (seen in that container), not anything
from plugins/. Without podman, the image or the Debian mirror these tests FAIL (the test bed has all three).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BUILDER = REPO / "tests" / "fixture_builders" / "build_doca_repo.py"
IMAGE = "localhost/iser-ofed-debian12-kernel:latest"
DOCA_REL = "doca/2.9.1/debian12/x86_64"
LABEL = "DOCA-HOST-2.9.1"
# name -> version, from the vendor's OFED 24.10-1.1.4 package file names and the doca-host 2.9.1-018000 build
EXPECTED = {
    "doca-ofed": "2.9.1-018000",
    "doca-ofed-userspace": "2.9.1-018000",
    "ofed-scripts": "24.10.OFED.24.10.1.1.4-1",
    "mlnx-ofed-kernel-dkms": "24.10.OFED.24.10.1.1.4.1-1",
    "mlnx-ofed-kernel-utils": "24.10.OFED.24.10.1.1.4.1-1",
    "mlnx-tools": "24.10-0.2410068",
    "rdma-core": "2410mlnx54-1.2410068",
    "libibverbs1": "2410mlnx54-1.2410068",
    "ibverbs-providers": "2410mlnx54-1.2410068",
}
MNT = "/srv/fixture"
PIN = f"Package: *\nPin: release l={LABEL}\nPin-Priority: 600\n"
# Refresh our repositories only (sources.list.d); the image's Debian lists stay as they are (no network).
UPDATE = "apt-get update -o Dir::Etc::SourceList=/dev/null -o APT::Get::List-Cleanup=0"
DKMS_VERSION = "24.10.OFED.24.10.1.1.4.1"
MODULES = ["ib_core.ko", "mlx5_core.ko", "mlx5_ib.ko", "mlx_compat.ko"]

pytestmark = pytest.mark.skipif(shutil.which("dpkg-scanpackages") is None or shutil.which("gpgv") is None,
                                reason="needs dpkg-dev and gpgv (Debian/Ubuntu controller)")


def run(argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)


def build(out: Path) -> list[Path]:
    proc = run([sys.executable, str(BUILDER), "--out", str(out), "--distro-repo"])
    assert proc.returncode == 0, proc.stderr
    return [Path(p) for p in proc.stdout.splitlines()]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("doca")
    out.chmod(0o755)  # apt reads the signed-by keyring as the unprivileged _apt user (pytest makes 0700 dirs)
    repo, key, distro, distro_key = build(out)
    return {"out": out, "repo": repo, "key": key, "distro": distro, "distro_key": distro_key}


def key_id(keyring: Path, tmp_path: Path) -> str:
    """The long key id of the (only) key in a binary keyring, as apt prints it after NO_PUBKEY."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700, exist_ok=True)
    proc = run(["gpg", "--homedir", str(home), "--with-colons", "--show-keys", str(keyring)])
    assert proc.returncode == 0, proc.stderr
    return next(line.split(":")[4] for line in proc.stdout.splitlines() if line.startswith("pub:"))


# --- local: layout, index, signatures -----------------------------------------------------------------


def test_cli_prints_repo_and_key_in_the_vendor_layout(built):
    assert built["repo"] == built["out"] / DOCA_REL
    assert built["key"] == built["repo"] / "doca_keyring.gpg"   # the vendor serves doca_keyring.gpg there
    assert built["distro_key"] == built["distro"] / "distro_keyring.gpg"
    for name in ("Packages", "Packages.gz", "Release", "InRelease", "Release.gpg"):
        assert (built["repo"] / name).is_file(), name
    proc = run([sys.executable, str(BUILDER), "--out", str(built["out"] / "plain")])
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 2   # no --distro-repo: repo + key


def test_packages_names_versions_and_dependencies(built):
    debs = sorted(built["repo"].glob("*.deb"))
    found = {run(["dpkg-deb", "-f", str(d), "Package"]).stdout.strip():
             run(["dpkg-deb", "-f", str(d), "Version"]).stdout.strip() for d in debs}
    assert found == EXPECTED
    meta = built["repo"] / "doca-ofed_2.9.1-018000_amd64.deb"
    depends = run(["dpkg-deb", "-f", str(meta), "Depends"]).stdout
    assert "mlnx-ofed-kernel-dkms (= 24.10.OFED.24.10.1.1.4.1-1)" in depends
    assert "doca-ofed-userspace (= 2.9.1-018000)" in depends
    contents = run(["dpkg-deb", "-c", str(built["repo"] / "mlnx-ofed-kernel-dkms_24.10.OFED.24.10.1.1.4.1-1_all.deb")])
    assert "./usr/src/ofa_kernel/default/include/linux/compat-2.6.h" in contents.stdout
    assert "./usr/src/mlnx-ofed-kernel-24.10.OFED.24.10.1.1.4.1/" in contents.stdout   # dkms source dir


def test_index_is_dpkg_scanpackages_output_and_release_hashes_match(built):
    repo = built["repo"]
    again = run(["dpkg-scanpackages", "--multiversion", "."], cwd=repo, env=dict(os.environ, LC_ALL="C"))
    assert (repo / "Packages").read_text() == again.stdout
    release = (repo / "Release").read_text()
    assert re.search(rf"^Label: {LABEL}$", release, re.M) and re.search(rf"^Suite: {LABEL}$", release, re.M)
    for field, algo in (("MD5Sum", "md5"), ("SHA256", "sha256"), ("SHA512", "sha512")):
        block = release.split(f"\n{field}:\n", 1)[1]
        for name in ("Packages", "Packages.gz"):
            data = (repo / name).read_bytes()
            assert f" {hashlib.new(algo, data).hexdigest()} {len(data):>16} {name}\n" in block, (field, name)


def test_signatures_verify_with_the_key_and_not_with_the_other(built):
    repo = built["repo"]
    good = run(["gpgv", "--keyring", str(built["key"]), str(repo / "InRelease")])
    assert good.returncode == 0, good.stderr
    detached = run(["gpgv", "--keyring", str(built["key"]), str(repo / "Release.gpg"), str(repo / "Release")])
    assert detached.returncode == 0, detached.stderr
    bad = run(["gpgv", "--keyring", str(built["distro_key"]), str(repo / "InRelease")])
    assert bad.returncode != 0 and "No public key" in bad.stderr


def test_build_is_reproducible_except_keys_and_signatures(built, tmp_path):
    repo2, key2, _distro, _dkey = build(tmp_path)
    for path in sorted(built["repo"].iterdir()):
        same = (repo2 / path.name).read_bytes() == path.read_bytes()
        if path.name in ("InRelease", "Release.gpg", "doca_keyring.gpg"):
            assert not same, path.name   # a fresh key every build
        else:
            assert same, path.name
    assert key2.read_bytes() != built["key"].read_bytes()


# --- podman: real apt ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def container(built):
    podman = shutil.which("podman")
    if podman is None:
        pytest.fail("podman is required for the DOCA repository contract tests (the test bed has it)")
    name = f"iser-ofed-s2-doca-{os.getpid()}"
    subprocess.run([podman, "rm", "-f", "-t", "0", name], capture_output=True, check=False)
    proc = run([podman, "run", "-d", "--name", name, "-v", f"{built['out']}:{MNT}:ro", IMAGE, "sleep", "infinity"])
    assert proc.returncode == 0, proc.stderr
    try:
        yield lambda script: run([podman, "exec", name, "bash", "-c", script], timeout=300)
    finally:
        subprocess.run([podman, "rm", "-f", "-t", "0", name], capture_output=True, timeout=120, check=False)


def apt_sources(sh, doca_key: str, distro: bool = False, pin: bool = False) -> None:
    """Our repositories in sources.list.d (the image's Debian sources.list stays), their lists removed, optional pin."""
    repo = f"{MNT}/{DOCA_REL}"
    lines = [f"echo 'deb [signed-by={doca_key}] file:{repo}/ ./' > /etc/apt/sources.list.d/doca.list"]
    if distro:
        lines.append(f"echo 'deb [signed-by={MNT}/distro/distro_keyring.gpg] file:{MNT}/distro/ ./'"
                     " > /etc/apt/sources.list.d/distro.list")
    if pin:
        lines.append(f"printf '{PIN}' > /etc/apt/preferences.d/doca")
    script = ("rm -rf /etc/apt/sources.list.d/* /etc/apt/preferences.d/* /var/lib/apt/lists/_srv_* && "
              + " && ".join(lines))
    proc = sh(script)
    assert proc.returncode == 0, proc.stderr


def inst_lines(stdout: str) -> dict:
    """``Inst name (version release [arch])`` lines of ``apt-get -s`` as {name: (version, release)}, the fixture
    repository's only (dkms and lsb-release come from Debian's lists)."""
    return {m.group(1): (m.group(2), m.group(3))
            for m in re.finditer(r"^Inst (\S+) \((\S+) (\S+) \[\w+\]\)$", stdout, re.M)
            if m.group(3) == f"{LABEL}:{LABEL}"}


def test_signed_by_update_and_simulated_install_resolve(container):
    apt_sources(container, f"{MNT}/{DOCA_REL}/doca_keyring.gpg")
    update = container(UPDATE)
    assert update.returncode == 0, update.stdout + update.stderr
    assert "InRelease" in update.stdout and "NO_PUBKEY" not in update.stderr
    sim = container("apt-get install -s doca-ofed")
    assert sim.returncode == 0, sim.stdout + sim.stderr
    assert inst_lines(sim.stdout) == {name: (ver, f"{LABEL}:{LABEL}") for name, ver in EXPECTED.items()}
    assert re.search(r"^Inst dkms \(\S+ Debian", sim.stdout, re.M)   # the Depends of the DKMS package


def test_wrong_key_fails_verification_with_apts_message(container, built, tmp_path):
    apt_sources(container, f"{MNT}/distro/distro_keyring.gpg")   # signed-by the OTHER repository's key
    update = container(UPDATE)
    assert update.returncode == 100
    keyid = key_id(built["key"], tmp_path)
    assert ("The following signatures couldn't be verified because the public key is not available: "
            f"NO_PUBKEY {keyid}") in update.stderr
    assert f"E: The repository 'file:{MNT}/{DOCA_REL} ./ InRelease' is not signed." in update.stderr
    assert "doca-ofed" not in container("apt-cache pkgnames").stdout   # nothing from it was accepted


def test_pinning_makes_doca_beat_a_higher_distro_version(container):
    key = f"{MNT}/{DOCA_REL}/doca_keyring.gpg"
    apt_sources(container, key, distro=True)
    assert container(UPDATE).returncode == 0
    policy = container("apt-cache policy libibverbs1").stdout
    assert "Candidate: 1:44.0-2" in policy            # unpinned, the higher distro version wins ...
    broken = container("apt-get install -s doca-ofed")
    assert broken.returncode == 100                    # ... and DOCA's exact-version Depends cannot be met
    assert "E: Unable to correct problems, you have held broken packages." in broken.stderr
    apt_sources(container, key, distro=True, pin=True)
    assert container(UPDATE).returncode == 0
    policy = container("apt-cache policy libibverbs1").stdout
    assert "Candidate: 2410mlnx54-1.2410068" in policy
    assert re.search(r"2410mlnx54-1\.2410068 600\n\s+600 file:" + re.escape(f"{MNT}/{DOCA_REL}"), policy)
    sim = container("apt-get install -s doca-ofed")
    assert sim.returncode == 0, sim.stderr
    assert inst_lines(sim.stdout)["libibverbs1"] == ("2410mlnx54-1.2410068", f"{LABEL}:{LABEL}")


def test_real_install_dpkg_query_and_ofed_info(container):
    apt_sources(container, f"{MNT}/{DOCA_REL}/doca_keyring.gpg", distro=True, pin=True)
    assert container(UPDATE).returncode == 0
    install = container("DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends doca-ofed")
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr
    query = container("dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' " + " ".join(EXPECTED))
    assert query.returncode == 0, query.stderr
    rows = {line.split("\t")[0]: (line.split("\t")[1], line.split("\t")[2].strip())
            for line in query.stdout.splitlines()}
    assert rows == {name: (ver, "ii") for name, ver in EXPECTED.items()}
    short = container("/usr/bin/ofed_info -s")
    assert (short.returncode, short.stdout) == (0, "OFED-internal-24.10-1.1.4:\n")
    assert container("/usr/bin/ofed_info -n").stdout == "24.10-1.1.4\n"
    listing = container("/usr/bin/ofed_info")
    assert listing.stdout.splitlines()[0] == "OFED-internal-24.10-1.1.4:"
    assert re.search(r"^ii\s+doca-ofed\s+2\.9\.1-018000", listing.stdout, re.M)
    bad = container("/usr/bin/ofed_info -x")
    assert bad.returncode == 1 and "Usage:" in bad.stdout
    files = container("test -f /usr/src/ofa_kernel/default/include/linux/compat-2.6.h && "
                      "test -f /usr/src/ofa_kernel/default/Module.symvers && echo ok")
    assert files.stdout == "ok\n"
    again = container("apt-get install -y doca-ofed")   # idempotent: nothing left to do
    assert "0 upgraded, 0 newly installed, 0 to remove" in again.stdout


def test_real_dkms_built_and_installed_the_modules_then_removes_them(container):
    # after test_real_install_dpkg_query_and_ofed_info: Debian's dkms, the image's kernel headers
    kver = container("ls -1 /lib/modules").stdout.strip()
    status = container("dkms status -m mlnx-ofed-kernel")
    assert status.stdout == f"mlnx-ofed-kernel/{DKMS_VERSION}, {kver}, x86_64: installed\n", status.stdout
    listing = container(f"ls -1 /lib/modules/{kver}/updates/dkms")
    assert listing.stdout.split() == MODULES
    info = container(f"modinfo -F vermagic /lib/modules/{kver}/updates/dkms/mlx5_core.ko")
    assert info.stdout.startswith(f"{kver} SMP "), info.stdout        # built by kbuild for that kernel
    resolved = container(f"modprobe -n -S {kver} -v mlx5_ib").stdout   # depmod: updates/dkms wins over kernel/
    assert f"insmod /lib/modules/{kver}/updates/dkms/mlx5_ib.ko" in resolved, resolved
    purge = container("DEBIAN_FRONTEND=noninteractive apt-get purge -y mlnx-ofed-kernel-dkms")
    assert purge.returncode == 0, purge.stdout[-2000:] + purge.stderr
    assert container("dkms status -m mlnx-ofed-kernel").stdout == ""   # dh_dkms prerm: dkms remove --all
    assert container(f"ls /lib/modules/{kver}/updates/dkms").returncode != 0
