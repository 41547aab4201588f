# SPDX-License-Identifier: GPL-3.0-or-later
"""_scst_pkg: reading SCST's package files and deciding what to install. The ``dpkg-deb -f`` and
``rpm -qp`` outputs are real: the tests build tiny packages with the real tools (dpkg-deb, rpmbuild) in
tmp_path and run the argv the module runs."""
from __future__ import annotations

import subprocess

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _scst_pkg


def make_deb(tmp_path, name, version, arch="amd64"):
    """A real .deb named as SCST's make dpkg names it."""
    root = tmp_path / ("root-" + name)
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr" / "share" / "doc" / name).mkdir(parents=True)
    (root / "usr" / "share" / "doc" / name / "README").write_text(name + "\n")
    (root / "DEBIAN" / "control").write_text(
        "Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: t <t@example.org>\n"
        "Description: test\n second line\n" % (name, version, arch))
    out = tmp_path / ("%s_%s_%s.deb" % (name, version, arch))
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(out)], check=True,
                   capture_output=True)
    return str(out)


def make_rpm(tmp_path, name, version, release="1"):
    """A real (noarch) .rpm built with rpmbuild, as scst.spec names it (scst-<kver>)."""
    top = tmp_path / "rpmbuild"
    for d in ("BUILD", "RPMS", "SOURCES", "SPECS", "SRPMS"):
        (top / d).mkdir(parents=True, exist_ok=True)
    spec = top / "SPECS" / "t.spec"
    spec.write_text("Name: %s\nVersion: %s\nRelease: %s\nSummary: t\nLicense: GPLv2\nBuildArch: noarch\n"
                    "%%description\nt\n%%files\n" % (name, version, release))
    subprocess.run(["rpmbuild", "--define", "_topdir %s" % top, "-bb", str(spec)], check=True, capture_output=True)
    return str(next((top / "RPMS" / "noarch").glob(name + "-*.rpm")))


def run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_deb_fields_from_a_real_package(tmp_path):
    path = make_deb(tmp_path, "scst", "3.8.0-1")
    out = run(_scst_pkg.fields_argv("dpkg", path))
    assert _scst_pkg.parse_deb_fields(out) == {"name": "scst", "version": "3.8.0-1", "arch": "amd64"}


def test_rpm_fields_from_a_real_package(tmp_path):
    path = make_rpm(tmp_path, "scst-6.1.0-56-amd64".replace("-", "_"), "3.8.0")
    out = run(_scst_pkg.fields_argv("rpm", path))
    assert _scst_pkg.parse_rpm_fields(out) == {"name": "scst_6.1.0_56_amd64", "version": "3.8.0-1",
                                               "arch": "noarch"}


@pytest.mark.parametrize("text", ["", "Package: scst\nVersion: 1\n", "garbage"])
def test_deb_fields_refuse_incomplete_output(text):  # constructed
    with pytest.raises(ValueError, match="did not give"):
        _scst_pkg.parse_deb_fields(text)


@pytest.mark.parametrize("text", ["", "scst\t3.8.0-1\n", "a\tb\tc\nd\te\tf\n", "error: open of x failed"])
def test_rpm_fields_refuse_bad_output(text):  # constructed
    with pytest.raises(ValueError, match="rpm -qp"):
        _scst_pkg.parse_rpm_fields(text)


def test_manager_of():
    assert _scst_pkg.manager_of(["/d/scst_3.8.0-1_amd64.deb"]) == ("dpkg", None)
    assert _scst_pkg.manager_of(["/r/scst-6.1-3.8.0-1.x86_64.rpm"]) == ("rpm", None)
    assert "mix" in _scst_pkg.manager_of(["/a.deb", "/b.rpm"])[1]
    assert "mix" in _scst_pkg.manager_of([])[1]
    assert "neither" in _scst_pkg.manager_of(["/a.tar.gz"])[1]


BUILT = [
    {"name": "scst", "version": "3.8.0-1", "arch": "amd64", "file": "/d/scst_3.8.0-1_amd64.deb", "sha256": "aa"},
    {"name": "scst-dev", "version": "3.8.0-1", "arch": "all", "file": "/d/scst-dev_3.8.0-1_all.deb", "sha256": "bb"},
    {"name": "iscsi-scst", "version": "3.8.0-1", "arch": "amd64", "file": "/d/iscsi-scst_3.8.0-1_amd64.deb",
     "sha256": "cc"},
]


