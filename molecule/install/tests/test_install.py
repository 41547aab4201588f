# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the install scenario: the installed stack read from the containers themselves (rpm -q/-V,
dpkg-query, dpkg -V file digests, /usr/bin/ofed_info, DKMS module files, the installers' own log directories),
never the role's output; the rollback from the evidence snapshots side_effect left on each container
(files/evidence.py: dpkg-query/rpm -q, sha256 of the module trees, the journal) and from the output of the
second rollback run; the progress report from the run's own output (ANSIBLE_LOG_PATH)."""
from __future__ import annotations

import json
import os
import re

import pytest
import testinfra

HOSTS = {"iser-ofed-inst-ofed15": ("1.5", "kernel-ib", "/usr/src/ofa_kernel"),
         "iser-ofed-inst-ofed35": ("3.5", "compat-rdma", "/usr/src/compat-rdma")}


def host(name):
    return testinfra.get_host("podman://" + name)


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_packages_installed_and_intact(name):
    release, kernel_pkg, _hdr = HOSTS[name]
    h = host(name)
    for pkg in ("ofed-scripts", kernel_pkg, kernel_pkg + "-devel"):
        q = h.run("rpm -q %s", pkg)
        assert q.rc == 0, "%s: %s not installed: %s" % (name, pkg, q.stdout + q.stderr)
    ver = h.check_output("rpm -q --qf %s ofed-scripts", "%{VERSION}")
    assert ver == release
    # rpm -V compares every installed file's digest, size and mode with the package database. --nodeps:
    # on Debian the rpm database knows nothing dpkg installed (/bin/bash), which is why install.pl itself
    # installs with --nodeps there.
    for pkg in ("ofed-scripts", kernel_pkg + "-devel"):
        v = h.run("rpm -V --nodeps %s", pkg)
        assert v.rc == 0, "%s: rpm -V %s: %s" % (name, pkg, v.stdout)


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_ofed_info_and_headers(name):
    release, _pkg, hdr = HOSTS[name]
    h = host(name)
    first = h.check_output("/usr/bin/ofed_info | head -n 1")
    assert first.startswith("OFED-%s" % release), first
    assert h.file(hdr + "/include").is_directory
    kver = h.check_output("ls -1 /lib/modules")
    assert h.file("/lib/modules/%s/updates" % kver).is_directory


@pytest.mark.parametrize("name", sorted(HOSTS))
def test_conf_and_installer_ran_once_per_install(name):
    h = host(name)
    conf = h.file("/var/lib/iser-ofed/ofed.conf").content_string.splitlines()
    assert "ofed-scripts=y" in conf
    assert "srpt=n" in conf
    # install.pl makes /tmp/OFED.<pid>.logs at every start: once in converge (idempotence and check ran
    # nothing), once more when side_effect installed again after the rollback.
    logs = h.check_output("find /tmp -maxdepth 1 -name 'OFED.*.logs' -type d | wc -l")
    assert logs == "2", "install.pl ran %s times" % logs


MLNX = "iser-ofed-inst-mlnx"
MLNX_PACKAGES = {"ofed-scripts": "5.0-OFED.5.0.2.1.8",
                 "mlnx-ofed-kernel-dkms": "5.0-OFED.5.0.2.1.8.1.g5f67178",
                 "mlnx-ofed-kernel-utils": "5.0-OFED.5.0.2.1.8.1.g5f67178"}


def test_mlnx_packages_installed_and_intact():
    h = host(MLNX)
    for pkg, version in MLNX_PACKAGES.items():
        q = h.run("dpkg-query -W -f '${Version} ${db:Status-Abbrev}' %s", pkg)
        assert q.rc == 0, "%s not installed: %s" % (pkg, q.stderr)
        assert q.stdout.split() == [version, "ii"], q.stdout
        # dpkg -V: every installed file's md5 matches the package's md5sums, except ofed_info, which
        # mlnxofedinstall rewrites after the install (as the vendor's does: -s prints MLNX_OFED_LINUX-...).
        v = h.run("dpkg -V %s", pkg)
        expected = "??5?????? /usr/bin/ofed_info" if pkg == "ofed-scripts" else ""
        assert (v.rc, " ".join(v.stdout.split())) == (0, expected), "dpkg -V %s: %s" % (pkg, v.stdout)


