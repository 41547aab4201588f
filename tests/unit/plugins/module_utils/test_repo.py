# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of ``_repo`` (repository mode) and its filters.

apt-get and dkms outputs are real captures (fixtures/captured/repo-mode/, see SOURCES.md): apt 2.6.1 of Debian 12
against the fixture DOCA repository, and Debian 12's real dkms 3.0.10 building a one-file module. dnf output and
the dkms 2.x comma format are CONSTRUCTED (no RHEL image, no dkms 2 here) and marked so below.
"""
from __future__ import annotations

import configparser

import pytest
from conftest import read_fixture

from ansible.errors import AnsibleFilterError
from ansible_collections.iser.ofed.plugins.filter import repo as f
from ansible_collections.iser.ofed.plugins.module_utils import _repo as r

CAP = "captured/repo-mode/"
KVER = "6.1.0-56-amd64"
LABEL = "DOCA-HOST-2.9.1:DOCA-HOST-2.9.1"


def _deb822(text: str) -> dict:
    return dict(line.split(": ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_apt_sources_flat_repository_with_signed_by():
    text = r.apt_sources("file:///srv/doca/2.9.1/debian12/x86_64/", "/etc/apt/keyrings/iser-ofed-doca.gpg")
    assert _deb822(text) == {"Types": "deb", "URIs": "file:///srv/doca/2.9.1/debian12/x86_64/", "Suites": "./",
                             "Signed-By": "/etc/apt/keyrings/iser-ofed-doca.gpg"}


def test_apt_sources_dists_repository_needs_components():
    text = r.apt_sources("https://mirror.example/doca", "/etc/apt/keyrings/k.asc", "bookworm", ["main", "extra"])
    assert _deb822(text)["Components"] == "main extra"
    with pytest.raises(r.RepoError, match="needs components"):
        r.apt_sources("https://mirror.example/doca", "/k.gpg", "bookworm", [])
    with pytest.raises(r.RepoError, match="takes no components"):
        r.apt_sources("https://mirror.example/doca", "/k.gpg", "./", ["main"])


@pytest.mark.parametrize("url", ["", "linux.mellanox.com/public/repo", "ssh://host/x", "http://a b"])
def test_apt_sources_refuses_non_urls(url):
    with pytest.raises(r.RepoError, match="not a repository URL"):
        r.apt_sources(url, "/k.gpg")


def test_apt_sources_refuses_relative_key():
    with pytest.raises(r.RepoError, match="absolute key file"):
        r.apt_sources("https://x/doca/", "doca_keyring.gpg")


def test_apt_preferences_pin():
    text = r.apt_preferences("l=DOCA-HOST*", 600)
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        "Package: *", "Pin: release l=DOCA-HOST*", "Pin-Priority: 600"]


@pytest.mark.parametrize("pin, prio, msg", [("DOCA-HOST", 600, "not an apt release pin"),
                                            ("l=DOCA-HOST*", 500, "above 500"),
                                            ("l=DOCA-HOST*", 1001, "at most 1000")])
def test_apt_preferences_refusals(pin, prio, msg):
    with pytest.raises(r.RepoError, match=msg):
        r.apt_preferences(pin, prio)


def test_dnf_repo_is_a_valid_ini_with_gpgcheck_and_priority():
    text = r.dnf_repo("iser-ofed-doca", "https://linux.mellanox.com/public/repo/doca/2.9.1/rhel9.4/x86_64/",
                      "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-iser-ofed-doca", 10)
    ini = configparser.ConfigParser()
    ini.read_string(text)
    sec = ini["iser-ofed-doca"]
    assert (sec["gpgcheck"], sec["repo_gpgcheck"], sec["priority"], sec["enabled"]) == ("1", "0", "10", "1")
    assert sec["gpgkey"] == "file:///etc/pki/rpm-gpg/RPM-GPG-KEY-iser-ofed-doca"
    assert "repo_gpgcheck=1" in r.dnf_repo("x", "https://x/", "https://x/key", 10, repo_gpgcheck=True)


@pytest.mark.parametrize("args, msg", [(("bad id", "https://x/", "https://x/k", 10), "repository id"),
                                       (("x", "https://x/", "/etc/pki/k", 10), "must be a URL"),
                                       (("x", "https://x/", "https://x/k", 0), "1..99")])
def test_dnf_repo_refusals(args, msg):
    with pytest.raises(r.RepoError, match=msg):
        r.dnf_repo(*args)


def test_apt_isolated_options_never_name_the_hosts_state():
    only = r.apt_isolated_options("/tmp/t", host_sources=False)
    assert only[1::2] == ["Dir::Etc::SourceList=/dev/null", "Dir::Etc::SourceParts=/tmp/t/sources.list.d",
                          "Dir::Etc::PreferencesParts=/tmp/t/preferences.d", "Dir::State::Lists=/tmp/t/lists",
                          "Dir::Cache=/tmp/t/cache"]
    assert set(only[0::2]) == {"-o"}
    both = r.apt_isolated_options("/tmp/t", host_sources=True)
    assert both[1] == "Dir::Etc::SourceList=/etc/apt/sources.list"   # read only; lists stay in /tmp/t


def test_parse_apt_simulate_real_install():
    out = r.parse_apt_simulate(read_fixture(CAP + "apt-get-s-install-doca-ofed.txt"), "", 0)
    assert out["ok"] and out["errors"] == [] and out["remove"] == []
    assert len(out["install"]) == 9
    assert out["install"]["ofed-scripts"] == {"version": "24.10.OFED.24.10.1.1.4-1", "old": None,
                                              "release": LABEL, "arch": "amd64"}
    assert out["install"]["mlnx-ofed-kernel-dkms"]["arch"] == "all"


def test_parse_apt_simulate_real_downgrade_keeps_the_old_version():
    out = r.parse_apt_simulate(read_fixture(CAP + "apt-get-s-install-doca-ofed-pinned-over-distro.txt"), "", 0)
    assert out["install"]["libibverbs1"] == {"version": "2410mlnx54-1.2410068", "old": "1:44.0-2",
                                             "release": LABEL, "arch": "amd64"}


def test_parse_apt_simulate_real_removal():
    out = r.parse_apt_simulate(read_fixture(CAP + "apt-get-s-install-remove.txt"), "", 0)
    assert out["remove"] == ["libibverbs1"] and list(out["install"]) == ["ofed-scripts"]


def test_parse_apt_simulate_real_unmet_dependencies():
    # captured with 2>&1: the E: line is in stdout
    out = r.parse_apt_simulate(read_fixture(CAP + "apt-get-s-install-doca-ofed-unpinned.txt"), "", 100)
    assert not out["ok"] and out["install"] == {}
    assert out["errors"] == ["Unable to correct problems, you have held broken packages."]
    assert out["problems"][0].startswith("doca-ofed-userspace : Depends: libibverbs1 (= 2410mlnx54-1.2410068) "
                                         "but 1:44.0-2 is to be installed")
    assert len(out["problems"]) == 2


def test_parse_apt_simulate_real_missing_package():
    out = r.parse_apt_simulate(read_fixture(CAP + "apt-get-s-install-missing.txt"),
                               read_fixture(CAP + "apt-get-s-install-missing.stderr.txt"), 100)
    assert not out["ok"] and out["errors"] == ["Unable to locate package doca-ofed-nosuch"]


def test_parse_apt_simulate_rc_alone_is_a_failure():
    assert not r.parse_apt_simulate("", "", 100)["ok"]


def test_apt_update_errors_real_wrong_key_and_missing_repo():
    bad = r.apt_update_errors(read_fixture(CAP + "apt-get-update-wrong-key.stderr.txt"))
    assert len(bad) == 2 and "NO_PUBKEY 5104DBD7CAA08CD7" in bad[0] and bad[1].endswith("is not signed.")
    gone = r.apt_update_errors(read_fixture(CAP + "apt-get-update-no-repo.stderr.txt"))
    assert gone == ["E: The repository 'file:/srv/fixture/nosuch/2.9.1/debian12/x86_64 ./ Release' does not "
                    "have a Release file."]
    assert r.apt_update_errors("") == []


# CONSTRUCTED: dnf 4 output in the format of `dnf --assumeno install` (no RHEL host here); versions follow the
# DOCA 2.9.1 RPM naming pattern, not captured.
DNF_OK = """\
Last metadata expiration check: 0:00:05 ago on Wed 25 Nov 2026 14:00:00 UTC.
Dependencies resolved.
================================================================================
 Package               Arch     Version                            Repo     Size
