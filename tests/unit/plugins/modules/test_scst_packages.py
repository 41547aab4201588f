# SPDX-License-Identifier: GPL-3.0-or-later
"""iser.ofed.scst_packages: the package files are real (.deb built with dpkg-deb, .rpm with rpmbuild, read
with the real dpkg-deb / rpm -qp); the host's package database is scripted (dpkg-query / rpm -q outputs as
the tools print them, captured from a Debian 12 container with SCST's fixture packages installed, and the
rpm -q format of tests/unit/fixtures/captured/pkg-query), and the install commands are recorded, not run."""
from __future__ import annotations

import subprocess

import pytest
from ansible.module_utils import basic

from ansible_collections.iser.ofed.plugins.modules import scst_packages
from tests.unit.conftest import run_module
from tests.unit.plugins.module_utils.test_scst_pkg import make_deb, make_rpm

# dpkg-query -W -f='${Package}\t${Version}\t${db:Status-Abbrev}\n' scst iscsi-scst scst-dev (captured)
QUERY_BOTH = (1, "iscsi-scst\t3.8.0-1\tii \nscst\t3.8.0-1\tii \n", "dpkg-query: no packages found matching scst-dev\n")
QUERY_NONE = (1, "", "dpkg-query: no packages found matching scst\ndpkg-query: no packages found matching iscsi-scst\n")


class Host:
    """Scripted package database: answers dpkg-query/rpm -q from a queue, records install commands, runs
    dpkg-deb / rpm -qp for real."""

    def __init__(self, monkeypatch, queries, install_rc=0):
        self.queries = list(queries)
        self.install_rc = install_rc
        self.calls = []
        monkeypatch.setattr(basic.AnsibleModule, "run_command", self.run_command)
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda _self, name, *a, **k: "/usr/bin/" + name)

    def run_command(self, argv, **kwargs):  # bound to Host: the module is not passed
        assert kwargs.get("environ_update") == {"LC_ALL": "C"}
        self.calls.append(list(argv))
        if argv[0] == "dpkg-deb" or argv[:2] == ["rpm", "-qp"]:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            return proc.returncode, proc.stdout, proc.stderr
        if argv[0] in ("dpkg-query",) or argv[:2] == ["rpm", "-q"]:
            return self.queries.pop(0)
        return self.install_rc, "Setting up scst (3.8.0-1) ...\n", "" if self.install_rc == 0 else "dpkg: error\n"


@pytest.fixture
def debs(tmp_path):
    return [make_deb(tmp_path, n, "3.8.0-1", a) for n, a in
            (("scst", "amd64"), ("iscsi-scst", "amd64"), ("scst-dev", "all"), ("scst-dkms", "all"))]


def test_installs_the_named_packages_and_verifies(monkeypatch, debs):
    host = Host(monkeypatch, [QUERY_NONE, QUERY_BOTH])
    result = run_module(scst_packages.main, {"files": debs, "names": ["scst", "iscsi-scst"], "_ansible_diff": True})
    assert result["changed"] is True and result["_exit_code"] == 0, result
    installs = [c for c in host.calls if c[:2] == ["dpkg", "-i"]]
    assert len(installs) == 1 and [p.rsplit("/", 1)[1] for p in installs[0][2:]] == [
        "scst_3.8.0-1_amd64.deb", "iscsi-scst_3.8.0-1_amd64.deb"]
    assert [(p["name"], p["action"], p["previous"]) for p in result["packages"]] == [
        ("scst", "install", None), ("iscsi-scst", "install", None)]
    assert all(len(p["sha256"]) == 64 for p in result["packages"])
    assert sorted(p["name"] for p in result["built"]) == ["iscsi-scst", "scst", "scst-dev", "scst-dkms"]
    assert result["diff"]["before"] == "scst (not installed)\niscsi-scst (not installed)\n"
    assert result["diff"]["after"] == "scst 3.8.0-1\niscsi-scst 3.8.0-1\n"