def test_select_by_name_and_missing():
    chosen, missing = _scst_pkg.select(BUILT, ["scst", "iscsi-scst", "scstadmin"])
    assert [p["name"] for p in chosen] == ["scst", "iscsi-scst"] and missing == ["scstadmin"]
    chosen, missing = _scst_pkg.select(BUILT, [])
    assert [p["name"] for p in chosen] == ["iscsi-scst", "scst", "scst-dev"] and missing == []


def test_plan_install_replace_reinstall_none():
    chosen = _scst_pkg.select(BUILT, [])[0]
    installed = [
        {"name": "scst", "version": "3.8.0-1", "installed": True},
        {"name": "iscsi-scst", "version": "3.7.0-1", "installed": True},
        {"name": "scst-dev", "version": "3.8.0-1", "installed": False},  # dpkg status rc
    ]
    actions = {p["name"]: (p["action"], p["previous"]) for p in _scst_pkg.plan(chosen, installed, {"scst": "aa"})}
    assert actions == {"scst": ("none", "3.8.0-1"), "iscsi-scst": ("replace", "3.7.0-1"),
                       "scst-dev": ("install", None)}
    # same version, but rebuilt (another sha256 than recorded), or never recorded: install again
    rebuilt = _scst_pkg.plan(chosen, installed, {"scst": "older"})
    assert {p["name"]: p["action"] for p in rebuilt}["scst"] == "reinstall"
    assert {p["name"]: p["action"] for p in _scst_pkg.plan(chosen, installed, {})}["scst"] == "reinstall"
    forced = _scst_pkg.plan(chosen, installed, {"scst": "aa"}, force=True)
    assert {p["name"]: p["action"] for p in forced}["scst"] == "reinstall"


def test_install_argv():
    assert _scst_pkg.install_argv("dpkg", ["/d/a.deb", "/d/b.deb"]) == ["dpkg", "-i", "/d/a.deb", "/d/b.deb"]
    assert _scst_pkg.install_argv("rpm", ["/r/a.rpm"]) == ["rpm", "-U", "--replacepkgs", "--oldpackage", "/r/a.rpm"]


def test_check_installed():
    planned = [dict(p, action="install") for p in BUILT[:2]]
    assert _scst_pkg.check_installed(planned, [{"name": "scst", "version": "3.8.0-1", "installed": True},
                                               {"name": "scst-dev", "version": "3.8.0-1", "installed": True}]) == []
    problems = _scst_pkg.check_installed(planned, [{"name": "scst", "version": "3.7.0-1", "installed": True}])
    assert problems == ["scst is at version 3.7.0-1, not 3.8.0-1 from /d/scst_3.8.0-1_amd64.deb",
                        "scst-dev is not installed, not 3.8.0-1 from /d/scst-dev_3.8.0-1_all.deb"]


# --- rollback and DKMS -----------------------------------------------------------------------------------

# apt-cache madison dkms (captured, Debian 12 container); madison prints nothing for an unknown package.
MADISON = "      dkms | 3.0.10-8+deb12u1 | http://deb.debian.org/debian bookworm/main amd64 Packages\n"
# dnf -q list --showduplicates --available scst-dkms (constructed in dnf's format: heading, name.arch,
# [epoch:]version-release, repository)
DNF_LIST = ("Available Packages\n"
            "scst-dkms.noarch                3.7.0-1.el9                local-scst\n"
            "scst-dkms.noarch                1:3.8.0-1.el9              local-scst\n")
# dkms status (captured, dkms 3.0.10 in a Debian 12 container after dpkg -i scst-dkms_3.8.0-1_all.deb)
DKMS_STATUS = "scst/3.8.0, 6.1.0-57-amd64, x86_64: installed\n"


def test_parse_available():
    assert _scst_pkg.available_argv("dpkg", "scst") == ["apt-cache", "madison", "scst"]
    assert _scst_pkg.parse_available("dpkg", "dkms", MADISON) == ["3.0.10-8+deb12u1"]
    assert _scst_pkg.parse_available("dpkg", "scst", MADISON) == []
    assert _scst_pkg.parse_available("dpkg", "scst", "") == []
    assert _scst_pkg.available_argv("rpm", "scst-dkms")[:4] == ["dnf", "-q", "list", "--showduplicates"]
    assert _scst_pkg.parse_available("rpm", "scst-dkms", DNF_LIST) == ["3.7.0-1.el9", "3.8.0-1.el9"]
    assert _scst_pkg.parse_available("rpm", "scst", DNF_LIST) == []


