# SPDX-License-Identifier: GPL-3.0-or-later
"""iser.ofed.scst_packages state=absent (rollback): the journal's package records, a scripted package
database (dpkg-query / rpm -q in their real formats), apt-cache madison / dnf list answers; the remove and
restore commands are recorded, not run."""
from __future__ import annotations

from ansible.module_utils import basic

from ansible_collections.iser.ofed.plugins.modules import scst_packages
from tests.unit.conftest import run_module

DEB = "/var/lib/iser-ofed/scst/src/dpkg/%s_3.8.0-1_all.deb"
RECORD = [{"name": "scst-dkms", "version": "3.8.0-1", "arch": "all", "file": DEB % "scst-dkms", "previous": None},
          {"name": "iscsi-scst", "version": "3.8.0-1", "arch": "amd64", "file": DEB % "iscsi-scst",
           "previous": "3.7.0-1"}]
BOTH = (0, "iscsi-scst\t3.8.0-1\tii \nscst-dkms\t3.8.0-1\tii \n", "")
AFTER = (1, "iscsi-scst\t3.7.0-1\tii \n", "dpkg-query: no packages found matching scst-dkms\n")
NONE = (1, "", "dpkg-query: no packages found matching scst-dkms\ndpkg-query: no packages found matching iscsi-scst\n")


class Host:
    def __init__(self, monkeypatch, queries, madison="", rc=0):
        self.queries, self.madison, self.rc, self.calls, self.envs = list(queries), madison, rc, [], []
        monkeypatch.setattr(basic.AnsibleModule, "run_command", self.run_command)
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda _self, name, *a, **k: "/usr/bin/" + name)

    def run_command(self, argv, **kwargs):
        self.calls.append(list(argv))
        self.envs.append(kwargs.get("environ_update"))
        if argv[0] == "dpkg-query" or argv[:2] == ["rpm", "-q"]:
            return self.queries.pop(0)
        if argv[0] in ("apt-cache", "dnf") and "install" not in argv:
            return 0, self.madison, ""
        return self.rc, "Removing scst-dkms (3.8.0-1) ...\n", "" if self.rc == 0 else "dpkg: error\n"


def test_removes_new_and_restores_replaced_when_offered(monkeypatch):
    host = Host(monkeypatch, [BOTH, AFTER],
                madison=" iscsi-scst | 3.7.0-1 | file:/srv/repo ./ Packages\n")
    result = run_module(scst_packages.main, {"state": "absent", "packages": RECORD, "_ansible_diff": True})
    assert result["changed"] is True and result["_exit_code"] == 0, result
    runs = [c for c in host.calls if c[0] in ("apt-get", "dpkg")]
    assert runs[0][:2] == ["apt-get", "install"] and runs[0][-1] == "iscsi-scst=3.7.0-1"
    assert runs[1] == ["dpkg", "--purge", "scst-dkms"]
    assert host.envs[host.calls.index(runs[0])]["DEBIAN_FRONTEND"] == "noninteractive"
    assert result["diff"]["after"] == "scst-dkms (not installed)\niscsi-scst 3.7.0-1\n"


def test_replaced_version_not_offered_is_kept_and_named(monkeypatch):
    host = Host(monkeypatch, [BOTH, (1, "iscsi-scst\t3.8.0-1\tii \n", "dpkg-query: no packages found matching scst-dkms\n")])
    result = run_module(scst_packages.main, {"state": "absent", "packages": RECORD})
    assert result["changed"] is True
    assert [c for c in host.calls if c[0] in ("apt-get", "dpkg")] == [["dpkg", "--purge", "scst-dkms"]]
    assert [(k["name"], k["previous"]) for k in result["kept"]] == [("iscsi-scst", "3.7.0-1")]


def test_second_run_and_check_mode_change_nothing(monkeypatch):
    host = Host(monkeypatch, [NONE])
    result = run_module(scst_packages.main, {"state": "absent", "packages": RECORD})
    assert result["changed"] is False and result["cmd"] == []
    host = Host(monkeypatch, [BOTH], madison=" iscsi-scst | 3.7.0-1 | file:/srv/repo ./ Packages\n")
    result = run_module(scst_packages.main, {"state": "absent", "packages": RECORD, "_ansible_check_mode": True})
    assert result["changed"] is True and "--purge" in result["cmd"]
    assert not [c for c in host.calls if c[0] in ("apt-get", "dpkg")]


def test_failures_are_reported(monkeypatch):
    Host(monkeypatch, [BOTH], rc=1)
    result = run_module(scst_packages.main, {"state": "absent", "packages": RECORD[:1]})
    assert result["failed"] and "dpkg --purge" in result["msg"] and result["rc"] == 1
    Host(monkeypatch, [BOTH, BOTH])
    result = run_module(scst_packages.main, {"state": "absent", "packages": RECORD[:1]})
    assert result["failed"] and "scst-dkms is still installed" in result["msg"]
    result = run_module(scst_packages.main, {"state": "absent", "packages": [{"name": "scst"}]})
    assert result["failed"] and "needs name, version and file" in result["msg"]


def test_rpm_dkms_rollback(monkeypatch):
    record = [{"name": "scst-dkms", "version": "3.8.0-1.el9", "file": "/x/scst-dkms-3.8.0-1.el9.noarch.rpm",
               "previous": None},
              {"name": "scst-dkms-userspace", "version": "3.8.0-1.el9",
               "file": "/x/scst-dkms-userspace-3.8.0-1.el9.x86_64.rpm", "previous": None}]
    host = Host(monkeypatch, [(0, "scst-dkms\t3.8.0\t1.el9\tnoarch\nscst-dkms-userspace\t3.8.0\t1.el9\tx86_64\n", ""),
                              (2, "package scst-dkms is not installed\npackage scst-dkms-userspace is not installed\n",
                               "")])
    result = run_module(scst_packages.main, {"state": "absent", "packages": record})
    assert result["changed"] is True and result["manager"] == "rpm", result
    assert ["rpm", "-e", "scst-dkms", "scst-dkms-userspace"] in host.calls