def test_mlnx_ofed_info_headers_and_dkms_modules():
    h = host(MLNX)
    assert h.check_output("/usr/bin/ofed_info -s") == "MLNX_OFED_LINUX-5.0-2.1.8.0:"
    assert h.file("/usr/src/ofa_kernel/default/include/linux/compat-2.6.h").is_file
    assert h.file("/usr/src/ofa_kernel/default/Module.symvers").is_file
    kver = h.check_output("ls -1 /lib/modules")
    # The (emulated) DKMS build of mlnx-ofed-kernel-dkms's postinst, for the kernel with headers.
    for mod in ("mlx_compat", "ib_core", "mlx5_core", "mlx5_ib"):
        assert h.file("/lib/modules/%s/updates/dkms/%s.ko" % (kver, mod)).is_file, mod
    assert "updates/dkms/ib_core.ko:" in h.file("/lib/modules/%s/modules.dep" % kver).content_string


def test_mlnx_manual_selection_got_ofed_scripts_with_a_warning():
    """ofed_install_conf listed the kernel packages only: the rendered ofed.conf (what -c got) adds
    ofed-scripts=y, says so in its header, the installer ran with it, and the run printed the warning."""
    h = host(MLNX)
    selection = h.file("/root/iser-ofed-selection.conf").content_string
    assert "ofed-scripts" not in selection
    conf = h.file("/var/lib/iser-ofed/ofed.conf").content_string
    body = [line for line in conf.splitlines() if line and not line.startswith("#")]
    assert body == ["mlnx-ofed-kernel-utils=y", "mlnx-ofed-kernel-dkms=y", "ofed-scripts=y"], conf
    assert "# package set from: ofed_install_conf /root/iser-ofed-selection.conf" in conf
    assert "# forced here: ofed-scripts=y" in conf
    for path in h.check_output("ls -1 /var/lib/iser-ofed/logs/installer-*.log").split():
        cmd = re.search(r"^# cmd: (.*)$", h.file(path).content_string, re.M).group(1).split()
        assert cmd[cmd.index("-c") + 1] == "/var/lib/iser-ofed/ofed.conf", cmd
    with open(os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.log"), encoding="utf-8") as handle:
        text = handle.read()
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ )", text)
    warning = ("ofed-scripts was added to the manual package selection (ofed_install_conf "
               "/root/iser-ofed-selection.conf did not select it): iscsi-scst's Makefile reads /usr/bin/ofed_info")
    assert any("ok: [%s] =>" % MLNX in r and warning in r for r in records), "no warning in the run's output"


def test_mlnx_installer_ran_once_per_install():
    h = host(MLNX)
    # mlnxofedinstall makes <tmpdir>/MLNX_OFED_LINUX.<pid>.logs at every run: one in converge (idempotence
    # and check ran nothing), one when side_effect installed again after the rollback.
    logs = h.check_output("find /tmp -maxdepth 1 -name 'MLNX_OFED_LINUX.*.logs' -type d | wc -l")
    assert logs == "2", "mlnxofedinstall ran %s times" % logs


# What iscsi-scst's Makefile computes (iscsi-scst/Makefile and srpt/Makefile of SCST; the domain note
# scst-makefile-detection.md), run as its own shell snippets in the container: the flavour from the first line
# of /usr/bin/ofed_info, then MOFED: the first of the DEB kernel packages dpkg -s knows and its version;
# classic: whether rpm -q <devel> names the kernel release with '-' turned into '_'. The Makefile reads
# `uname -r` there; a container runs the host's kernel, so the image's kernel (the target, the one the SCST
# build is for once it runs) is used instead.
MAKEFILE_FLAVOR = ("if [ -e /usr/bin/ofed_info ]; then /usr/bin/ofed_info 2>/dev/null | head -n1 | sed -n "
                   "'s/^\\(MLNX_OFED\\|OFED-internal\\).*/MOFED/p;s/^OFED-.*/OFED/p'; else echo in-tree; fi")
