# SPDX-License-Identifier: GPL-3.0-or-later
"""main() of iser.ofed.site_state on a converged host rebuilt under ``tmp_path``.

The journal, ``ofed_info -s``, ``dpkg-query``, ``modinfo -k``, ``modprobe --dump-modversions`` and the
``Module.symvers`` line are REAL captures of a host one real site run converged
(fixtures/captured/site-state-converged); the journal's paths point into ``tmp_path``. The module tree is
CONSTRUCTED: the DKMS-built ib_core placeholder where DKMS puts it, and the modules.dep line resolving it.
Each refusal case breaks one real thing on that host and checks the module says so.
"""
from __future__ import annotations

import hashlib
import json
import os

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.modules import site_state
from conftest import read_fixture, run_module, write_file as write

CAPTURE = "captured/site-state-converged"
KVER = "6.1.0-57-amd64"
SCST_ID = "sha1:d86f41fb2edd3c4e2fca34b80080ff54523c66b5"  # what that host's journal recorded
BUNDLE = "MLNX_OFED_LINUX-5.0-2.1.8.0-debian12-x86_64.tgz"


class Host:
    """The captured converged host: a state dir, a module tree, the commands' captured answers."""

    def __init__(self, monkeypatch, tmp_path):
        self.tmp = tmp_path
        self.calls = []
        self.state = tmp_path / "state"
        self.root = tmp_path / "lib-modules"
        self.archive = write(self.state, "bundles/" + BUNDLE, "the staged bundle\n")
        self.symvers = write(tmp_path, "usr/src/ofa_kernel/default/Module.symvers",
                             read_fixture(CAPTURE, "Module.symvers_grep_ib_register_client.txt"))
        journal = json.loads(read_fixture(CAPTURE, "journal.json"))
        journal["stages"]["validate"]["data"]["archive"] = self.archive
        journal["stages"]["iscsi_scst"]["data"]["headers"]["module_symvers"] = self.symvers
        self.journal = journal
        self.write_journal()
        kdir = os.path.join(str(self.root), KVER)
        write(kdir, "updates/dkms/ib_core.ko", "constructed\n")
        write(kdir, "modules.dep", "updates/dkms/ib_core.ko:\n")
        self.ofed_info = write(tmp_path, "usr/bin/ofed_info", "#!/bin/sh\n")
        self.answers = {
            "ofed_info": (0, read_fixture(CAPTURE, "ofed_info_-s.txt"), ""),
            "dpkg-query": (int(read_fixture(CAPTURE, "dpkg-query.rc")), read_fixture(CAPTURE, "dpkg-query.txt"),
                           read_fixture(CAPTURE, "dpkg-query.stderr")),
            "modinfo": (0, read_fixture(CAPTURE, "modinfo_-k_scst_iscsi-scst_isert-scst.txt"), ""),
            "modprobe": (0, read_fixture(CAPTURE, "modprobe_--dump-modversions_isert-scst.txt"), ""),
        }
        monkeypatch.setattr(site_state, "USR_OFED_INFO", self.ofed_info)
        monkeypatch.setattr(AnsibleModule, "run_command", lambda _m, argv, **kw: self.run_command(argv))
        monkeypatch.setattr(AnsibleModule, "get_bin_path",
                            lambda _self, name, *a, **k: "/usr/bin/dpkg-query" if name == "dpkg-query" else None)

    def write_journal(self):
        write(self.state, "journal.json", json.dumps(self.journal))

    def run_command(self, argv):
        self.calls.append(list(argv))
        key = os.path.basename(argv[0])
        if key not in self.answers:
            raise AssertionError("unexpected command %r" % (argv,))
        return self.answers[key]

    def args(self, **over):
        args = {"state_dir": str(self.state), "modules_root": str(self.root), "target_kernel": KVER,
                "flavor": "mlnx_ofed", "version": "5.0-2.1.8.0", "bundle_name": BUNDLE,
                "bundle_checksum": "sha256:" + hashlib.sha256(b"the staged bundle\n").hexdigest(),
                "scst_source_id": SCST_ID}
        args.update(over)
        return args

    def run(self, **over):
        result = run_module(site_state.main, self.args(**over))
        assert result["changed"] is False and not result.get("failed"), result
        return result


