# SPDX-License-Identifier: GPL-3.0-or-later
"""main() of iser.ofed.stock_modules on the Debian 12 tree rebuilt from real captures, commands patched."""
from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.modules import stock_modules
from conftest import read_fixture, run_module
from stock_tree import DEBIAN12_KVER, build, digest, symlink, write

NET = "captured/build-host-net"
IB_CORE = "kernel/drivers/infiniband/core/ib_core.ko"
# constructed lsinitramfs listing: the Debian initramfs of a host that loads ib_core early (e.g. IPoIB root)
LSINITRAMFS = "usr/lib/modules/%s/%s\nusr/lib/modules/%s/kernel/drivers/net/virtio_net.ko\n" % (
    DEBIAN12_KVER, IB_CORE, DEBIAN12_KVER)


@pytest.fixture
def host(tmp_path, monkeypatch):
    root = tmp_path / "root"
    modules_dir = build(root)
    write(root, "/boot/initrd.img-%s" % DEBIAN12_KVER, b"constructed")
    write(root, "/proc/net/route", read_fixture(NET, "proc_net_route.txt"))
    write(root, "/proc/net/ipv6_route", read_fixture(NET, "proc_net_ipv6_route.txt"))
    symlink(root, "/sys/class/net/eth0/device/driver", "../../../bus/virtio/drivers/virtio_net")  # constructed
    monkeypatch.setattr(stock_modules, "ROOT", str(root))
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    state = {"root": root, "modules_dir": modules_dir, "calls": [], "before": digest(modules_dir),
             "state_dir": str(tmp_path / "state"),
             "tools": {"depmod": (0, "", ""), "lsinitramfs": (0, LSINITRAMFS, ""), "update-initramfs": (0, "", ""),
                       "ip": (0, read_fixture(NET, "ip_-j_addr.json"), "")}}

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return "/usr/sbin/" + name if name in state["tools"] else None

    def run_command(self, args, **kwargs):
        assert kwargs.get("environ_update") == {"LC_ALL": "C"} and isinstance(args, list)
        state["calls"].append([os.path.basename(args[0])] + list(args[1:]))
        return state["tools"][os.path.basename(args[0])]

    monkeypatch.setattr(AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(AnsibleModule, "run_command", run_command)
    return state


def run(host, **args):
    params = {"kernel": DEBIAN12_KVER, "state_dir": host["state_dir"],
              "modules_root": os.path.join(str(host["root"]), "lib/modules")}
    params.update(args)
    host["calls"].clear()
    result = run_module(stock_modules.main, params)
    assert result.get("failed") or result["_exit_code"] == 0
    return result


def changes(host):
    return [c[0] for c in host["calls"] if c[0] in ("depmod", "update-initramfs", "dracut")]


def test_quarantine_then_idempotent_then_restore(host):
    result = run(host, state="quarantined")
    assert not result.get("failed"), result
    assert result["changed"] is True and result["state"] == "complete"
    assert result["moved"] == ["kernel/drivers/infiniband", "kernel/drivers/net/ethernet/mellanox/mlx4",
                               "kernel/drivers/net/ethernet/mellanox/mlx5"]
    assert result["kept"] == [] and result["files"] == 28
    assert result["dependents"] == ["9pnet_rdma", "nvme_rdma", "nvmet_rdma", "rds_rdma", "rpcrdma", "smc", "smc_diag"]
    assert result["depmod_ran"] is True and result["initramfs_rebuilt"] is True
    base = str(host["root"])
    assert ["depmod", "-b", base, "-a", DEBIAN12_KVER] in host["calls"]
    assert ["lsinitramfs", "/boot/initrd.img-%s" % DEBIAN12_KVER] in host["calls"]
    assert host["calls"][-1] == ["update-initramfs", "-u", "-k", DEBIAN12_KVER]
    assert result["manifest"] == os.path.join(host["state_dir"], "quarantine", DEBIAN12_KVER, "manifest.json")
    manifest = json.load(open(result["manifest"]))
    assert manifest["state"] == "complete" and manifest["todo"] == [] and manifest["initramfs_rebuilt"] is True
    assert manifest["initramfs_contained"] == [IB_CORE]
    assert not os.path.exists(os.path.join(host["modules_dir"], IB_CORE))

    again = run(host, state="quarantined")
    assert not again.get("failed"), again
    assert again["changed"] is False and again["moved"] == [] and again["files"] == 0 and changes(host) == []
    assert again["dependents"] == result["dependents"]  # kept from the manifest

    back = run(host, state="restored")
    assert back["changed"] is True and back["moved"] == result["moved"] and back["files"] == 28
    assert changes(host) == ["depmod", "update-initramfs"]
    assert digest(host["modules_dir"]) == host["before"]
    assert json.load(open(result["manifest"]))["state"] == "restored"

    again = run(host, state="restored")
    assert not again.get("failed") and again["changed"] is False and changes(host) == []


def test_check_mode_and_diff_touch_nothing(host):
    result = run(host, state="quarantined", _ansible_check_mode=True, _ansible_diff=True)
    assert result["changed"] is True and result["files"] == 28 and result["dependents"][0] == "9pnet_rdma"
    assert "%s/%s" % (host["modules_dir"], IB_CORE) in result["diff"]["before"]
    assert "quarantine/%s/files/%s" % (DEBIAN12_KVER, IB_CORE) in result["diff"]["after"]
    assert digest(host["modules_dir"]) == host["before"] and not os.path.exists(host["state_dir"])
    assert changes(host) == []


def test_check_mode_restore_touches_nothing(host):
    run(host, state="quarantined")
    quarantined = digest(host["modules_dir"]), digest(host["state_dir"])
    result = run(host, state="restored", _ansible_check_mode=True, _ansible_diff=True)
    assert result["changed"] is True and result["files"] == 28
    assert IB_CORE in result["diff"]["after"]
    assert (digest(host["modules_dir"]), digest(host["state_dir"])) == quarantined and changes(host) == []


@pytest.mark.parametrize("bad", ["updates/dkms", "extra", "kernel/../updates"])
def test_refused_dirs_change_nothing(host, bad):
    result = run(host, state="quarantined", dirs=["kernel/drivers/infiniband", bad])
    assert result["failed"] and result["msg"].startswith("dirs: ")
    assert digest(host["modules_dir"]) == host["before"] and host["calls"] == []


def test_management_nic_dir_is_kept(host, monkeypatch):
    os.unlink(os.path.join(str(host["root"]), "sys/class/net/eth0/device/driver"))
    symlink(host["root"], "/sys/class/net/eth0/device/driver", "../../../bus/pci/drivers/mlx5_core")
    symlink(host["root"], "/sys/bus/pci/drivers/mlx5_core/module", "../../../../module/mlx5_core")  # constructed
    monkeypatch.setenv("SSH_CONNECTION", "192.0.2.1 50022 192.0.2.2 22")
    result = run(host, state="quarantined")
    assert [k["dir"] for k in result["kept"]] == ["kernel/drivers/net/ethernet/mellanox/mlx5"]
    assert "eth0 carries the management connection (default route, management connection to 192.0.2.2)" in \
        result["kept"][0]["reason"]
    assert "kernel/drivers/net/ethernet/mellanox/mlx5" not in result["moved"]
    assert os.path.isfile(os.path.join(host["modules_dir"],
                                       "kernel/drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko"))
    forced = run(host, state="quarantined", force=True)
    assert forced["changed"] and forced["moved"] == ["kernel/drivers/net/ethernet/mellanox/mlx5"]
    assert "force: moving" in json.dumps(forced.get("warnings")), forced.get("warnings")


def test_initramfs_never_and_not_in_image(host):
    result = run(host, state="quarantined", initramfs="never", depmod=False)
    assert result["changed"] and host["calls"] == [["ip", "-j", "addr"]]
    run(host, state="restored", initramfs="never", depmod=False)
    host["tools"]["lsinitramfs"] = (0, "usr/lib/modules/%s/kernel/drivers/net/virtio_net.ko\n" % DEBIAN12_KVER, "")
    result = run(host, state="quarantined")
    assert result["initramfs_rebuilt"] is False and changes(host) == ["depmod"]


def test_failed_depmod_is_retried_by_the_next_run(host):
    host["tools"]["depmod"] = (1, "", "depmod: ERROR: something")
    result = run(host, state="quarantined")
    assert result["failed"] and "depmod" in result["msg"] and result["rc"] == 1
    manifest = json.load(open(os.path.join(host["state_dir"], "quarantine", DEBIAN12_KVER, "manifest.json")))
    assert manifest["state"] == "complete" and manifest["todo"] == ["depmod", "initramfs"]
    host["tools"]["depmod"] = (0, "", "")
    result = run(host, state="quarantined")
    assert result["changed"] and result["files"] == 0 and changes(host) == ["depmod", "update-initramfs"]
    assert run(host, state="quarantined")["changed"] is False


def test_missing_kernel_fails_clearly(host):
    result = run(host, state="quarantined", kernel="6.1.0-99-amd64")
    assert result["failed"] and "kernel 6.1.0-99-amd64 is not installed" in result["msg"]


def test_reappeared_files_fail_with_their_names(host):
    run(host, state="quarantined")
    write(host["modules_dir"], IB_CORE, b"reinstalled")
    result = run(host, state="quarantined")
    assert result["failed"] and result["reappeared"] == [IB_CORE] and "reappeared" in result["msg"]