MAKEFILE_MOFED_DEB = ("for p in mlnx-ofed-kernel-dkms mlnx-ofed-kernel-modules; do "
                      "if dpkg -s $p >/dev/null 2>&1; then echo $p; break; fi; done")
MAKEFILE_CLASSIC_DEVEL = ("if rpm -q %s 2>/dev/null | grep -q $(echo %s | sed 's/-/_/g'); "
                          "then echo true; else echo false; fi")
SCST_EXPECTED = {"iser-ofed-inst-ofed15": ("OFED", "kernel-ib-devel", "/usr/src/ofa_kernel/include"),
                 "iser-ofed-inst-ofed35": ("OFED", "compat-rdma-devel", "/usr/src/compat-rdma/include"),
                 MLNX: ("MOFED", None, "/usr/src/ofa_kernel/default/include")}


@pytest.mark.parametrize("name", sorted(SCST_EXPECTED))
def test_scst_makefile_would_build_against_the_installed_stack(name):
    flavor, devel, headers = SCST_EXPECTED[name]
    h = host(name)
    kver = h.check_output("ls -1 /lib/modules")
    assert h.check_output(MAKEFILE_FLAVOR) == flavor
    if flavor == "MOFED":
        deb = h.check_output(MAKEFILE_MOFED_DEB)
        assert deb == "mlnx-ofed-kernel-dkms"
        version = h.check_output("dpkg-query -W -f '${Version}' %s", deb)
        assert version == MLNX_PACKAGES[deb]  # MOFED_MAJOR.MOFED_MINOR = 5.0
        assert h.file("/usr/src/ofa_kernel/default/Module.symvers").is_file
    else:
        assert h.check_output(MAKEFILE_CLASSIC_DEVEL % (devel, kver)) == "true"
    assert h.file(headers).is_directory
    # The role's own record (journal, from ofed_facts) agrees with what the Makefile computes.
    journal = json.loads(h.file("/var/lib/iser-ofed/journal.json").content_string)
    assert journal["stages"]["ofed_install"]["data"]["scst_build_flavor"] == flavor


@pytest.mark.parametrize("name", sorted(HOSTS) + [MLNX])
def test_installer_output_went_live_into_its_log(name):
    """Each run's log under the state dir: the header, stdin /dev/null, the installer's own lines, its rc."""
    h = host(name)
    paths = h.check_output("ls -1 /var/lib/iser-ofed/logs/installer-*.log").split()
    assert len(paths) == 2, paths  # converge, and the install after the rollback
    for path in paths:
        text = h.file(path).content_string
        assert text.startswith("# iser.ofed.ofed_installer "), text[:200]
        assert "\n# stdin: /dev/null; stdout and stderr follow\n" in text
        # the installer's own lines: mlnxofedinstall's log dir (on stderr), install.pl's success line
        assert re.search(r"^(Logs dir: /tmp/MLNX_OFED_LINUX\.\d+\.logs|Installation finished successfully\.)",
                         text, re.M), text
        assert text.endswith("\n# rc: 0\n"), text[-300:]


def test_progress_of_the_running_installer_was_shown():
    """The controller's output (ANSIBLE_LOG_PATH) holds at least one progress report of the MLNX_OFED run:
    the role's 'Show the installer's progress' task with the last lines of the live log."""
    with open(os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.log"), encoding="utf-8") as handle:
        text = handle.read()
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ )", text)
    shown = [r for r in records if "ok: [%s] =>" % MLNX in r and "installer running for" in r]
    assert shown, "no progress report for %s in the run's output" % MLNX
    assert any(re.search(r"/var/lib/iser-ofed/logs/installer-\S+\.log ends with:", r) and
               re.search(r"Logs dir: /tmp/MLNX_OFED_LINUX\.\d+\.logs", r) for r in shown), shown[0]


# ------------------------------------------------------------------------------------------ rollback
# side_effect: before_rollback -> (ofed15: stock_purge -> after_purge) -> rollback -> after_rollback ->
# a second rollback run (rollback_again.txt) -> install again.
ROLLED_BACK = {"iser-ofed-inst-ofed15": "all", "iser-ofed-inst-ofed35": "install", MLNX: "install"}
EVIDENCE = "/root/iser-ofed-evidence"


