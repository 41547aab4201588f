# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the scst scenario, read from the containers themselves: modinfo -k of the three modules for the
image's kernel, which RDMA headers isert-scst was really compiled and linked against (the fixture module's
own modinfo fields, written by the compiler from the headers it included, and the ib_register_client CRC
it carries, compared with the Module.symvers of each candidate header set), the build log, the journal; on
the broken MLNX_OFED host the refusal kept by converge and the absence of anything a build would leave."""
from __future__ import annotations

import hashlib
import json
import re

import pytest
import testinfra

STATE = "/var/lib/iser-ofed"
MODULES = ("scst", "iscsi-scst", "isert-scst")
BUILD_HOSTS = {"iser-ofed-scst-intree": "in-tree", "iser-ofed-scst-mofed": "MOFED",
               "iser-ofed-scst-mofed-pkg": "MOFED", "iser-ofed-scst-mofed-late": "MOFED"}
# The build group of SCST's packages (make dpkg, built once): mofed builds, the others install its .debs.
BUILDER = "iser-ofed-scst-mofed"
CONSUMERS = ("iser-ofed-scst-mofed-pkg", "iser-ofed-scst-mofed-late")
BROKEN = "iser-ofed-scst-broken"
STALE = "iser-ofed-scst-stale"
EVIDENCE = "/var/tmp/iser-ofed-evidence/refusal.json"


def host(name):
    return testinfra.get_host("podman://" + name)


def kernel(h):
    return h.check_output("ls -1 /lib/modules")


def journal(h):
    return json.loads(h.file(STATE + "/journal.json").content_string)


def symvers_crc(h, path):
    out = h.check_output("grep -m1 -P '\\tib_register_client\\t' %s", path)
    return out.split("\t")[0].lower()


@pytest.mark.parametrize("name", sorted(BUILD_HOSTS))
def test_modules_installed_for_the_target_kernel(name):
    h = host(name)
    k = kernel(h)
    for mod in MODULES:
        filename = h.check_output("modinfo -k %s -F filename %s", k, mod)
        assert filename == "/lib/modules/%s/extra/%s.ko" % (k, mod), filename
        assert h.file(filename).is_file
        vermagic = h.check_output("modinfo -k %s -F vermagic %s", k, mod)
        assert vermagic.split()[0] == k, vermagic
    # depmod ran for the target kernel: modules.dep knows them, and iscsi-scst depends on scst
    dep = h.file("/lib/modules/%s/modules.dep" % k).content_string
    assert re.search(r"^extra/iscsi-scst\.ko: .*extra/scst\.ko", dep, re.M), dep[-2000:]
    assert re.search(r"^extra/isert-scst\.ko:", dep, re.M)


@pytest.mark.parametrize("name", sorted(BUILD_HOSTS))
def test_isert_built_against_the_intended_headers(name):
    h = host(name)
    k = kernel(h)
    flavor = BUILD_HOSTS[name]
    isert = "/lib/modules/%s/extra/isert-scst.ko" % k
    assert h.check_output("modinfo -F ofed_flavor %s", isert) == flavor
    rdma_headers = h.check_output("modinfo -F rdma_headers %s", isert)
    linked = h.check_output("modprobe --dump-modversions %s | awk '$2 == \"ib_register_client\" {print $1}'", isert)
    kernel_crc = symvers_crc(h, "/lib/modules/%s/build/Module.symvers" % k)
    if flavor == "MOFED":
        tree = h.check_output("readlink -f /usr/src/ofa_kernel/default")
        assert tree == "/usr/src/ofa_kernel/x86_64/%s" % k, tree
        assert rdma_headers == tree + "/include", rdma_headers
        mofed_crc = symvers_crc(h, "/usr/src/ofa_kernel/default/Module.symvers")
        assert mofed_crc != kernel_crc, "the fixture cannot tell the two header sets apart"
        assert linked.lower() == mofed_crc
        assert h.check_output("modinfo -F ofed_compat %s", isert) != "none"
    else:
        assert rdma_headers.startswith("in-tree"), rdma_headers
        assert linked.lower() == kernel_crc
        assert not h.file("/usr/bin/ofed_info").exists
    log = h.file("%s/logs/iscsi-scst-%s-build.log" % (STATE, k))
    if name in CONSUMERS:  # compiled nothing: the build's report comes from the builder's manifest
        assert not log.exists
        assert journal(h)["stages"]["iscsi_scst"]["data"]["headers"]["reported_flavor"] == flavor
    else:
        assert "Building against %s InfiniBand kernel headers." % flavor in log.content_string


@pytest.mark.parametrize("name", sorted(BUILD_HOSTS))
def test_journal_built_once_and_finalized(name):
    h = host(name)
    k = kernel(h)
    j = journal(h)
    rec = j["stages"]["iscsi_scst"]
    assert rec["status"] == "done"
    data = rec["data"]
    assert data["identity"]["kernel"] == k
    assert data["identity"]["flavor"] == BUILD_HOSTS[name]
    assert data["headers"]["reported_flavor"] == BUILD_HOSTS[name]
    assert data["headers"]["crc_linked"] == data["headers"]["crc_expected"]
    assert sorted(data["modules"]) == sorted(MODULES)
    # converge built once; idempotence and check (same source, kernel, OFED version) did not start a build
    started = [e for e in j["history"] if e["stage"] == "iscsi_scst" and e["status"] == "started"]
    assert len(started) == 1, j["history"]
    fin = j["stages"]["finalize"]
    assert fin["status"] == "done"
    assert fin["data"]["stages"]["iscsi_scst"] == "done"
    # a container cannot load modules: the services are not started, and the record says why
    assert "container" in (fin["data"]["services_skipped"] or "")
    assert fin["data"]["services"] == []


def test_broken_mofed_refused_before_any_build():
    h = host(BROKEN)
    k = kernel(h)
    # the situation: ofed_info still says MLNX_OFED, the devel package is gone
    # (MLNX_OFED 5.0's ofed_info prints OFED-internal-5.0-2.1.8: first, which the Makefile takes as MOFED)
    assert h.check_output("/usr/bin/ofed_info | head -n1").startswith(("MLNX_OFED", "OFED-internal"))
    assert h.run("dpkg -s mlnx-ofed-kernel-dkms").rc != 0
    outcome = json.loads(h.file(EVIDENCE).content_string)
    assert outcome["refused"] is True, outcome
    assert "Refuse to build when the build would not produce isert-scst" in outcome["msg"], outcome["msg"]
    assert "[MOFED_DEVEL_MISSING]" in outcome["msg"]
    assert "Nothing was built or changed." in outcome["msg"]
    rec = journal(h)["stages"]["iscsi_scst"]
    assert rec["status"] == "failed"
    codes = [r["code"] for r in rec["data"]["readiness"]["reasons"]]
    assert "MOFED_DEVEL_MISSING" in codes, codes
    assert rec["data"]["readiness"]["flavor"] == "MOFED"
    assert not [e for e in journal(h)["history"] if e["stage"] == "iscsi_scst" and e["status"] == "started"]
    # nothing a build (or its preparation) leaves behind
    assert not h.file(STATE + "/scst").exists
    assert not h.file(STATE + "/logs").exists
    assert not h.file("/lib/modules/%s/extra" % k).exists
    assert h.run("modinfo -k %s scst", k).rc != 0
    # refused before the prerequisites, too: the image has no gcc package
    assert h.run("dpkg -s gcc").rc != 0


def pkg_record(name):
    return journal(host(name))["stages"]["iscsi_scst"]["data"]


def test_make_install_host_has_no_packages():
    h = host("iser-ofed-scst-intree")
    k = kernel(h)
    assert pkg_record("iser-ofed-scst-intree")["install_method"] == "make_install"
    assert h.run("dpkg -S /lib/modules/%s/extra/isert-scst.ko", k).rc != 0
    assert h.run("dpkg -s scst").rc != 0


def test_make_install_manifest_names_every_file_and_what_it_replaced():
    """intree: make install staged with DESTDIR first; the journal's manifest lists what it wrote with the
    sha256 the files have now, and the iscsi-scstd prepare had put there (backed up, byte for byte)."""
    h = host("iser-ofed-scst-intree")
    k = kernel(h)
    data = pkg_record("iser-ofed-scst-intree")
    files = {f["path"]: f for f in data["files"]}
    for mod in MODULES:
        assert "/lib/modules/%s/extra/%s.ko" % (k, mod) in files
    assert "/usr/local/sbin/iscsi-scstd" in files and "/usr/local/include/scst/scst.h" in files
    assert not [p for p in files if re.search(r"/modules\.(dep|alias|symbols)", p)]  # depmod's, not make install's
    for path, entry in files.items():
        assert h.check_output("sha256sum %s", path).split()[0] == entry["sha256"], path
    prepared = hashlib.sha256(b"#!/bin/sh\n# an iscsi-scstd that was there before iser.ofed\n").hexdigest()
    previous = files["/usr/local/sbin/iscsi-scstd"]["previous"]
    assert previous["sha256"] == prepared
    assert h.check_output("sha256sum %s", previous["backup"]).split()[0] == prepared
    assert [p for p, e in files.items() if e["previous"]] == ["/usr/local/sbin/iscsi-scstd"]
    assert "/lib/modules/%s/extra" % k in data["dirs_created"]
    assert not h.file("%s/scst/install-stage-%s" % (STATE, k)).exists


@pytest.mark.parametrize("name", (BUILDER,) + CONSUMERS)
def test_group_installs_scsts_own_packages(name):
    h = host(name)
    k = kernel(h)
    rows = h.check_output("dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' scst iscsi-scst")
    assert sorted(rows.splitlines()) == ["iscsi-scst 3.8.0-1 ii ", "scst 3.8.0-1 ii "], rows
    for mod in MODULES:
        assert h.check_output("dpkg -S /lib/modules/%s/extra/%s.ko", k, mod) == "scst: /lib/modules/%s/extra/%s.ko" % (k, mod)
    assert h.file("/usr/sbin/iscsi-scstd").exists and not h.file("/usr/local/sbin/iscsi-scstd").exists
    data = pkg_record(name)
    assert data["install_method"] == "packages" and data["package_target"] == "dpkg"
    assert data["group"]["builder"] == BUILDER
    assert data["group"]["key"] == "debian-12_x86_64_%s_MOFED-%s" % (k, data["identity"]["ofed_version"])
    assert [p["name"] for p in data["packages"]] == ["scst", "iscsi-scst"]
    assert all(p["version"] == "3.8.0-1" and len(p["sha256"]) == 64 for p in data["packages"])
    # the same files everywhere: the builder's
    assert {p["name"]: p["sha256"] for p in data["packages"]} == {
        p["name"]: p["sha256"] for p in pkg_record(BUILDER)["packages"]}
    if name == BUILDER:
        assert [p["action"] for p in data["packages"]] == ["install", "install"]
        assert h.file("%s/logs/iscsi-scst-%s-build.log" % (STATE, k)).exists
        assert h.run("dpkg -s gcc").rc == 0
    else:
        # compiled nothing, installed no toolchain, unpacked no source
        assert h.run("dpkg -s gcc").rc != 0
        assert not h.check_output("ls -1 %s/scst | grep '^src-' || true", STATE)
        assert h.file("%s/scst/packages-%s" % (STATE, data["group"]["key"])).is_directory


def test_controller_cache_holds_the_group_manifest():
    data = pkg_record(BUILDER)
    manifest = json.loads(open(data["group"]["cache"] + "/manifest.json", encoding="utf-8").read())
    assert manifest["built_by"] == BUILDER and manifest["key"] == data["group"]["key"]
    assert manifest["reported_flavor"] == "MOFED"
    assert [(p["name"], p["file"]) for p in manifest["packages"]] == [
        ("scst", "scst_3.8.0-1_amd64.deb"), ("iscsi-scst", "iscsi-scst_3.8.0-1_amd64.deb")]
    for p in manifest["packages"]:
        with open(data["group"]["cache"] + "/" + p["file"], "rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == p["sha256"]


def test_intended_flavor_from_the_ofed_install_record():
    data = pkg_record("iser-ofed-scst-mofed-pkg")
    assert data["expected_flavor"] == "MOFED"
    assert data["expected_from"] == "the journal (ofed_install installed mlnx_ofed)"
    assert pkg_record(BUILDER)["expected_from"].startswith("ofed_facts")


def test_journal_wins_over_facts_when_they_disagree():
    """stale: ofed_install's record says MLNX_OFED, but no stack is installed (ofed_facts: none, the
    Makefile would build in-tree): the intended flavor is the journal's, and the build is refused."""
    h = host(STALE)
    assert not h.file("/usr/bin/ofed_info").exists
    outcome = json.loads(h.file(EVIDENCE).content_string)
    assert outcome["refused"] is True, outcome
    assert "the Makefile would compute flavor in-tree, intended MOFED" in outcome["msg"], outcome["msg"]
    assert "(from the journal (ofed_install installed mlnx_ofed))" in outcome["msg"]
    assert "[FLAVOR_MISMATCH]" in outcome["msg"]
    assert not h.file(STATE + "/scst").exists
    assert h.run("dpkg -s gcc").rc != 0
