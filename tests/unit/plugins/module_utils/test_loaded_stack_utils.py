# SPDX-License-Identifier: GPL-3.0-or-later
"""_loaded_stack: build-ids, modinfo, origins and the journal's due reboots, on captures from the test-bed VM
(Debian 12, kernel 6.1.0-56-amd64: captured/vm-debian12-6.1.0-56/). Cases marked constructed are invented."""
from __future__ import annotations

import gzip
import lzma

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _loaded_stack as ls

from conftest import fixture_path, read_fixture

CAP = ("captured", "vm-debian12-6.1.0-56")
K = "6.1.0-56-amd64"
IB_CORE_FILE = "/lib/modules/6.1.0-56-amd64/kernel/drivers/infiniband/core/ib_core.ko"


def _bytes(name: str) -> bytes:
    with open(fixture_path(*CAP, name), "rb") as handle:
        return handle.read()


def test_build_id_of_the_sysfs_note_and_of_the_file_agree():
    """The VM's /sys/module/crc_t10dif note and kernel/lib/crc-t10dif.ko carry the same build-id (readelf -n
    on the VM printed 36271f0a...)."""
    loaded = ls.build_id_of_notes(_bytes("sys-module-crc_t10dif-build-id.note"))
    on_disk = ls.elf_build_id(_bytes("crc-t10dif.ko"))
    assert loaded == on_disk == "36271f0af2e2d3975f26681dc37d2d2cbc633a20"
    assert ls.build_id_of_notes(_bytes("sys-module-ib_core-build-id.note")) == \
        "484bf9f384b7bb575109763bf0dc949901d6332d"


def test_compressed_modules_are_read():
    raw = _bytes("crc-t10dif.ko")
    assert ls.elf_build_id(ls.decompress_module(lzma.compress(raw), "x.ko.xz")) == ls.elf_build_id(raw)
    assert ls.elf_build_id(ls.decompress_module(gzip.compress(raw), "x.ko.gz")) == ls.elf_build_id(raw)
    assert ls.decompress_module(raw, "x.ko.zst") is None
    assert ls.decompress_module(b"not xz", "x.ko.xz") is None


