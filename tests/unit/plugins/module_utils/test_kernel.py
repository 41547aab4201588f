# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import os

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _kernel
from ansible_collections.iser.ofed.plugins.module_utils._kernel import (
    DEFAULT_STOCK_MODULE_DIRS, OFED_MODULE_DIRS, build_tree_facts, distribution_facts, distribution_family,
    expand_module_dirs, gather_kernel_facts, kernel_config_facts, module_dir_facts, modules_symbols_has,
    parse_config_option, secure_boot_facts)
from conftest import read_fixture
from kernel_tree_builder import CAPTURE, DEBIAN12_KVER, build_debian12_modules, capture_listing, symlink, write

EFIVAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


def _capture_totals(prefix: str) -> tuple[int, int]:
    rows = [r for name in ("find_kernel_drivers_infiniband.txt", "find_kernel_drivers_net_ethernet_mellanox.txt")
            for r in capture_listing(name) if r[1].startswith(prefix + "/")]
    return len(rows), sum(size for size, _path in rows)


# --- CONFIG_INFINIBAND and modules.symbols -------------------------------------------------------------

def test_config_from_real_capture():
    text = read_fixture(CAPTURE, "config_grep_infiniband_mlx.txt")
    assert parse_config_option(text) == (True, "m")
    assert parse_config_option(text, "CONFIG_INFINIBAND_ISER") == (True, "m")
    assert parse_config_option(text, "CONFIG_INFINIBAND_EFA") == (True, None)   # "is not set"
    assert parse_config_option(text, "CONFIG_MLX5_CORE_IPOIB") == (True, "y")


@pytest.mark.parametrize("text, expected", [
    ("CONFIG_INFINIBAND=y\n", (True, "y")),
    ("# CONFIG_INFINIBAND is not set\nCONFIG_INFINIBAND_USER_MAD=m\n", (True, None)),
    ("CONFIG_INFINIBAND_USER_MAD=m\n", (False, None)),   # a longer name must not match
    ("", (False, None)),
])
def test_config_variants(text, expected):
    assert parse_config_option(text) == expected


def test_modules_symbols():
    assert modules_symbols_has(read_fixture(CAPTURE, "modules.symbols_grep_ib_register_client.txt")) is True
    assert modules_symbols_has("alias symbol:ib_register_client_x ib_core\nalias symbol:ib_unregister_client ib_core\n") is False


def test_config_prefers_build_dot_config(tmp_path):
    write(tmp_path, "/boot/config-5.4.0", "CONFIG_INFINIBAND=m\n")
    write(tmp_path, "/lib/modules/5.4.0/build/.config", "# CONFIG_INFINIBAND is not set\n")
    errors = []
    assert kernel_config_facts(str(tmp_path), "5.4.0", errors) == {
        "path": "/lib/modules/5.4.0/build/.config", "infiniband": None, "infiniband_found": True}
    os.remove(tmp_path / "lib/modules/5.4.0/build/.config")
    assert kernel_config_facts(str(tmp_path), "5.4.0", errors)["infiniband"] == "m"
    assert errors == []


def test_unreadable_config_is_reported_and_the_next_is_used(tmp_path):
    os.makedirs(tmp_path / "lib/modules/5.4.0/build/.config")    # a directory: open() fails even as root
    write(tmp_path, "/boot/config-5.4.0", "CONFIG_INFINIBAND=y\n")
    errors = []
    facts = kernel_config_facts(str(tmp_path), "5.4.0", errors)
    assert facts["path"] == "/boot/config-5.4.0" and facts["infiniband"] == "y"
    assert [e["code"] for e in errors] == ["FILE_UNREADABLE"]
    assert "/lib/modules/5.4.0/build/.config" in errors[0]["msg"]