@pytest.fixture
def host(monkeypatch, tmp_path):
    return Host(monkeypatch, tmp_path)


def test_a_converged_host_is_read_once_and_found_converged(host, tmp_path):
    before = sorted(os.walk(str(tmp_path)))
    res = host.run(_ansible_check_mode=True)
    assert res["converged"] is True and res["reason"] == ""
    read = res["read"]
    assert read["checks"] == ["inputs", "lock", "journal", "bundle", "stack", "drift", "scst"]
    assert read["stack"]["flavor"] == "mlnx_ofed" and read["stack"]["version"] == "5.0-2.1.8.0"
    assert read["stack"]["kernel_packages"] == ["mlnx-ofed-kernel-dkms"]
    assert read["scst"]["crc"] == "0x5b3e3d2a"
    assert res["journal"]["stages"]["finalize"]["status"] == "done"
    # every real read happened: the package query, ofed_info -s, modinfo for the target kernel, the CRC
    assert [c[0] for c in host.calls] == ["/usr/bin/dpkg-query", host.ofed_info, "modinfo", "modprobe"]
    assert host.calls[2] == ["modinfo", "-k", KVER, "scst", "iscsi-scst", "isert-scst"]
    assert sorted(os.walk(str(tmp_path))) == before  # nothing written


def test_no_journal_is_not_converged_without_reading_more(host):
    os.remove(str(host.state / "journal.json"))
    res = host.run()
    assert res["converged"] is False and "no journal" in res["reason"]
    assert host.calls == [] and res["read"]["checks"] == ["inputs", "lock"]


def test_a_lock_sends_the_host_to_the_pipeline(host):
    write(host.state, "site.lock", "{}")
    res = host.run()
    assert res["converged"] is False and "site.lock is present" in res["reason"]


@pytest.mark.parametrize("over, words", [
    ({"bundle_name": "MLNX_OFED_LINUX-5.8-3.0.7.0-debian12-x86_64.tgz"}, "validate recorded bundle " + BUNDLE),
    ({"version": "5.8"}, "validate recorded version 5.0-2.1.8.0, this run wants 5.8"),
    ({"target_kernel": "6.1.0-58-amd64"}, "validate recorded target kernel %s" % KVER),
    ({"bundle_checksum": "sha256:" + "0" * 64}, "the staged bundle"),
    ({"bundle_checksum": ""}, "the bundle's checksum is not known"),
    ({"scst_source_id": "sha1:" + "1" * 40}, "iscsi_scst was built from " + SCST_ID),
    ({"scst_source_id": ""}, "the SCST source's identity is not known"),
    ({"scst_force_rebuild": True}, "iscsi_scst_force_rebuild is true"),
    ({"scst_install_method": "packages"}, "iscsi_scst was installed by make_install"),
    ({"source": "repository"}, "bundle installs only"),
])
def test_other_inputs_are_not_converged(host, over, words):
    res = host.run(**over)
    assert res["converged"] is False and words in res["reason"], res["reason"]


def test_an_open_transaction_is_not_converged(host):
    host.journal["stages"]["site"]["status"] = "started"
    host.journal["stages"]["ofed_install"]["time"] = "2099-01-01T00:00:00Z"  # after finalize
    host.write_journal()
    res = host.run()
    assert res["converged"] is False and "transaction is not finished" in res["reason"]


def test_a_reboot_due_in_a_container_leaves_the_host_converged(host):
    # the captured container's finalize recorded reboot.pending (its running kernel is the build machine's)
    # and services_skipped: no run could reboot it, whatever iser_ofed_site_reboot says
    fin = host.journal["stages"]["finalize"]["data"]
    assert fin["reboot"]["pending"] is True and fin["services_skipped"]
    assert host.run(reboot=True)["converged"] is True


