# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the install scenario: the installed stack read from the containers themselves (rpm -q/-V,
dpkg-query, dpkg -V file digests, /usr/bin/ofed_info, DKMS module files, the installers' own log directories),
never the role's output."""
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


def test_mlnx_installer_ran_once():
    h = host(MLNX)
    # mlnxofedinstall makes <tmpdir>/MLNX_OFED_LINUX.<pid>.logs at every run: converge + idempotence + check
    # made only one.
    logs = h.check_output("find /tmp -maxdepth 1 -name 'MLNX_OFED_LINUX.*.logs' -type d | wc -l")
    assert logs == "1", "mlnxofedinstall ran %s times" % logs