# --- distribution -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dist_id, like, family", [
    ("debian", None, "debian"), ("ubuntu", "debian", "debian"), ("rocky", "rhel centos fedora", "redhat"),
    ("rhel", "fedora", "redhat"), ("ol", "fedora", "redhat"), ("sles", "suse", "suse"),
    ("opensuse-leap", "suse opensuse", "suse"), ("arch", None, None), (None, None, None),
])
def test_distribution_family(dist_id, like, family):
    assert distribution_family(dist_id, like) == family


# constructed os-release files, after the distributions' published formats
OS_RELEASE = {
    "debian12": ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
                 'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n',
                 {"id": "debian", "version": "12", "major_version": "12", "codename": "bookworm",
                  "family": "debian", "pretty_name": "Debian GNU/Linux 12 (bookworm)"}),
    "rocky9": ('NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
               'VERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n',
               {"id": "rocky", "version": "9.3", "major_version": "9", "family": "redhat",
                "like": "rhel centos fedora"}),
    "sles15": ('NAME="SLES"\nVERSION="15-SP5"\nVERSION_ID="15.5"\nPRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"\n'
               'ID="sles"\nID_LIKE="suse"\n',
               {"id": "sles", "version": "15.5", "major_version": "15", "family": "suse"}),
}


@pytest.mark.parametrize("name", sorted(OS_RELEASE))
def test_distribution_facts_from_root(tmp_path, name):
    text, expected = OS_RELEASE[name]
    write(tmp_path, "/etc/os-release", text)
    facts = distribution_facts(str(tmp_path))
    for key, value in expected.items():
        assert facts[key] == value, key


# --- module directories -------------------------------------------------------------------------------

def test_default_dirs_constant():
    assert DEFAULT_STOCK_MODULE_DIRS == ("kernel/drivers/infiniband", "kernel/drivers/net/mlx4",
                                         "kernel/drivers/net/ethernet/mellanox/*")
    assert OFED_MODULE_DIRS == ("updates", "extra", "updates/dkms")


def test_stock_dirs_of_the_real_debian12_tree(tmp_path):
    modules_dir = build_debian12_modules(tmp_path)
    assert expand_module_dirs(modules_dir, DEFAULT_STOCK_MODULE_DIRS) == [
        "kernel/drivers/infiniband", "kernel/drivers/net/mlx4", "kernel/drivers/net/ethernet/mellanox/mlx4",
        "kernel/drivers/net/ethernet/mellanox/mlx5", "kernel/drivers/net/ethernet/mellanox/mlxfw"]
    entries = {e["rel"]: e for e in module_dir_facts(str(tmp_path), "/lib/modules/" + DEBIAN12_KVER,
                                                     DEFAULT_STOCK_MODULE_DIRS)}
    ib = entries["kernel/drivers/infiniband"]
    assert (ib["files"], ib["bytes"]) == _capture_totals("kernel/drivers/infiniband") == (24, 11198008)
    assert ib["modules"] == 24 and ib["suffixes"] == [".ko"] and ib["layout"] == "infiniband"
    assert ib["path"] == "/lib/modules/%s/kernel/drivers/infiniband" % DEBIAN12_KVER
    assert entries["kernel/drivers/net/mlx4"] == {
        "rel": "kernel/drivers/net/mlx4", "path": "/lib/modules/%s/kernel/drivers/net/mlx4" % DEBIAN12_KVER,
        "exists": False, "layout": "mlx4_old", "files": 0, "modules": 0, "bytes": 0, "suffixes": []}
    for sub, count, size in (("mlx4", 2, 1188050), ("mlx5", 1, 3866977), ("mlxfw", 1, 54681)):
        entry = entries["kernel/drivers/net/ethernet/mellanox/" + sub]
        assert (entry["files"], entry["bytes"]) == _capture_totals(
            "kernel/drivers/net/ethernet/mellanox/" + sub) == (count, size)
        assert entry["layout"] == "mellanox" and entry["exists"] is True


