# SPDX-License-Identifier: GPL-3.0-or-later
"""main() of iser.ofed.kernel_facts on constructed roots, with command results patched."""
from __future__ import annotations

import os

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.modules import kernel_facts
from conftest import read_fixture, run_module
from kernel_tree_builder import DEBIAN12_KVER, build_debian12_modules, symlink, write, write_mountinfo

DEBIAN12_OS_RELEASE = ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
                       'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n')
CPU_GUEST = "processor\t: 0\nflags\t\t: fpu vme hypervisor\n"
CPU_METAL = "processor\t: 0\nflags\t\t: fpu vme\n"
EFIVAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


@pytest.fixture
def host(tmp_path, monkeypatch):
    """Point the module at ``tmp_path``; ``tools`` maps argv tuples to (rc, out, err); absent -> not installed."""
    state = {"tools": {}, "calls": []}
    write(tmp_path, "/etc/os-release", DEBIAN12_OS_RELEASE)
    write_mountinfo(tmp_path)
    monkeypatch.setattr(kernel_facts, "ROOT", str(tmp_path))
    monkeypatch.setattr(kernel_facts, "uname", lambda: (DEBIAN12_KVER, "x86_64"))

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return "/usr/bin/" + name if any(argv[0] == name for argv in state["tools"]) else None

    def run_command(self, args, **kwargs):
        state["calls"].append((list(args), kwargs.get("environ_update")))
        key = (os.path.basename(args[0]),) + tuple(args[1:])
        if isinstance(state["tools"][key], Exception):
            raise state["tools"][key]
        return state["tools"][key]

    monkeypatch.setattr(AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(AnsibleModule, "run_command", run_command)
    state["root"] = tmp_path
    return state


def _kernel(result):
    assert result["_exit_code"] == 0 and not result.get("failed"), result
    assert result["changed"] is False
    return result["ansible_facts"]["iser_ofed"]["kernel"]


def test_container_without_proc_modules_like_this_machine(host):
    # constructed after this build host: /.dockerenv, KVM guest, no /proc/modules, no /lib/modules
    write(host["root"], "/.dockerenv", "")
    write(host["root"], "/proc/cpuinfo", CPU_GUEST)
    host["tools"] = {("systemd-detect-virt", "--container"): (0, "docker\n", ""),
                     ("systemd-detect-virt", "--vm"): (0, "kvm\n", "")}
    facts = _kernel(run_module(kernel_facts.main, {}))
    assert facts["modules"] == {
        "readable": False, "manageable": False, "loaded_ib": [],
        "reason": "running in a container (docker): /proc/modules and uname -r belong to the host; "
                  "/proc/modules is absent: no loadable-module information here"}
    assert {"code": "PROC_MODULES_UNREADABLE",
            "msg": "/proc/modules is absent: no loadable-module information here"} in facts["errors"]
    assert facts["virtualization"]["container"] == "docker" and facts["virtualization"]["vm"] == "kvm"
    assert facts["secure_boot"]["state"] == "disabled"
    assert all(env == {"LC_ALL": "C"} for _argv, env in host["calls"])
    assert [argv for argv, _env in host["calls"]] == [
        ["/usr/bin/systemd-detect-virt", "--container"], ["/usr/bin/systemd-detect-virt", "--vm"]]


def test_vm_with_loaded_ib_modules(host):
    root = host["root"]
    build_debian12_modules(root)
    # constructed /proc/modules (fixtures/constructed/README.md) over the real Debian 12 modules.dep
    write(root, "/proc/modules", read_fixture("constructed", "proc_modules", "vm_mlx5_ipoib_nfsrdma.txt"))
    write(root, "/proc/cpuinfo", CPU_GUEST)
    write(root, "/sys/class/dmi/id/sys_vendor", "QEMU\n")
    host["tools"] = {("systemd-detect-virt", "--container"): (1, "none\n", ""),
                     ("systemd-detect-virt", "--vm"): (0, "kvm\n", "")}
    facts = _kernel(run_module(kernel_facts.main, {}))
    mods = facts["modules"]
    assert mods["readable"] is True and mods["manageable"] is True and mods["reason"] is None
    by_name = {m["name"]: m for m in mods["loaded_ib"]}
    assert set(by_name) == {"rpcrdma", "rdma_ucm", "ib_ipoib", "mlx5_ib", "rdma_cm", "iw_cm", "ib_cm",
                            "ib_uverbs", "ib_core", "mlx5_core", "mlxfw"}
    assert by_name["ib_cm"]["holders"] == ["ib_ipoib", "rdma_cm"]
    assert by_name["rpcrdma"]["path"] == "kernel/net/sunrpc/xprtrdma/rpcrdma.ko"
    assert facts["virtualization"] == {"container": None, "vm": "kvm", "evidence": [
        "systemd-detect-virt --vm: kvm", "DMI sys_vendor: QEMU", "cpu flag hypervisor"]}
    assert facts["errors"] == []


def test_bare_metal_host_with_the_real_debian12_tree(host):
    root = host["root"]
    build_debian12_modules(root)
    write(root, "/proc/modules", "ext4 1007616 1 - Live 0x0000000000000000\n")
    write(root, "/proc/cpuinfo", CPU_METAL)
    symlink(root, "/lib/modules/%s/build" % DEBIAN12_KVER, "/usr/src/linux-headers-%s" % DEBIAN12_KVER)
    write(root, EFIVAR, b"\x06\x00\x00\x00\x01")
    facts = _kernel(run_module(kernel_facts.main, {}))   # no systemd-detect-virt, no mokutil installed
    assert host["calls"] == []
    assert facts["running"] == facts["target"] == DEBIAN12_KVER == "6.1.0-50-amd64"
    assert facts["target_is_running"] is True and facts["arch"] == "x86_64"
    assert facts["distribution"]["id"] == "debian" and facts["distribution"]["family"] == "debian"
    assert facts["distribution"]["codename"] == "bookworm"
    assert facts["modules_dir_exists"] is True
    assert facts["build_dir_exists"] is False and facts["build_dir_dangling"] is True
    assert facts["config"] == {"path": "/boot/config-6.1.0-50-amd64", "infiniband": "m", "infiniband_found": True}
    assert facts["ib_register_client_in_modules_symbols"] is True
    assert [(d["rel"], d["layout"], d["exists"], d["files"], d["bytes"]) for d in facts["stock_dirs"]] == [
        ("kernel/drivers/infiniband", "infiniband", True, 24, 11198008),
        ("kernel/drivers/net/mlx4", "mlx4_old", False, 0, 0),
        ("kernel/drivers/net/ethernet/mellanox/mlx4", "mellanox", True, 2, 1188050),
        ("kernel/drivers/net/ethernet/mellanox/mlx5", "mellanox", True, 1, 3866977),
        ("kernel/drivers/net/ethernet/mellanox/mlxfw", "mellanox", True, 1, 54681)]
    assert [d["exists"] for d in facts["ofed_module_dirs"]] == [False, False, False]
    assert facts["modules"]["loaded_ib"] == [] and facts["modules"]["manageable"] is True
    assert facts["virtualization"] == {"container": None, "vm": None, "evidence": []}
    assert facts["secure_boot"] == {"state": "enabled", "source": EFIVAR}
    assert facts["root_fs"]["mount"] == "/" and facts["root_fs"]["rdma"] is False
    assert facts["boot_fs"]["mount"] == "/"
    assert facts["errors"] == []


def test_missing_target_kernel_is_reported_not_failed(host):
    build_debian12_modules(host["root"])
    write(host["root"], "/proc/modules", "")
    facts = _kernel(run_module(kernel_facts.main, {"target_kernel": "5.10.0-99-amd64"}))
    assert facts["running"] == DEBIAN12_KVER and facts["target"] == "5.10.0-99-amd64"
    assert facts["target_is_running"] is False
    assert facts["modules_dir"] == "/lib/modules/5.10.0-99-amd64" and facts["modules_dir_exists"] is False
    assert facts["config"]["path"] is None and facts["ib_register_client_in_modules_symbols"] is None
    assert all(not d["exists"] for d in facts["stock_dirs"] + facts["ofed_module_dirs"])
    assert facts["errors"] == [{"code": "TARGET_KERNEL_NOT_INSTALLED", "msg": "/lib/modules/5.10.0-99-amd64 does "
                                "not exist: kernel 5.10.0-99-amd64 is not installed here"}]


def test_module_dirs_option_and_check_mode(host):
    build_debian12_modules(host["root"])
    result = run_module(kernel_facts.main, {"module_dirs": ["kernel/drivers/infiniband/ulp"],
                                            "_ansible_check_mode": True})
    facts = _kernel(result)
    assert [(d["rel"], d["files"]) for d in facts["stock_dirs"]] == [("kernel/drivers/infiniband/ulp", 5)]


def test_rejects_unknown_option(host):
    result = run_module(kernel_facts.main, {"kernel": "x"})
    assert result["failed"] is True and "kernel" in result["msg"]


def test_runs_on_this_machine_as_it_is():
    """No patching: the real host (here a docker container without /proc/modules; in CI a runner VM)."""
    facts = _kernel(run_module(kernel_facts.main, {}))
    assert facts["running"] == os.uname().release
    assert facts["modules"]["readable"] is os.access("/proc/modules", os.R_OK)
    if not os.path.exists("/proc/modules"):
        assert "PROC_MODULES_UNREADABLE" in [e["code"] for e in facts["errors"]]
        assert facts["modules"]["manageable"] is False
    assert facts["modules_dir_exists"] is os.path.isdir("/lib/modules/" + os.uname().release)


def test_efi_host_secure_boot_from_mokutil_and_a_broken_tool(host):
    root = host["root"]
    os.makedirs(root / "sys/firmware/efi/efivars")   # efivarfs without the SecureBoot variable
    host["tools"] = {("systemd-detect-virt", "--container"): OSError(8, "Exec format error"),
                     ("systemd-detect-virt", "--vm"): (1, "none\n", ""),
                     ("mokutil", "--sb-state"): (0, "SecureBoot enabled\n", "")}
    result = run_module(kernel_facts.main, {})
    facts = _kernel(result)
    assert facts["secure_boot"] == {"state": "enabled", "source": "mokutil --sb-state"}
    assert facts["virtualization"]["container"] is None
    # 2.18 returns warnings as strings, 2.19 as structured WarningSummary dicts
    assert any("Exec format error" in str(w) for w in result.get("warnings", []))