def snapshot(name, which):
    return json.loads(host(name).file("%s/%s.json" % (EVIDENCE, which)).content_string)


@pytest.mark.parametrize("name", sorted(ROLLED_BACK))
def test_rollback_removed_the_packages_and_ofed_info(name):
    before, after = snapshot(name, "before_rollback"), snapshot(name, "after_rollback")
    queried = dict(before["dpkg"], **before["rpm"])
    assert len(queried) == 3, queried
    # dpkg-query: "ii" = installed; rpm -q: rc 0. Before the rollback all are installed; after it none.
    for pkg, res in before["dpkg"].items():
        assert (res["rc"], res["out"]) == (0, "ii"), (pkg, res)
        gone = after["dpkg"][pkg]
        assert gone["rc"] != 0 or not gone["out"].startswith("i"), (pkg, gone)
    for pkg, res in before["rpm"].items():
        assert res["rc"] == 0, (pkg, res)
        gone = after["rpm"][pkg]
        assert gone["rc"] == 1 and gone["out"] == "package %s is not installed" % pkg, (pkg, gone)
    assert before["paths"]["/usr/bin/ofed_info"] and before["paths"]["/usr/sbin/ofed_uninstall.sh"]
    assert not after["paths"]["/usr/bin/ofed_info"] and not after["paths"]["/usr/sbin/ofed_uninstall.sh"]
    # OFED's kernel modules (classic: updates/kernel/..., MLNX DKMS: updates/dkms/) went with the packages
    assert any(p.endswith(".ko") for p in before["updates"]), before["updates"]
    assert [p for p in after["updates"] if p.endswith(".ko")] == []


@pytest.mark.parametrize("name", sorted(ROLLED_BACK))
def test_journal_says_rolled_back(name):
    before, after = snapshot(name, "before_rollback"), snapshot(name, "after_rollback")
    assert before["journal"]["stages"]["ofed_install"]["status"] == "done"
    assert after["journal"]["stages"]["ofed_install"]["status"] == "rolled_back"
    purge = [s for s in after["journal"]["stages"] if s.startswith("stock_purge@")]
    if ROLLED_BACK[name] == "all":
        assert [after["journal"]["stages"][s]["status"] for s in purge] == ["rolled_back"]
    else:
        assert purge == []


def test_scope_all_restored_every_quarantined_module():
    name = "iser-ofed-inst-ofed15"
    before, purged = snapshot(name, "before_rollback"), snapshot(name, "after_purge")
    after = snapshot(name, "after_rollback")
    # the image kernel's stock IB and Mellanox modules (the stock_purge default dirs that exist in it)
    assert any(p.startswith("kernel/drivers/infiniband/core/ib_core.ko") for p in before["files"]), before["files"]
    assert any(p.startswith("kernel/drivers/net/ethernet/mellanox/") for p in before["files"]), before["files"]
    # the purge moved every file of the stock dirs into the quarantine ...
    assert purged["files"] == {}
    assert len([p for p in purged["quarantine"] if p.startswith("files/")]) == len(before["files"])
    assert purged["journal"]["stages"]["stock_purge@" + host(name).check_output("ls -1 /lib/modules")]["status"] == "done"
    # ... and the rollback put back every one, byte-identical (sha256), and emptied the quarantine
    assert after["files"] == before["files"]
    assert [p for p in after["quarantine"] if p.startswith("files/")] == []


@pytest.mark.parametrize("name", sorted(ROLLED_BACK))
def test_second_rollback_changed_nothing(name):
    out = host(name).file(EVIDENCE + "/rollback_again.txt").content_string
    recap = re.search(r"^%s\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % re.escape(name),
                      out, re.M)
    assert recap, out[-2000:]
    ok, changed, unreachable, failed = (int(x) for x in recap.groups())
    assert (changed, unreachable, failed) == (0, 0, 0) and ok > 0, recap.group(0)
