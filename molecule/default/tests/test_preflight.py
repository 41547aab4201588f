# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the default scenario: the preflight's records and fleet report against the containers.

Every expected value is read from the container itself at run time (uname, /etc/os-release, /lib/modules,
dpkg-query, ofed_info), through testinfra's podman backend; nothing about the fleet is hard-coded
except which host stands for which situation (molecule.yml).
"""
from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest
import testinfra

NOOFED, KERNEL, MOFED, GARBAGE = "iser-ofed-noofed", "iser-ofed-kernel", "iser-ofed-mofed", "iser-ofed-garbage"
FLEET = [NOOFED, KERNEL, MOFED, GARBAGE]


def report_dir() -> Path:
    # Same rule as iser_ofed_preflight_report_dir in molecule.yml.
    env = os.environ.get("ISER_OFED_REPORT_DIR")
    return Path(env) if env else Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "reports"


@pytest.fixture(scope="module")
def reports() -> Path:
    return report_dir()


@pytest.fixture(scope="module")
def hosts() -> dict:
    return {name: testinfra.get_host(f"podman://{name}") for name in FLEET}


def record(reports: Path, name: str) -> dict:
    return json.loads((reports / f"{name}.json").read_text(encoding="utf-8"))


def os_release(host) -> dict:
    fields = {}
    for line in host.file("/etc/os-release").content_string.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            fields[key] = " ".join(shlex.split(value))
    return fields


def installed_kernel(host) -> str:
    releases = host.check_output("ls -1 /lib/modules").split()
    assert len(releases) == 1, releases
    return releases[0]


def ofed_errors(rec: dict) -> list:
    return [e for e in rec["errors"] if e["source"] == "ofed"]


@pytest.mark.parametrize("name", FLEET)
def test_every_host_has_a_record(reports, name):
    rec = record(reports, name)
    assert rec["host"] == name
    assert rec["error"] is None, rec["error"]  # assessed, not failed or unreachable
    assert rec["status"] in ("ready", "blocked")


@pytest.mark.parametrize("name", FLEET)
def test_kernel_and_distro_are_the_containers(reports, hosts, name):
    host, rec = hosts[name], record(reports, name)
    assert rec["kernel"]["running"] == host.check_output("uname -r")
    assert rec["kernel"]["arch"] == host.check_output("uname -m")
    osr = os_release(host)
    assert rec["distro"] == osr["PRETTY_NAME"]


@pytest.mark.parametrize("name", FLEET)
def test_target_kernel_missing_exactly_when_it_is(reports, hosts, name):
    host, rec = hosts[name], record(reports, name)
    target = rec["kernel"]["target"]
    installed = host.file(f"/lib/modules/{target}").is_directory
    codes = [e["code"] for e in rec["errors"] + rec["blockers"]]
    assert ("TARGET_KERNEL_MISSING" in codes) is not installed
    assert rec["kernel"]["headers"] is host.file(f"/lib/modules/{target}/build").exists


@pytest.mark.parametrize("name", FLEET)
def test_modules_not_manageable_in_containers(reports, name):
    rec = record(reports, name)
    assert rec["modules_manageable"] is False
    assert rec["virtualization"].get("container") == "podman"
    assert "MODULES_NOT_MANAGEABLE" in [b["code"] for b in rec["blockers"]]
    assert rec["status"] == "blocked"


def test_kernel_host_reports_the_stock_ib_tree(reports, hosts):
    host, rec = hosts[KERNEL], record(reports, KERNEL)
    kver = installed_kernel(host)
    assert rec["kernel"]["target"] == kver  # iser_ofed_target_kernel, the kernel installed in the image
    stock = {d["rel"]: d for d in rec["stock_dirs"]}
    for rel in ("kernel/drivers/infiniband", "kernel/drivers/net/ethernet/mellanox/mlx5"):
        path = f"/lib/modules/{kver}/{rel}"
        assert host.file(path).is_directory
        assert stock[rel]["files"] == int(host.check_output(f"find {path} -type f | wc -l"))
        assert stock[rel]["bytes"] == int(host.check_output(f"find {path} -type f -printf '%s\\n' | awk '{{s+=$1}} END {{print s}}'"))
    assert stock["kernel/drivers/infiniband"]["files"] > 0


def test_no_ofed_host_is_in_tree(reports, hosts):
    host, rec = hosts[NOOFED], record(reports, NOOFED)
    assert not host.file("/usr/bin/ofed_info").exists
    assert host.run("dpkg-query -W ofed-scripts").rc == 1
    assert rec["ofed"]["installed"] is False
    assert rec["ofed"]["flavor"] is None
    assert rec["ofed"]["scst_build_flavor"] == "in-tree"
    assert rec["ofed_scripts"]["installed"] is False
    assert ofed_errors(rec) == []


def test_mofed_host_reports_mlnx_ofed_as_installed(reports, hosts):
    host, rec = hosts[MOFED], record(reports, MOFED)
    scripts_version = host.check_output("dpkg-query -W -f='${Version}' ofed-scripts")
    assert rec["ofed"]["installed"] is True
    assert rec["ofed"]["flavor"] == "mlnx_ofed"
    # The stack's version as the installed ofed_info gives it; the first line as it prints it.
    assert rec["ofed"]["version"] == host.check_output("ofed_info -n")
    assert rec["ofed"]["ofed_info_first_line"] == host.check_output("ofed_info -s")
    assert rec["ofed_scripts"] == {"installed": True, "version": scripts_version}
    assert rec["ofed"]["scst_build_flavor"] == "MOFED"
    assert ofed_errors(rec) == []


def test_garbage_ofed_info_is_a_named_error(reports, hosts):
    host, rec = hosts[GARBAGE], record(reports, GARBAGE)
    first_line = host.check_output("ofed_info | head -n 1")
    assert not re.match(r"(MLNX_OFED|OFED)", first_line)  # the situation this host stands for
    assert "OFED_INFO_UNPARSEABLE" in [e["code"] for e in rec["errors"]]
    assert "OFED_INFO_UNPARSEABLE" in [p["code"] for p in rec["blockers"] + rec["warnings"]]


@pytest.mark.parametrize("name", ["fleet-report.md", "fleet-report.html"])
def test_fleet_report_names_every_host_and_the_garbage_error(reports, name):
    text = (reports / name).read_text(encoding="utf-8")
    for host in FLEET:
        assert host in text
    rows = [line for line in text.splitlines() if GARBAGE in line]
    if name.endswith(".html"):  # one <tr> per line
        assert len(rows) == 1
    assert any("OFED_INFO_UNPARSEABLE" in row for row in rows)


def test_fleet_report_markdown_shows_the_versions(reports, hosts):
    text = (reports / "fleet-report.md").read_text(encoding="utf-8")
    mofed_row = next(line for line in text.splitlines() if line.startswith(f"| {MOFED}"))
    assert hosts[MOFED].check_output("dpkg-query -W -f='${Version}' ofed-scripts") in mofed_row
    assert hosts[MOFED].check_output("ofed_info -n") in mofed_row


def test_fleet_report_html_is_self_contained(reports):
    text = (reports / "fleet-report.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<style>" in text
    # Nothing loaded from elsewhere: no scripts, links, images, frames or remote URLs.
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", text, re.I)
    assert not re.search(r"\b(src|href)\s*=", text, re.I)
    assert "url(" not in text
    # What the garbage ofed_info printed is quoted escaped, never as markup.
    assert "<html><head><title>502" not in text


# --- drift (prepare.yml made two hosts drift for real) -------------------------------------------------


def test_hosts_without_drift_say_so(reports):
    for name in (NOOFED, GARBAGE):
        drift = record(reports, name)["drift"]
        assert drift["checked"] is True and drift["detected"] is False and drift["findings"] == [], name


def test_mofed_host_flags_the_kernel_installed_without_ofed_modules(reports, hosts):
    host, rec = hosts[MOFED], record(reports, MOFED)
    kernels = host.check_output("ls -1 /lib/modules").split()
    with_ofed = [k for k in kernels if host.file(f"/lib/modules/{k}/updates/dkms/ib_core.ko").exists]
    without = [k for k in kernels if k not in with_ofed]
    assert with_ofed and without, kernels  # the situation this host stands for
    drift = rec["drift"]
    assert drift["detected"] is True
    assert {i["kernel"] for i in drift["findings"] if i["code"] == "OFED_MODULES_MISSING"} == set(without)
    assert {i["code"] for i in drift["findings"]} == {"OFED_MODULES_MISSING"}
    status = {k["kernel"]: k["status"] for k in drift["kernels"]}
    for kver in with_ofed:
        assert status[kver] == "ok"
        # depmod resolves ib_core to OFED's module there: what makes "ok" true
        assert host.run(f"grep -q '^updates/dkms/ib_core.ko:' /lib/modules/{kver}/modules.dep").rc == 0
    for item in drift["findings"]:
        assert status[item["kernel"]] == "missing"
        assert f"dkms autoinstall -k {item['kernel']}" in item["fix"]  # the stack came as a -dkms package
    assert "DRIFT_DETECTED" in [w["code"] for w in rec["warnings"]]


def test_kernel_host_flags_the_quarantined_file_a_reinstall_put_back(reports, hosts):
    host, rec = hosts[KERNEL], record(reports, KERNEL)
    kver = installed_kernel(host)
    qdir = f"/var/lib/iser-ofed/quarantine/{kver}"
    manifest = json.loads(host.file(f"{qdir}/manifest.json").content_string)
    assert manifest["state"] == "complete"
    back = [e["path"] for e in manifest["entries"]
            if e["type"] == "file" and host.file(f"/lib/modules/{kver}/{e['path']}").exists]
    assert back  # the situation this host stands for
    (item,) = rec["drift"]["findings"]
    assert item["code"] == "QUARANTINE_FILES_REAPPEARED" and item["kernel"] == kver
    assert all(path in item["msg"] for path in back[:5])
    identical = all(host.check_output(f"sha256sum < /lib/modules/{kver}/{p}") == host.check_output(f"sha256sum < {qdir}/files/{p}")
                    for p in back)
    assert identical and "identical" in item["fix"] and "iser.ofed.rollback" in item["fix"]
    (quarantine,) = rec["drift"]["quarantines"]
    assert quarantine == {"kernel": kver, "state": "complete", "reappeared": len(back), "copy_mismatch": 0,
                          "copy_missing": 0}


@pytest.mark.parametrize("name", ["fleet-report.md", "fleet-report.html"])
def test_fleet_report_shows_the_drift(reports, name):
    text = (reports / name).read_text(encoding="utf-8")
    drifted = [n for n in FLEET if record(reports, n)["drift"]["findings"]]
    assert sorted(drifted) == sorted([KERNEL, MOFED])
    assert f"{len(drifted)} with drift" in text
    for host, code in ((KERNEL, "QUARANTINE_FILES_REAPPEARED"), (MOFED, "OFED_MODULES_MISSING")):
        row = next(line for line in text.splitlines() if host in line and "<tr" in line or line.startswith(f"| {host}"))
        assert code in row
