# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the repo scenario, read from the container itself (dpkg-query, apt-cache policy, files, the
journal) and from the evidence files converge/side_effect wrote there, never from the roles' output.

Order of the scenario: converge (wrong key refused, then install from the http:// repository with an http://
key URL), idempotence, check, side_effect (evidence of the installed host, the kernel hook rebuilding the
unbuilt DKMS modules, a DKMS build failure refused, rollback scope install, a second rollback), verify (this
file)."""
from __future__ import annotations

import json
import re

import testinfra

NAME = "iser-ofed-repo-1"
LABEL = "DOCA-HOST-2.9.1"
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
EVIDENCE = "/root/iser-ofed-evidence"
HTTP = "http://127.0.0.1:8765"
REPO_PATH = "/doca/2.9.1/debian12/x86_64/"
DKMS_VERSION = "24.10.OFED.24.10.1.1.4.1"
MODULES = {"mlx_compat.ko", "ib_core.ko", "mlx5_core.ko", "mlx5_ib.ko"}   # the fixture dkms.conf's
DISTRO_LIBIBVERBS1 = "44.0-2"   # Debian 12's own, installed by prepare before the DOCA install
FILES = ["/etc/apt/sources.list.d/iser-ofed-doca.sources", "/etc/apt/preferences.d/iser-ofed-doca",
         "/etc/apt/keyrings/iser-ofed-doca.gpg", "/etc/kernel/postinst.d/zz-iser-ofed-dkms"]


def host():
    return testinfra.get_host("podman://" + NAME)


def evidence(name):
    return json.loads(host().file(f"{EVIDENCE}/{name}").content_string)


def journal():
    return json.loads(host().file("/var/lib/iser-ofed/journal.json").content_string)


def kver():
    return host().check_output("ls -1 /lib/modules")


def test_wrong_key_refused_by_apt_before_anything_changed():
    ev = evidence("wrong-key.json")
    assert "NO_PUBKEY" in ev["msg"] and "iser_ofed_repo_key" in ev["msg"], ev["msg"]
    assert "Nothing was changed" in ev["msg"]
    assert ev["task"] == "Fail with the reason"
    # right after the refusal: no repository file, no pin, no package
    assert not any("iser-ofed" in line for line in ev["after"]), ev["after"]
    assert ev["dpkg_rc"] != 0
    wrong = json.loads(host().file("/var/lib/iser-ofed-wrong-key/journal.json").content_string)
    rec = wrong["stages"]["validate"]
    assert rec["status"] == "failed" and "not signed" in rec["data"]["error"]


def installed_sections():
    """dpkg rows, DKMS module files, dkms status, the .sources written, modinfo of mlx5_core.ko."""
    dpkg, modules, status, sources, modinfo = evidence("installed.json")["dpkg"].split("---")
    rows = {line.split("\t")[0]: (line.split("\t")[1], line.split("\t")[2].strip())
            for line in dpkg.strip().splitlines()}
    return rows, set(modules.split()), status.strip(), sources, modinfo


def test_installed_exact_versions_pinned_over_the_distribution():
    rows, _modules, _status, _sources, _modinfo = installed_sections()
    assert rows == {name: (ver, "ii") for name, ver in EXPECTED.items()}
    # the distribution stand-in offers libibverbs1 1:44.0-2 (higher): the pin made DOCA's win
    assert rows["libibverbs1"][0] != "1:44.0-2"


def test_dkms_really_built_and_installed_the_modules_for_the_target_kernel():
    _rows, modules, status, _sources, modinfo = installed_sections()
    assert status == f"mlnx-ofed-kernel/{DKMS_VERSION}, {kver()}, x86_64: installed"
    assert modules == MODULES
    # a real module, built by kbuild against the target kernel's headers
    assert re.search(rf"^vermagic:\s+{re.escape(kver())} SMP ", modinfo, re.M), modinfo
    assert re.search(r"^version:\s+24\.10-1\.1\.4$", modinfo, re.M), modinfo


def test_repository_and_key_came_over_http():
    _rows, _modules, _status, sources, _modinfo = installed_sections()
    assert f"URIs: {HTTP}{REPO_PATH}" in sources.splitlines()
    val = journal()["stages"]["validate"]["data"]
    assert val["url"] == f"{HTTP}{REPO_PATH}" and val["key"] == f"{HTTP}{REPO_PATH}doca_keyring.gpg"
    # the fixture server's own log: the host fetched the key and apt fetched the index and the packages
    log = host().check_output("journalctl -q -o cat -u iser-ofed-fixture-http")
    for path in ("doca_keyring.gpg", "InRelease", "mlnx-ofed-kernel-dkms_24.10.OFED.24.10.1.1.4.1-1_all.deb"):
        # apt asks for the index's Filename (./name.deb) below the URL
        assert re.search(rf'"GET {re.escape(REPO_PATH)}(\./)?{re.escape(path)} HTTP/1\.1" 200 ', log), path


def test_kernel_hook_rebuilt_the_unbuilt_modules_with_dkms_autoinstall():
    before, after = evidence("dkms.json")["hook"].split("---")
    assert before.split() == [f"mlnx-ofed-kernel/{DKMS_VERSION}:", "added"]   # unbuilt: no module files
    lines = after.strip().splitlines()
    assert lines[0] == "hook rc=0"
    assert lines[1] == f"mlnx-ofed-kernel/{DKMS_VERSION}, {kver()}, x86_64: installed"
    assert set(lines[2:]) == MODULES


def test_dkms_build_failure_is_refused_with_the_make_log_tail_and_the_fix():
    ev = evidence("dkms.json")
    assert ev["broken_hook"].strip() != "hook rc=0"   # the hook fails like the kernel's postinst would
    msg = ev["msg"]
    assert f"dkms: mlnx-ofed-kernel/{DKMS_VERSION} has no build for {kver()} (added)" in msg, msg
    assert f"/var/lib/dkms/mlnx-ofed-kernel/{DKMS_VERSION}/build/make.log ends with:" in msg, msg
    assert "ib_fixture_api_removed" in msg, msg      # the compiler's error, from make.log
    assert f"dkms autoinstall -k {kver()}" in msg and "rollback_scope [install]" in msg, msg


def test_ofed_facts_after_install_see_doca_and_scst_builds_mofed():
    ofed = evidence("installed.json")["ofed"]
    assert ofed["flavor"] == "mlnx_ofed"
    assert ofed["version"].startswith("24.10-1.1.4")
    assert ofed["doca"]["detected"] is True and ofed["doca"]["version"] == "2.9.1"
    assert ofed["scst_build_flavor"] == "MOFED"
    assert ofed["ofed_scripts"]["installed"] is True


def test_journal_records_files_and_packages_then_rolled_back():
    rec = journal()["stages"]["ofed_install"]
    assert rec["status"] == "rolled_back"
    assert sorted(rec["data"]["files_removed"]) == sorted(FILES)
    statuses = [h["status"] for h in journal()["history"] if h.get("stage") == "ofed_install"]
    # started, done (converge), failed (side_effect's broken DKMS build), rolled_back
    assert statuses[-2:] == ["failed", "rolled_back"] and statuses.index("started") < statuses.index("done"), statuses
    assert rec["data"]["replaced_packages"] == {"libibverbs1": DISTRO_LIBIBVERBS1}
    assert rec["data"]["restored"] == {"libibverbs1": DISTRO_LIBIBVERBS1} and rec["data"]["not_restored"] == {}
    val = journal()["stages"]["validate"]
    assert val["status"] == "done" and val["data"]["source"] == "repository"
    assert val["data"]["packages"]["ofed-scripts"] == EXPECTED["ofed-scripts"]


def test_rollback_removed_packages_and_repository_files():
    h = host()
    for name in EXPECTED:
        if name == "libibverbs1":
            continue
        q = h.run("dpkg-query -W -f='${db:Status-Abbrev}' %s", name)
        assert q.rc != 0 or not q.stdout.startswith("ii"), f"{name} still installed: {q.stdout}"
    for path in FILES:
        assert not h.file(path).exists, path
    assert not h.file("/usr/bin/ofed_info").exists
    # apt forgot the repository: no candidate from it any more
    policy = h.check_output("apt-cache policy ofed-scripts doca-ofed")
    assert "24.10.OFED" not in policy and "file:/srv/iser-ofed-fixture/doca" not in policy
    assert not h.file("/lib/modules").listdir() or all(
        not h.file(f"/lib/modules/{k}/updates/dkms/mlx5_core.ko").exists for k in h.file("/lib/modules").listdir())
    assert h.check_output("dkms status -m mlnx-ofed-kernel") == ""   # the package's prerm: dkms remove --all
    assert not h.file("/var/lib/dkms/mlnx-ofed-kernel").exists


def test_rollback_put_back_the_distribution_package_the_install_replaced():
    q = host().run("dpkg-query -W -f='${Version} ${db:Status-Abbrev}' libibverbs1")
    # Debian's 44.0-2 again: the recorded version, not apt's candidate (the stand-in's 1:44.0-2)
    assert q.rc == 0 and q.stdout.strip() == f"{DISTRO_LIBIBVERBS1} ii", q.stdout


def test_second_rollback_changed_nothing():
    ev = evidence("second-rollback.json")
    assert ev["before"] == ev["after"] and ev["mtime_before"] == ev["mtime_after"]


def test_the_stand_in_source_is_still_the_hosts():
    h = host()
    assert h.file("/etc/apt/sources.list.d/distro-fixture.sources").exists
    assert "Candidate: 1:44.0-2" in h.check_output("apt-cache policy libibverbs1")
