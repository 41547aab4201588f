# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the install scenario: the installed stack read from the containers themselves (rpm -q, rpm -V
file digests, /usr/bin/ofed_info, the installer's own log directories), never the role's output."""
from __future__ import annotations

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
def test_conf_and_installer_ran_once(name):
    h = host(name)
    conf = h.file("/var/lib/iser-ofed/ofed.conf").content_string.splitlines()
    assert "ofed-scripts=y" in conf
    assert "srpt=n" in conf
    # install.pl makes /tmp/OFED.<pid>.logs at every start: converge + idempotence + check made only one.
    logs = h.check_output("find /tmp -maxdepth 1 -name 'OFED.*.logs' -type d | wc -l")
    assert logs == "1", "install.pl ran %s times" % logs