def test_rollback_plan():
    recorded = [
        {"name": "scst", "version": "3.8.0-1", "previous": None},
        {"name": "iscsi-scst", "version": "3.8.0-1", "previous": "3.7.0-1"},
        {"name": "scst-dev", "version": "3.8.0-1", "previous": "3.6.0-1"},
        {"name": "scst-dkms", "version": "3.8.0-1", "previous": "3.8.0-1"},
        {"name": "gone", "version": "3.8.0-1", "previous": None},
        {"name": "moved", "version": "3.8.0-1", "previous": None},
    ]
    names = ("scst", "iscsi-scst", "scst-dev", "scst-dkms")
    installed = [{"name": n, "version": "3.8.0-1", "installed": True} for n in names]
    installed += [{"name": "moved", "version": "3.9.0-1", "installed": True},
                  {"name": "gone", "version": "3.8.0-1", "installed": False}]
    plan = {p["name"]: p for p in _scst_pkg.rollback_plan(recorded, installed, {"iscsi-scst": ["3.7.0-1"]})}
    assert plan["scst"]["action"] == "remove"
    assert plan["iscsi-scst"]["action"] == "restore"
    assert plan["scst-dev"]["action"] == "keep" and "3.6.0-1" in plan["scst-dev"]["reason"]
    assert plan["scst-dkms"]["action"] == "none"
    assert (plan["gone"]["action"], plan["gone"]["reason"]) == ("none", "not installed")
    assert plan["moved"]["action"] == "none" and "3.9.0-1" in plan["moved"]["reason"]


def test_remove_and_restore_argv():
    assert _scst_pkg.remove_argv("dpkg", ["scst-dkms", "iscsi-scst"]) == ["dpkg", "--purge", "scst-dkms", "iscsi-scst"]
    assert _scst_pkg.remove_argv("rpm", ["scst-dkms", "scst-dkms-userspace"]) == [
        "rpm", "-e", "scst-dkms", "scst-dkms-userspace"]
    entry = [{"name": "scst", "previous": "3.7.0-1"}]
    assert _scst_pkg.restore_argv("dpkg", entry)[-1] == "scst=3.7.0-1"
    assert "--allow-downgrades" in _scst_pkg.restore_argv("dpkg", entry)
    assert _scst_pkg.restore_argv("rpm", entry) == ["dnf", "-y", "install", "scst-3.7.0-1"]


def test_dkms_status_and_versions():
    status = _scst_pkg.parse_dkms_status(
        DKMS_STATUS + "scst/3.8.0, 6.1.0-99-amd64, x86_64: built\nscst/3.9.0: added\n"
        "mlnx-ofed-kernel/5.0, 6.1.0-57-amd64, x86_64: installed (original_module exists)\nnoise\n")
    assert status[0] == {"module": "scst", "version": "3.8.0", "kernel": "6.1.0-57-amd64", "arch": "x86_64",
                         "state": "installed"}
    assert status[3]["module"] == "mlnx-ofed-kernel" and status[3]["state"] == "installed"
    assert len(status) == 4
    assert _scst_pkg.dkms_state(status, "scst", "3.8.0", "6.1.0-57-amd64") == "installed"
    assert _scst_pkg.dkms_state(status, "scst", "3.8.0", "6.1.0-99-amd64") == "built"
    assert _scst_pkg.dkms_state(status, "scst", "3.9.0", "6.1.0-57-amd64") == "added"
    assert _scst_pkg.dkms_state(status, "scst", "3.7.0", "6.1.0-57-amd64") == "absent"
    # Debian's scst-dkms ships /usr/src/scst-<upstream version>; scst-dkms.spec uses version-release
    assert _scst_pkg.dkms_version("dpkg", "3.8.0-1") == "3.8.0"
    assert _scst_pkg.dkms_version("dpkg", "3.8.0.9123-1") == "3.8.0.9123"
    assert _scst_pkg.dkms_version("rpm", "3.8.0-1.el9") == "3.8.0-1.el9"