================================================================================
Installing:
 doca-ofed             x86_64   2.9.1-018000                       doca    7.6 k
 ofed-scripts          x86_64   24.10-OFED.24.10.1.1.4.0.rhel9u4   doca     62 k
Installing dependencies:
 mlnx-ofa_kernel       x86_64   24.10-OFED.24.10.1.1.4.1.rhel9u4   doca    2.1 M
Upgrading:
 libibverbs            x86_64   2410mlnx54-1.2410068               doca    420 k
Removing dependent packages:
 rdma-core-devel       x86_64   48.0-1.el9                         @appstream 1.2 M

Transaction Summary
================================================================================
Install  3 Packages
Upgrade  1 Package

Total download size: 2.6 M
Operation aborted.
"""
DNF_BROKEN = "\n".join([
    "Last metadata expiration check: 0:00:05 ago on Wed 25 Nov 2026 14:00:00 UTC.",
    "Error: ",   # dnf prints the trailing space
    " Problem: cannot install the best candidate for the job",
    "  - nothing provides libibverbs = 2410mlnx54 needed by doca-ofed-userspace-2.9.1-018000.x86_64",
    "(try to add '--skip-broken' to skip uninstallable packages)", ""])


def test_parse_dnf_assumeno_constructed_transaction():
    out = r.parse_dnf_assumeno(DNF_OK, "", 1)
    assert out["ok"] and out["errors"] == []
    assert list(out["install"]) == ["doca-ofed", "ofed-scripts", "mlnx-ofa_kernel", "libibverbs"]
    assert out["install"]["ofed-scripts"] == {"version": "24.10-OFED.24.10.1.1.4.0.rhel9u4", "old": None,
                                              "release": "doca", "arch": "x86_64"}


def test_parse_dnf_assumeno_constructed_errors():
    out = r.parse_dnf_assumeno(DNF_BROKEN, "", 1)
    assert not out["ok"] and out["install"] == {}
    assert out["errors"] == ["the transaction cannot be resolved (problems below)"]
    assert out["problems"][1].startswith("- nothing provides libibverbs")
    gpg = r.parse_dnf_assumeno("", "Error: Failed to download metadata for repo 'doca': repomd.xml GPG signature "
                               "verification error: Bad GPG signature\n", 1)
    assert not gpg["ok"] and "GPG signature verification error" in gpg["errors"][0]


@pytest.mark.parametrize("name, state", [("installed", "installed"), ("built", "built"), ("mk", "installed")])
def test_parse_dkms_status_real_3x(name, state):
    rows = r.parse_dkms_status(read_fixture(CAP + f"dkms-status-{name}.txt"))
    assert rows == [{"module": "mlnx-ofed-kernel", "version": "24.10.OFED.24.10.1.1.4.1", "kernel": KVER,
                     "arch": "x86_64", "state": state, "note": None}]


def test_parse_dkms_status_real_added_and_mixed():
    assert r.parse_dkms_status(read_fixture(CAP + "dkms-status-added.txt")) == [
        {"module": "mlnx-ofed-kernel", "version": "24.10.OFED.24.10.1.1.4.1", "kernel": None, "arch": None,
         "state": "added", "note": None}]
    mixed = r.parse_dkms_status(read_fixture(CAP + "dkms-status-mixed.txt"))
    assert [(x["module"], x["state"]) for x in mixed] == [("brokenmod", "added"), ("mlnx-ofed-kernel", "installed")]
    assert r.parse_dkms_status(read_fixture(CAP + "dkms-status-empty.txt")) == []


# CONSTRUCTED: dkms 2.x prints "module, version, kernel, arch: state" (Debian 11 / RHEL 8 era), and dkms adds a
# parenthesised note to "installed" when the built and the installed module differ.
def test_parse_dkms_status_constructed_2x_and_notes():
    rows = r.parse_dkms_status(
        "mlnx-ofed-kernel, 5.8-OFED.5.8.3.0.7.1, 5.15.0-91-generic, x86_64: installed\n"
        "mlnx-ofed-kernel, 5.8-OFED.5.8.3.0.7.1: added\n"
        "Error! Could not locate dkms.conf file.\n"
        "iser/5.8, 5.15.0-91-generic, x86_64: installed (WARNING! Diff between built and installed module!)\n")
    assert [(x["module"], x["version"], x["kernel"], x["state"]) for x in rows] == [
        ("mlnx-ofed-kernel", "5.8-OFED.5.8.3.0.7.1", "5.15.0-91-generic", "installed"),
        ("mlnx-ofed-kernel", "5.8-OFED.5.8.3.0.7.1", None, "added"),
        ("iser", "5.8", "5.15.0-91-generic", "installed")]
    assert rows[2]["note"] == "WARNING! Diff between built and installed module!"


def test_dkms_verdict_real_outputs():
    ok = r.dkms_verdict(r.parse_dkms_status(read_fixture(CAP + "dkms-status-installed.txt")), r.DKMS_MODULE, KVER)
    assert ok["ok"] and ok["version"] == "24.10.OFED.24.10.1.1.4.1" and ok["make_log"] is None
    built = r.dkms_verdict(r.parse_dkms_status(read_fixture(CAP + "dkms-status-built.txt")), r.DKMS_MODULE, KVER)
    assert not built["ok"] and built["state"] == "built"
    assert built["make_log"] == "/var/lib/dkms/mlnx-ofed-kernel/24.10.OFED.24.10.1.1.4.1/build/make.log"
    other = r.dkms_verdict(r.parse_dkms_status(read_fixture(CAP + "dkms-status-installed.txt")), r.DKMS_MODULE,
                           "6.1.0-99-amd64")
    assert not other["ok"] and other["state"] == "missing" and f"{KVER}: installed" in other["reason"]
    broken = r.dkms_verdict(r.parse_dkms_status(read_fixture(CAP + "dkms-status-mixed.txt")), "brokenmod", KVER)
    assert not broken["ok"] and broken["make_log"] == "/var/lib/dkms/brokenmod/1.0/build/make.log"
    none = r.dkms_verdict([], r.DKMS_MODULE, KVER)
    assert not none["ok"] and none["state"] == "unknown" and "dkms add" in none["reason"]


def test_dkms_build_failure_names_the_make_log_the_verdict_points_at():
    # the real failed build tells the user the same path dkms_verdict derives
    assert "Consult /var/lib/dkms/brokenmod/1.0/build/make.log" in read_fixture(CAP + "dkms-build-broken.txt")


@pytest.mark.parametrize("version, release", [
    ("24.10.OFED.24.10.1.1.4-1", "24.10-1.1.4"),    # fixture DOCA 2.9.1 (vendor file name)
    ("5.0-OFED.5.0.2.1.8", "5.0-2.1.8"),            # real MLNX_OFED 5.0 DEB
    ("4.1-OFED.4.1.1.0.2", "4.1-1.0.2"),            # real MLNX_OFED 4.1 DEB
    ("3.5-OFED.3.5", ""), ("", ""), ("2410mlnx54-1.2410068", "")])
def test_ofed_release_of_scripts(version, release):
    assert r.ofed_release_of_scripts(version) == release


def test_package_plan_adds_scripts_and_devel_once():
    assert r.package_plan(["doca-ofed"], "apt") == ["doca-ofed", "ofed-scripts", "mlnx-ofed-kernel-dkms"]
    assert r.package_plan(["ofed-scripts", "doca-ofed-userspace"], "dnf") == [
        "ofed-scripts", "doca-ofed-userspace", "mlnx-ofa_kernel-devel"]
    with pytest.raises(r.RepoError, match="apt and dnf"):
        r.package_plan(["doca-ofed"], "zypper")
    with pytest.raises(r.RepoError, match="not a package name"):
        r.package_plan(["doca-ofed; rm -rf /"], "apt")


def test_kernel_hook_is_a_shell_script_calling_dkms_autoinstall():
    text = r.kernel_hook()
    assert text.startswith("#!/bin/sh\n") and 'exec dkms autoinstall -k "$1"' in text


def test_filters_wrap_errors_and_registered_results():
    filters = f.FilterModule().filters()
    with pytest.raises(AnsibleFilterError, match="above 500"):
        filters["repo_apt_preferences"]("l=X", 100)
    res = {"rc": 100, "stdout": read_fixture(CAP + "apt-get-s-install-missing.txt"),
           "stderr": read_fixture(CAP + "apt-get-s-install-missing.stderr.txt")}
    assert filters["repo_apt_simulate"](res)["errors"] == ["Unable to locate package doca-ofed-nosuch"]
    assert filters["repo_apt_simulate"](None)["ok"] is False
    rows = filters["repo_dkms_status"](read_fixture(CAP + "dkms-status-installed.txt"))
    assert filters["repo_dkms_verdict"](rows, KVER)["ok"]


# CONSTRUCTED dpkg-query rows in the -f format the role passes (fields as dpkg-query prints them).
def test_packages_to_install_compares_status_and_exact_version():
    rows = r.parse_dpkg_rows("ofed-scripts\t24.10.OFED.24.10.1.1.4-1\tii \n"
                             "libibverbs1\t1:44.0-2\tii \n"
                             "doca-ofed\t2.9.1-018000\trc \n"
                             "garbage line\n")
    assert rows["ofed-scripts"] == {"version": "24.10.OFED.24.10.1.1.4-1", "status": "ii"}
    wanted = {"ofed-scripts": "24.10.OFED.24.10.1.1.4-1", "libibverbs1": "2410mlnx54-1.2410068",
              "doca-ofed": "2.9.1-018000", "mlnx-ofed-kernel-dkms": "24.10.OFED.24.10.1.1.4.1-1"}
    assert r.packages_to_install(wanted, rows) == {"libibverbs1": "2410mlnx54-1.2410068", "doca-ofed": "2.9.1-018000",
                                                   "mlnx-ofed-kernel-dkms": "24.10.OFED.24.10.1.1.4.1-1"}
    assert r.packages_to_install({"ofed-scripts": "24.10.OFED.24.10.1.1.4-1"}, rows) == {}


def test_parse_apt_madison_real_host_sources():
    offers = r.parse_apt_madison(read_fixture(CAP + "apt-cache-madison.txt"))
    assert sorted(offers) == ["ibverbs-providers", "libibverbs1", "mlnx-tools"]   # nosuchpkg: no line at all
    assert [o["version"] for o in offers["libibverbs1"]] == ["1:44.0-2", "2410mlnx54-1.2410068", "44.0-2"]
    assert offers["libibverbs1"][2]["source"] == "http://deb.debian.org/debian bookworm/main amd64 Packages"
    assert r.parse_apt_madison("") == {} and r.parse_apt_madison("N: no line with bars\n") == {}


def test_restore_plan_puts_back_the_recorded_version_not_the_candidate():
    offers = r.parse_apt_madison(read_fixture(CAP + "apt-cache-madison.txt"))
    # CONSTRUCTED rows: after the purge DOCA's libibverbs1 is still installed (it was replaced, not added).
    rows = r.parse_dpkg_rows("libibverbs1\t2410mlnx54-1.2410068\tii \n")
    plan = r.restore_plan({"libibverbs1": "44.0-2"}, rows, offers)
    # 44.0-2 (Debian's), although the stand-in's 1:44.0-2 sorts higher and is apt's candidate
    assert plan == {"install": {"libibverbs1": "44.0-2"}, "restored": [], "not_restored": {}}


def test_restore_plan_already_restored_and_removed_packages():
    offers = r.parse_apt_madison(read_fixture(CAP + "apt-cache-madison.txt"))
    rows = r.parse_dpkg_rows("libibverbs1\t44.0-2\tii \nibverbs-providers\t44.0-2\trc \n")
    plan = r.restore_plan({"libibverbs1": "44.0-2", "ibverbs-providers": "44.0-2"}, rows, offers)
    assert plan["restored"] == ["libibverbs1"]                       # a second rollback installs nothing
    assert plan["install"] == {"ibverbs-providers": "44.0-2"}       # purged (rc): put back as well
    assert r.restore_plan({}, rows, offers) == {"install": {}, "restored": [], "not_restored": {}}


def test_restore_plan_names_what_no_source_offers_and_the_fix():
    offers = r.parse_apt_madison(read_fixture(CAP + "apt-cache-madison.txt"))
    rows = r.parse_dpkg_rows("mlnx-tools\t24.10-0.2410068\tii \n")
    plan = r.restore_plan({"mlnx-tools": "23.10-0.2310000", "nosuchpkg": "1.0-1"}, rows, offers)
    assert plan["install"] == {} and plan["restored"] == []
    tools = plan["not_restored"]["mlnx-tools"]
    assert "they offer: 24.10-0.2410068; 24.10-0.2410068 is installed" in tools
    assert "apt-get install --allow-downgrades mlnx-tools=23.10-0.2310000" in tools
    assert "they offer: none; it is not installed" in plan["not_restored"]["nosuchpkg"]
    filters = f.FilterModule().filters()
    assert filters["repo_restore_plan"]({"mlnx-tools": "x"}, {}, filters["repo_apt_madison"](""))["not_restored"]