def test_ofed_dirs_absent_as_in_the_capture(tmp_path):
    # the capture's `ls -d updates extra updates/dkms` found none of them
    assert read_fixture(CAPTURE, "find_updates_extra_dkms_dirs.txt").count("No such file or directory") == 3
    build_debian12_modules(tmp_path)
    entries = module_dir_facts(str(tmp_path), "/lib/modules/" + DEBIAN12_KVER, OFED_MODULE_DIRS, tag_layout=False)
    assert [(e["rel"], e["exists"]) for e in entries] == [("updates", False), ("extra", False),
                                                          ("updates/dkms", False)]
    assert "layout" not in entries[0]


def test_compressed_modules_old_layout_and_symlinks(tmp_path):
    # constructed: an old-layout kernel with compressed modules, a README, and a symlink that must not count
    mod = tmp_path / "lib/modules/3.0.1"
    for rel, size in (("kernel/drivers/net/mlx4/mlx4_core.ko.xz", 100), ("kernel/drivers/net/mlx4/mlx4_en.ko.zst", 50),
                      ("kernel/drivers/infiniband/core/ib_core.ko.gz", 70), ("kernel/drivers/infiniband/README", 5),
                      ("updates/dkms/ib_core.ko", 30), ("extra/mlnx-ofa_kernel/drivers/infiniband/core/ib_core.ko", 40)):
        write(mod, rel, b"x" * size)
    symlink(mod, "kernel/drivers/infiniband/core/alias.ko", "ib_core.ko.gz")
    entries = {e["rel"]: e for e in module_dir_facts(str(tmp_path), "/lib/modules/3.0.1", DEFAULT_STOCK_MODULE_DIRS)}
    assert entries["kernel/drivers/net/mlx4"] == {
        "rel": "kernel/drivers/net/mlx4", "path": "/lib/modules/3.0.1/kernel/drivers/net/mlx4", "exists": True,
        "layout": "mlx4_old", "files": 2, "modules": 2, "bytes": 150, "suffixes": [".ko.xz", ".ko.zst"]}
    assert entries["kernel/drivers/infiniband"]["files"] == 2
    assert entries["kernel/drivers/infiniband"]["modules"] == 1
    assert entries["kernel/drivers/infiniband"]["bytes"] == 75
    assert entries["kernel/drivers/net/ethernet/mellanox"]["exists"] is False
    ofed = {e["rel"]: e for e in module_dir_facts(str(tmp_path), "/lib/modules/3.0.1", OFED_MODULE_DIRS, False)}
    assert (ofed["updates"]["files"], ofed["updates/dkms"]["files"], ofed["extra"]["bytes"]) == (1, 1, 40)


def test_user_module_dirs_layout_other(tmp_path):
    write(tmp_path, "/lib/modules/k/kernel/net/rds/rds_rdma.ko", b"x")
    entry = module_dir_facts(str(tmp_path), "/lib/modules/k", ["kernel/net/rds/"])[0]
    assert (entry["rel"], entry["layout"], entry["files"]) == ("kernel/net/rds", "other", 1)


# --- build tree ---------------------------------------------------------------------------------------

def test_build_tree_dangling_and_present(tmp_path):
    symlink(tmp_path, "/lib/modules/6.1.0-50-amd64/build", "/usr/src/linux-headers-6.1.0-50-amd64")
    facts = build_tree_facts(str(tmp_path), "/lib/modules/6.1.0-50-amd64")
    assert facts["build_dir_exists"] is False and facts["build_dir_dangling"] is True
    assert facts["build_dir_link"] == "/usr/src/linux-headers-6.1.0-50-amd64"
    assert facts["source_dir_exists"] is False and facts["source_dir_dangling"] is False
    os.makedirs(tmp_path / "lib/modules/6.1.0-50-amd64/source")
    os.makedirs(tmp_path / "usr/src/linux-headers-6.1.0-50-amd64")
    # absolute link targets resolve on the host, not under tmp_path: point at the tree instead
    os.remove(tmp_path / "lib/modules/6.1.0-50-amd64/build")
    symlink(tmp_path, "/lib/modules/6.1.0-50-amd64/build", "../../../usr/src/linux-headers-6.1.0-50-amd64")
    facts = build_tree_facts(str(tmp_path), "/lib/modules/6.1.0-50-amd64")
    assert facts["build_dir_exists"] is True and facts["build_dir_dangling"] is False
    assert facts["source_dir_exists"] is True and facts["source_dir_link"] is None


