# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the repo scenario, read from the container itself (dpkg-query, apt-cache policy, files, the
journal) and from the evidence files converge/side_effect wrote there, never from the roles' output.

Order of the scenario: converge (wrong key refused, then install), idempotence, check, side_effect (evidence
of the installed host, rollback scope install, a second rollback), verify (this file)."""
from __future__ import annotations

import json

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
FILES = ["/etc/apt/sources.list.d/iser-ofed-doca.sources", "/etc/apt/preferences.d/iser-ofed-doca",
         "/etc/apt/keyrings/iser-ofed-doca.gpg", "/etc/kernel/postinst.d/zz-iser-ofed-dkms"]


def host():
    return testinfra.get_host("podman://" + NAME)


def evidence(name):
    return json.loads(host().file(f"{EVIDENCE}/{name}").content_string)


def journal():
    return json.loads(host().file("/var/lib/iser-ofed/journal.json").content_string)


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


def test_installed_exact_versions_pinned_over_the_distribution():
    ev = evidence("installed.json")
    dpkg, _sep, modules = ev["dpkg"].partition("---")
    rows = {line.split("\t")[0]: (line.split("\t")[1], line.split("\t")[2].strip())
            for line in dpkg.strip().splitlines()}
    assert rows == {name: (ver, "ii") for name, ver in EXPECTED.items()}
    # the distribution stand-in offers libibverbs1 1:44.0-2 (higher): the pin made DOCA's win
    assert rows["libibverbs1"][0] != "1:44.0-2"
    assert "mlx5_core.ko" in modules.split()   # the DKMS build's modules for the image's kernel


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
    history = [h for h in journal()["history"] if h.get("stage") == "ofed_install"]
    assert [h["status"] for h in history][-3:] == ["started", "done", "rolled_back"], history
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


def test_second_rollback_changed_nothing():
    ev = evidence("second-rollback.json")
    assert ev["before"] == ev["after"] and ev["mtime_before"] == ev["mtime_after"]


def test_the_stand_in_source_is_still_the_hosts():
    h = host()
    assert h.file("/etc/apt/sources.list.d/distro-fixture.sources").exists
    assert "Candidate: 1:44.0-2" in h.check_output("apt-cache policy libibverbs1")