@pytest.mark.parametrize("data", [b"", b"\x7fELF", b"garbage" * 20, None])
def test_garbage_is_no_build_id(data):
    """constructed: not ELF, truncated ELF, truncated note."""
    raw = _bytes("crc-t10dif.ko")
    for blob in ([data] if data is not None else [raw[:200], raw[:len(raw) // 2]]):
        assert ls.elf_build_id(blob) is None
    assert ls.build_id_of_notes(_bytes("sys-module-ib_core-build-id.note")[:20]) is None


def test_parse_modinfo_real_output():
    info = ls.parse_modinfo(read_fixture(*CAP, "modinfo-ib_core.txt"))
    assert info["filename"] == IB_CORE_FILE
    assert info["intree"] == "Y" and info["vermagic"].startswith(K)
    assert info["alias"] == "rdma-netlink-subsys-4"  # first of the repeated keys
    assert "srcversion" not in info  # Debian: no CONFIG_MODULE_SRCVERSION_ALL
    # modinfo exits 1 with an error line (rc is checked first); no filename comes out of it either
    assert "filename" not in ls.parse_modinfo(read_fixture(*CAP, "modinfo-absent.txt"))


@pytest.mark.parametrize("path,origin,rel", [
    (IB_CORE_FILE, "in_tree", "kernel/drivers/infiniband/core/ib_core.ko"),
    ("/lib/modules/6.1.0-56-amd64/updates/dkms/ib_core.ko", "ofed", "updates/dkms/ib_core.ko"),
    ("/lib/modules/6.1.0-56-amd64/extra/mlnx-ofa_kernel/drivers/infiniband/core/ib_core.ko", "ofed",
     "extra/mlnx-ofa_kernel/drivers/infiniband/core/ib_core.ko"),
    ("/lib/modules/6.1.0-56-amd64/weak-updates/mlnx-ofa_kernel/ib_core.ko", "ofed",
     "weak-updates/mlnx-ofa_kernel/ib_core.ko"),
    ("/lib/modules/6.1.0-57-amd64/kernel/drivers/infiniband/core/ib_core.ko", "other", None),
    ("/root/holder_module/iser_ofed_holder.ko", "other", None),
    (None, "other", None),
])
def test_origin_of(path, origin, rel):
    assert ls.origin_of(path, K) == (origin, rel)


def _sysfs(build_id=None, srcversion=None, present=True, initstate="live"):
    return {"present": present, "initstate": initstate, "build_id": build_id, "srcversion": srcversion}


def test_in_tree_module_loaded_from_its_file_is_ok():
    info = ls.parse_modinfo(read_fixture(*CAP, "modinfo-ib_core.txt"))
    info["build_id"] = "484bf9f384b7bb575109763bf0dc949901d6332d"
    loaded = ls.build_id_of_notes(_bytes("sys-module-ib_core-build-id.note"))
    rec = ls.judge_module("ib_core", _sysfs(loaded), info, K, "in_tree")
    assert rec["status"] == "ok" and rec["loaded"] and rec["compared"] == "build_id", rec
    assert ls.summarize([rec]) == {"loaded": ["ib_core"], "mismatches": [], "ok": True}


def test_in_tree_module_when_ofed_is_intended_is_wrong_origin():
    """After an OFED install, ib_core still resolving to kernel/ means the OFED modules are not the ones
    modprobe loads (depmod did not run, or the purge missed a copy)."""
    info = ls.parse_modinfo(read_fixture(*CAP, "modinfo-ib_core.txt"))
    rec = ls.judge_module("ib_core", _sysfs("aa"), info, K, "ofed")
    assert rec["status"] == "wrong_origin" and "kernel/" in rec["file"]
    summary = ls.summarize([rec])
    assert not summary["ok"] and summary["mismatches"][0]["status"] == "wrong_origin"


def test_module_loaded_before_the_install_is_stale():
    """constructed: the file on disk is a different build from the module in memory."""
    info = {"filename": "/lib/modules/%s/updates/dkms/ib_core.ko" % K, "build_id": "bb" * 20}
    rec = ls.judge_module("ib_core", _sysfs("aa" * 20), info, K, "ofed")
    assert rec["status"] == "stale" and "reload" in rec["msg"]
    # srcversion decides when there is no build-id on both sides (MODULE_VERSION modules)
    info = {"filename": "/lib/modules/%s/updates/dkms/ib_core.ko" % K, "srcversion": "AB12"}
    assert ls.judge_module("ib_core", _sysfs(None, "CD34"), info, K, "ofed")["status"] == "stale"
    assert ls.judge_module("ib_core", _sysfs(None, "AB12"), info, K, "ofed")["compared"] == "srcversion"


def test_not_loaded_builtin_and_no_file():
    assert ls.judge_module("mlx4_ib", _sysfs(present=False), None, K, "in_tree")["status"] == "not_loaded"
    assert ls.judge_module("bridge", _sysfs(initstate=None), None, K, "in_tree")["status"] == "builtin"
    rec = ls.judge_module("ib_core", _sysfs("aa"), None, K, "in_tree")
    assert rec["status"] == "no_file" and not ls.summarize([rec])["ok"]
    rec = ls.judge_module("x", _sysfs(), {"filename": IB_CORE_FILE}, K, "in_tree")
    assert rec["status"] == "ok" and rec["compared"] is None and "no build-id" in rec["msg"]


def test_btime_of_the_real_proc_stat():
    assert ls.parse_btime(read_fixture(*CAP, "proc-stat.txt")) == 1795617409
    assert ls.parse_btime("cpu 1 2 3\n") is None and ls.parse_btime("") is None


def _journal(**stages):
    return {"version": 1, "stages": {name: dict(rec, stage=name) for name, rec in stages.items()}, "history": []}


BOOT = ls.journal_epoch("2026-11-25T14:36:49Z")


def test_reboot_due_only_for_records_after_the_boot():
    """constructed journals; btime of the captured boot."""
    after = {"status": "done", "time": "2026-11-25T14:50:00Z",
             "data": {"kernel": K, "reboot_required": True, "restart_required": True,
                      "restart_command": "/etc/init.d/openibd restart"}}
    due = ls.due_after_boot(_journal(ofed_install=after), BOOT, K)
    assert due["reboot"]["required"] and "ofed_install reported reboot_required" in due["reboot"]["reasons"][0]
    assert due["restart"]["required"] and "openibd restart" in due["restart"]["reasons"][0]
    before = dict(after, time="2026-11-25T14:30:00Z")
    due = ls.due_after_boot(_journal(ofed_install=before), BOOT, K)
    assert not due["reboot"]["required"] and not due["restart"]["required"]


def test_reboot_due_for_an_install_for_another_kernel_and_not_for_closed_stages():
    other = {"status": "done", "time": "2026-11-25T14:50:00Z", "data": {"kernel": "6.1.0-57-amd64"}}
    due = ls.due_after_boot(_journal(ofed_install=other), BOOT, K)
    assert due["reboot"]["reasons"] == ["ofed_install installed the stack for kernel 6.1.0-57-amd64 at "
                                        "2026-11-25T14:50:00Z; the running kernel is %s" % K]
    for status in ("rolled_back", "failed", "started"):
        rec = dict(other, status=status, data={"reboot_required": True})
        assert not ls.due_after_boot(_journal(ofed_install=rec), BOOT, K)["reboot"]["required"]
    # an unreadable boot time counts every done record; an unparsable record time then counts too
    assert ls.due_after_boot(_journal(x=dict(other, data={"reboot_required": True})), None, K)["reboot"]["required"]
    assert not ls.due_after_boot(_journal(x=dict(other, time="yesterday", data={"reboot_required": True})),
                                 BOOT, K)["reboot"]["required"]
    assert ls.due_after_boot({}, BOOT, K) == {"reboot": {"required": False, "reasons": []},
                                              "restart": {"required": False, "reasons": []}}


def test_expected_stack_from_the_journal():
    assert ls.expected_stack(_journal())[0] == "in_tree"
    done = {"status": "done", "time": "2026-11-25T14:50:00Z", "data": {"flavor": "mlnx_ofed", "version": "5.0"}}
    stack, why = ls.expected_stack(_journal(ofed_install=done))
    assert stack == "ofed" and "mlnx_ofed 5.0" in why
    assert ls.expected_stack(_journal(ofed_install=dict(done, status="rolled_back")))[0] == "in_tree"