# --- Secure Boot --------------------------------------------------------------------------------------

def test_secure_boot_legacy_bios(tmp_path):
    assert secure_boot_facts(str(tmp_path)) == {"state": "disabled",
                                                "source": "no /sys/firmware/efi: legacy BIOS boot"}


@pytest.mark.parametrize("data, state", [(b"\x06\x00\x00\x00\x01", "enabled"), (b"\x06\x00\x00\x00\x00", "disabled"),
                                         (b"\x06\x00", "unknown")])
def test_secure_boot_efivar(tmp_path, data, state):
    write(tmp_path, EFIVAR, data)
    assert secure_boot_facts(str(tmp_path))["state"] == state


def test_secure_boot_old_sysfs_vars(tmp_path):
    write(tmp_path, "/sys/firmware/efi/vars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c/data", b"\x01")
    assert secure_boot_facts(str(tmp_path))["state"] == "enabled"


@pytest.mark.parametrize("mok, state", [((0, "SecureBoot enabled\n"), "enabled"),
                                        ((0, "SecureBoot disabled\nPlatform is in Setup Mode\n"), "disabled"),
                                        ((1, "EFI variables are not supported on this system\n"), "unknown"),
                                        (None, "unknown")])
def test_secure_boot_mokutil_fallback(tmp_path, mok, state):
    os.makedirs(tmp_path / "sys/firmware/efi")
    facts = secure_boot_facts(str(tmp_path), mok)
    assert facts["state"] == state
    assert (facts["source"] == "mokutil --sb-state") is (state != "unknown")


# --- gather -------------------------------------------------------------------------------------------

def test_gather_unreadable_proc_modules_and_garbled_lines(tmp_path):
    os.makedirs(tmp_path / "proc/modules")   # present but unreadable
    facts = gather_kernel_facts(str(tmp_path), "6.1.0-50-amd64", "x86_64", {})
    assert facts["modules"]["readable"] is False
    assert {"code": "PROC_MODULES_UNREADABLE",
            "msg": "/proc/modules is unreadable: no loadable-module information here"} in facts["errors"]
    os.rmdir(tmp_path / "proc/modules")
    write(tmp_path, "/proc/modules", "ib_core 405504 0 - Live 0x0\n<binary garbage>\n")
    facts = gather_kernel_facts(str(tmp_path), "6.1.0-50-amd64", "x86_64", {})
    assert facts["modules"]["readable"] is True and facts["modules"]["manageable"] is True
    assert [m["name"] for m in facts["modules"]["loaded_ib"]] == ["ib_core"]
    assert [e for e in facts["errors"] if e["code"] == "PROC_MODULES_UNPARSEABLE"][0]["msg"].startswith("1 line(s)")


def test_gather_runs_only_the_expected_commands(tmp_path):
    calls = []

    def run(argv):
        calls.append(list(argv))
        return None   # no tool installed

    gather_kernel_facts(str(tmp_path), "k", "x86_64", {}, run=run)
    assert calls == [["systemd-detect-virt", "--container"], ["systemd-detect-virt", "--vm"]]
    os.makedirs(tmp_path / "sys/firmware/efi")
    calls.clear()
    facts = gather_kernel_facts(str(tmp_path), "k", "x86_64", {}, run=run)
    assert calls[-1] == ["mokutil", "--sb-state"]
    assert facts["secure_boot"]["state"] == "unknown"
    assert _kernel.SECURE_BOOT_EFIVAR in facts["secure_boot"]["source"]
