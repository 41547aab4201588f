# SPDX-License-Identifier: GPL-3.0-or-later
"""_site_state: the fast path's parsers on REAL captures (fixtures/captured/site-state-converged,
debian12-kernel-build) and its controller-side identities on real files under tmp_path."""
from __future__ import annotations

import hashlib

from ansible_collections.iser.ofed.plugins.module_utils import _site_state as ss
from conftest import read_fixture

CAPTURE = "captured/site-state-converged"
KVER = "6.1.0-57-amd64"


def test_modinfo_blocks_by_module_name():
    found = ss.parse_modinfo(read_fixture(CAPTURE, "modinfo_-k_scst_iscsi-scst_isert-scst.txt"))
    assert sorted(found) == ["iscsi-scst", "isert-scst", "scst"]
    assert found["isert-scst"]["filename"] == "/lib/modules/%s/extra/isert-scst.ko" % KVER
    assert found["scst"]["vermagic"].startswith(KVER + " SMP")
    ss.check_scst_modules(found, ["scst", "iscsi_scst", "isert-scst"], KVER)  # '_' and '-' are the same


def test_modinfo_with_a_module_missing_names_it():
    found = ss.parse_modinfo(read_fixture(CAPTURE, "modinfo_missing_module.txt"))
    assert sorted(found) == ["isert-scst", "scst"]
    try:
        ss.check_scst_modules(found, ["scst", "iscsi-scst", "isert-scst"], KVER)
    except ss.NotConverged as exc:
        assert str(exc) == "modinfo -k %s: iscsi-scst not found" % KVER
    else:
        raise AssertionError("a missing module passed")


def test_modinfo_of_a_module_file_removed_names_the_error():
    """modules.dep still names isert-scst, its file is gone: modinfo prints its filename, then an error."""
    out = read_fixture(CAPTURE, "modinfo_file_removed.txt")
    err = read_fixture(CAPTURE, "modinfo_file_removed.stderr")
    assert "isert-scst" in ss.parse_modinfo(out)
    assert ss.modinfo_errors(err) == {"isert-scst": "modinfo: ERROR: could not get modinfo from 'isert_scst': "
                                                    "No such file or directory"}
    try:
        ss.check_scst_modules(ss.parse_modinfo(out), ["scst", "iscsi-scst", "isert-scst"], KVER, err)
    except ss.NotConverged as exc:
        assert str(exc) == ("modinfo -k %s: isert-scst: modinfo: ERROR: could not get modinfo from 'isert_scst': "
                            "No such file or directory" % KVER)
    else:
        raise AssertionError("a removed module file passed")
    assert ss.modinfo_errors(read_fixture(CAPTURE, "modinfo_missing_module.stderr")) == {
        "nosuch-mod": "modinfo: ERROR: Module nosuch-mod not found."}


def test_modinfo_of_another_kernel_is_refused():
    found = ss.parse_modinfo(read_fixture(CAPTURE, "modinfo_-k_scst_iscsi-scst_isert-scst.txt"))
    try:
        ss.check_scst_modules(found, ["scst"], "6.1.0-58-amd64")
    except ss.NotConverged as exc:
        assert "not under /lib/modules/6.1.0-58-amd64/" in str(exc)
    else:
        raise AssertionError("another kernel's module passed")


def test_crcs_from_real_modversions_and_symvers():
    linked = ss.crc_from_modversions(read_fixture(CAPTURE, "modprobe_--dump-modversions_isert-scst.txt"))
    expected = ss.crc_from_symvers(read_fixture(CAPTURE, "Module.symvers_grep_ib_register_client.txt"))
    assert linked == expected == "0x5b3e3d2a"
    # the distribution kernel's own Module.symvers (in-tree headers) has another CRC
    stock = ss.crc_from_symvers(read_fixture("captured/debian12-kernel-build", "Module.symvers_grep_ib_register_client.txt"))
    assert stock and stock.startswith("0x") and stock != linked
    assert ss.crc_from_modversions("") is None and ss.crc_from_symvers("0x1\tother\tvmlinux\tEXPORT_SYMBOL\n") is None


def test_checksums_in_validates_form():
    assert ss.parse_checksum("SHA256:ABCD") == ("sha256", "abcd")
    assert ss.parse_checksum("") is None and ss.parse_checksum(None) is None


def test_fast_inputs_from_a_controller_file(tmp_path):
    bundle = tmp_path / "MLNX_OFED_LINUX-5.0-2.1.8.0-debian12-x86_64.tgz"
    bundle.write_bytes(b"bundle")
    scst = tmp_path / "scst-3.8.0.tar.bz2"
    scst.write_bytes(b"scst")
    got = ss.fast_inputs(bundle_path=str(bundle), scst_path=str(scst))
    assert got == {"bundle_name": bundle.name, "bundle_checksum": "sha256:" + hashlib.sha256(b"bundle").hexdigest(),
                   "scst_source_id": "sha1:" + hashlib.sha1(b"scst").hexdigest()}  # iscsi_scst's default algorithm
    # a given checksum is used as given (nothing hashed), and the SCST checksum's algorithm is iscsi_scst's
    got = ss.fast_inputs(bundle_url="http://mirror/x/" + bundle.name + "?a=b", bundle_checksum="sha256:AB",
                         scst_path=str(scst), scst_checksum="sha256:" + hashlib.sha256(b"scst").hexdigest())
    assert got == {"bundle_name": bundle.name, "bundle_checksum": "sha256:ab",
                   "scst_source_id": "sha256:" + hashlib.sha256(b"scst").hexdigest()}
    assert ss.fast_inputs(scst_path=str(tmp_path), scst_version="3.8")["scst_source_id"] == "dir:%s@3.8" % tmp_path


def test_fast_inputs_unknown_when_the_controller_cannot_tell(tmp_path):
    # a URL without checksum, a host-side file, an ISO (validate converts it), a git source
    assert ss.fast_inputs(bundle_url="http://m/b.tgz")["bundle_checksum"] == ""
    assert ss.fast_inputs(bundle_path="/on/the/host/b.tgz")["bundle_checksum"] == ""
    assert ss.fast_inputs(bundle_path=str(tmp_path / "b.iso"), bundle_checksum="sha256:ab")["bundle_name"] == ""
    assert ss.fast_inputs(scst_git="https://github.com/SCST-project/scst")["scst_source_id"] == ""
    assert ss.fast_inputs(scst_path="/on/the/host/scst.tar.bz2")["scst_source_id"] == ""


def test_converged_summary_says_what_was_read():
    text = ss.summary({"kernel": KVER, "stack": {"flavor": "mlnx_ofed", "version": "5.0-2.1.8.0",
                                                 "kernel_packages": ["mlnx-ofed-kernel-dkms"]},
                       "scst": {"modules": ["scst", "isert-scst"], "source_id": "sha1:d8"}})
    assert text.startswith("converged (fast path): mlnx_ofed 5.0-2.1.8.0 for kernel %s" % KVER)
    assert "scst, isert-scst built from sha1:d8" in text