def test_recorded_files_installed_is_a_no_op(monkeypatch, debs):
    Host(monkeypatch, [QUERY_NONE])
    first = run_module(scst_packages.main, {"files": debs, "names": ["scst", "iscsi-scst"], "_ansible_check_mode": True})
    recorded = {p["name"]: p["sha256"] for p in first["packages"]}
    host = Host(monkeypatch, [QUERY_BOTH])
    result = run_module(scst_packages.main, {"files": debs, "names": ["scst", "iscsi-scst"], "recorded": recorded})
    assert result["changed"] is False and result["cmd"] == []
    assert not [c for c in host.calls if c[:2] == ["dpkg", "-i"]]


def test_same_version_rebuilt_is_installed_again(monkeypatch, debs):
    host = Host(monkeypatch, [QUERY_BOTH, QUERY_BOTH])
    result = run_module(scst_packages.main, {"files": debs, "names": ["scst", "iscsi-scst"],
                                             "recorded": {"scst": "0" * 64, "iscsi-scst": "0" * 64}})
    assert result["changed"] is True
    assert {p["action"] for p in result["packages"]} == {"reinstall"}
    assert [c for c in host.calls if c[:2] == ["dpkg", "-i"]]


def test_check_mode_installs_nothing(monkeypatch, debs):
    host = Host(monkeypatch, [QUERY_NONE])
    result = run_module(scst_packages.main, {"files": debs, "names": ["scst"], "_ansible_check_mode": True})
    assert result["changed"] is True and result["cmd"][:2] == ["dpkg", "-i"]
    assert not [c for c in host.calls if c[:2] == ["dpkg", "-i"]]


def test_refusals(monkeypatch, debs, tmp_path):
    Host(monkeypatch, [])
    result = run_module(scst_packages.main, {"files": debs, "names": ["scst", "scstadmin"]})
    assert result["failed"] and "no package file provides scstadmin" in result["msg"]
    assert "iscsi-scst, scst, scst-dev, scst-dkms" in result["msg"]
    result = run_module(scst_packages.main, {"files": [str(tmp_path / "gone_1_all.deb")]})
    assert result["failed"] and "does not exist" in result["msg"]
    result = run_module(scst_packages.main, {"files": debs + [str(tmp_path / "x.rpm")]})
    assert result["failed"] and "mix" in result["msg"]
    garbage = tmp_path / "garbage_1_all.deb"
    garbage.write_text("not a package")
    result = run_module(scst_packages.main, {"files": [str(garbage)]})
    assert result["failed"] and "cannot read package file" in result["msg"] and "Traceback" not in result["msg"]


def test_failed_install_and_wrong_version_after(monkeypatch, debs):
    Host(monkeypatch, [QUERY_NONE], install_rc=1)
    result = run_module(scst_packages.main, {"files": debs, "names": ["scst"]})
    assert result["failed"] and result["rc"] == 1 and "dpkg -i" in result["msg"]
    Host(monkeypatch, [QUERY_NONE, QUERY_NONE])
    result = run_module(scst_packages.main, {"files": debs, "names": ["scst"]})
    assert result["failed"] and "scst is not installed, not 3.8.0-1" in result["msg"]


def test_rpm_path(monkeypatch, tmp_path):
    rpm = make_rpm(tmp_path, "scst-6.1.0-56-amd64", "3.8.0")
    # rpm -q --qf '%{NAME}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n' <name>: "package X is not installed", exit 1
    host = Host(monkeypatch, [(1, "package scst-6.1.0-56-amd64 is not installed\n", ""),
                              (0, "scst-6.1.0-56-amd64\t3.8.0\t1\tnoarch\n", "")])
    result = run_module(scst_packages.main, {"files": [rpm], "names": ["scst-6.1.0-56-amd64"]})
    assert result["changed"] and result["manager"] == "rpm", result
    assert [c for c in host.calls if c[:2] == ["rpm", "-U"]][0][:4] == ["rpm", "-U", "--replacepkgs", "--oldpackage"]
    assert result["packages"][0]["version"] == "3.8.0-1"