def test_a_reboot_due_that_this_run_allows_is_not_converged(host):
    host.journal["stages"]["finalize"]["data"]["services_skipped"] = None  # a host that can load modules
    host.write_journal()
    assert host.run(reboot=False)["converged"] is True  # reported again by finalize, not done: nothing to do
    res = host.run(reboot=True)
    assert res["converged"] is False, res
    assert res["reason"].startswith("finalize recorded a reboot still due (ofed_install installed the stack for "
                                    "kernel %s" % KVER)
    assert res["reason"].endswith("and this run allows it (iser_ofed_site_reboot)")


@pytest.mark.parametrize("data, words", [
    ({"restart": {"pending": True, "reasons": ["mlx5_core loaded from the stock tree"]}},
     "finalize recorded a driver restart still due (mlx5_core loaded from the stock tree)"),
    ({"modules": {"ok": False, "mismatches": ["ib_core: stock"]}},
     "finalize found loaded modules that are not the intended stack's (ib_core: stock)"),
])
def test_what_finalize_left_due_on_a_real_host_is_not_converged(host, data, words):
    host.journal["stages"]["finalize"]["data"].update(dict(data, services_skipped=None))
    host.write_journal()
    res = host.run()
    assert res["converged"] is False and res["reason"] == words, res["reason"]


def test_a_changed_staged_bundle_is_not_converged(host):
    with open(host.archive, "a", encoding="utf-8") as handle:
        handle.write("changed\n")
    res = host.run()
    assert res["converged"] is False and "has sha256" in res["reason"]


def test_another_installed_version_is_not_converged(host):
    host.answers["ofed_info"] = (0, "MLNX_OFED_LINUX-5.8-3.0.7.0:\n", "")
    res = host.run()
    assert res["converged"] is False and "ofed_info -s says version 5.8-3.0.7.0" in res["reason"]


def test_a_removed_ofed_scripts_package_is_not_converged(host):
    out = "".join(line + "\n" for line in host.answers["dpkg-query"][1].splitlines() if "ofed-scripts" not in line)
    host.answers["dpkg-query"] = (1, out, host.answers["dpkg-query"][2] + "dpkg-query: no packages found matching ofed-scripts\n")
    res = host.run()
    assert res["converged"] is False and res["reason"] == "ofed-scripts is not installed"


def test_drift_a_new_kernel_without_the_stacks_modules(host):
    write(os.path.join(str(host.root), "6.1.0-58-amd64"), "kernel/drivers/infiniband/core/ib_core.ko", "stock\n")
    res = host.run()
    assert res["converged"] is False and res["reason"].startswith("drift: kernel 6.1.0-58-amd64")
    assert "modinfo" not in [c[0] for c in host.calls]  # it stopped reading at the first doubt


def test_a_missing_scst_module_is_not_converged(host):
    host.answers["modinfo"] = (int(read_fixture(CAPTURE, "modinfo_missing_module.rc")),
                               read_fixture(CAPTURE, "modinfo_missing_module.txt"),
                               read_fixture(CAPTURE, "modinfo_missing_module.stderr"))
    res = host.run()
    assert res["converged"] is False and res["reason"] == "modinfo -k %s: iscsi-scst not found" % KVER


def test_a_removed_scst_module_file_is_not_converged(host):
    host.answers["modinfo"] = (int(read_fixture(CAPTURE, "modinfo_file_removed.rc")),
                               read_fixture(CAPTURE, "modinfo_file_removed.txt"),
                               read_fixture(CAPTURE, "modinfo_file_removed.stderr"))
    res = host.run()
    assert res["converged"] is False
    assert res["reason"] == ("modinfo -k %s: isert-scst: modinfo: ERROR: could not get modinfo from 'isert_scst': "
                             "No such file or directory" % KVER)
    assert "modprobe" not in [c[0] for c in host.calls]


def test_isert_linked_against_other_headers_is_not_converged(host):
    with open(host.symvers, "w", encoding="utf-8") as handle:
        handle.write("0x12345678\tib_register_client\tdrivers/infiniband/core/ib_core\tEXPORT_SYMBOL\t\n")
    res = host.run()
    assert res["converged"] is False
    assert res["reason"].startswith("isert-scst is linked with ib_register_client CRC 0x5b3e3d2a")
