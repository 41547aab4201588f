# SPDX-License-Identifier: GPL-3.0-or-later
"""_installer: argv per release, exit-code table, 174 dependants, logs, restart/reboot, no-op decision.

Installer output lines are constructed from the message texts in the domain doc (sections 1.4-1.6, 2.3, 2.4, 6)
and mlnxofedinstall's own print statements; no real installer transcript is in the fixture set.
"""
from __future__ import annotations

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _installer as inst


# ------------------------------------------------------------------------------------------ classic argv
@pytest.mark.parametrize("release,expected", [
    ("1.5", ["./install.pl", "-c", "/s/ofed.conf", "-k", "2.6.32-5-amd64", "-s", "/lib/modules/2.6.32-5-amd64/build"]),
    ("1.5.4.1", ["./install.pl", "-c", "/s/ofed.conf", "-k", "2.6.32-5-amd64", "-s",
                 "/lib/modules/2.6.32-5-amd64/build"]),
    ("3.5", ["./install.pl", "-c", "/s/ofed.conf", "-k", "2.6.32-5-amd64", "-s", "/lib/modules/2.6.32-5-amd64/build"]),
    ("4.8", ["./install.pl", "-c", "/s/ofed.conf", "-k", "2.6.32-5-amd64", "-o", "/lib/modules/2.6.32-5-amd64/build"]),
])
def test_classic_kernel_options_per_release(release, expected):
    assert inst.classic_argv(release, "/s/ofed.conf", kernel="2.6.32-5-amd64") == expected


def test_classic_minimal_and_builddir():
    assert inst.classic_argv("1.5", "/s/ofed.conf") == ["./install.pl", "-c", "/s/ofed.conf"]
    assert inst.classic_argv("3.5", "c", kernel="3.5.0", kernel_sources="/usr/src/linux", builddir="/var/tmp/b") == [
        "./install.pl", "-c", "c", "-k", "3.5.0", "-s", "/usr/src/linux", "--builddir", "/var/tmp/b"]
    extra = ["--without-depcheck", "--without-ibacm", "-l", "/opt/ofed"]
    assert inst.classic_argv("4.8", "c", builddir="/b", extra_args=extra) == [
        "./install.pl", "-c", "c", "--builddir", "/b", "--without-depcheck", "--without-ibacm", "-l", "/opt/ofed"]


@pytest.mark.parametrize("release,kwargs,match", [
    ("1.5", {"builddir": "/b"}, "install.pl of OFED 1.5 has no --builddir option"),
    ("3.2", {"builddir": "/b"}, "has no --builddir option"),
    ("1.5", {"tmpdir": "/t"}, "has no --tmpdir option"),
    ("3.5", {"tmpdir": "/t"}, "no --tmpdir option.*use builddir"),
    ("4.8", {"extra_args": ["--kernel-sources", "/x"]}, "set by the module"),
    ("4.8", {"extra_args": ["--umad-dev-rw", "--frobnicate"]}, "does not accept --frobnicate"),
    ("1.5", {"extra_args": ["--umad-dev-rw"]}, "OFED 1.5 does not accept --umad-dev-rw"),
    ("1.5", {"extra_args": ["--without-ibacm"]}, "does not accept --without-ibacm"),
    ("3.5", {"extra_args": ["--with-xeon-phi"]}, "does not accept --with-xeon-phi"),
    ("3.5", {"extra_args": ["--all"]}, "'-c' option can't be used"),
    ("4.8", {"extra_args": ["--hpc"]}, "Unsupported installation option: hpc"),
    ("3.5", {"extra_args": ["--prefix=/opt"]}, "give the value as the next word"),
    ("3.5", {"extra_args": ["--prefix"]}, "--prefix needs a value"),
    ("3.5", {"extra_args": ["/opt"]}, "is not an option"),
    ("3.5", {"kernel_sources": "/x"}, "kernel_sources needs kernel"),
    ("5.0", {}, "not a classic OFED release"),
])
def test_classic_refusals(release, kwargs, match):
    with pytest.raises(inst.InstallerError, match=match):
        inst.classic_argv(release, "/s/ofed.conf", **kwargs)


def test_classic_needs_conf():
    with pytest.raises(inst.InstallerError, match="needs a conf file"):
        inst.classic_argv("3.5", "")


# ------------------------------------------------------------------------------------------ MLNX argv
def test_mlnx_defaults():
    assert inst.mlnx_argv(kernel="5.4.0-26-generic", running_kernel="5.4.0-26-generic") == [
        "./mlnxofedinstall", "-q", "--without-fw-update"]


def test_mlnx_full():
    argv = inst.mlnx_argv(kernel="5.4.0-42-generic", running_kernel="5.4.0-26-generic", tmpdir="/var/tmp",
                          conf="/s/ofed.conf", firmware_update=True, allow_package_removal=True,
                          add_kernel_support=True, kernel_supported=False, extra_args=["--skip-repo", "--dkms"])
    assert argv == ["./mlnxofedinstall", "-q", "--force", "--add-kernel-support", "--kernel", "5.4.0-42-generic",
                    "--kernel-sources", "/lib/modules/5.4.0-42-generic/build", "--tmpdir", "/var/tmp", "-c",
                    "/s/ofed.conf", "--skip-repo", "--dkms"]


def test_mlnx_add_kernel_support_only_when_unsupported():
    assert "--add-kernel-support" not in inst.mlnx_argv(add_kernel_support=True, kernel_supported=True)
    assert "--add-kernel-support" not in inst.mlnx_argv(add_kernel_support=True, kernel_supported=None)
    with pytest.raises(inst.InstallerError, match="no driver packages for kernel 6.1.0-9-amd64; allow add_kernel"):
        inst.mlnx_argv(kernel="6.1.0-9-amd64", running_kernel="6.1.0-9-amd64", kernel_supported=False)


@pytest.mark.parametrize("kwargs,match", [
    ({"extra_args": ["--force"]}, "set by the module"),
    ({"extra_args": ["--frobnicate"]}, "mlnxofedinstall does not accept --frobnicate"),
    ({"extra_args": ["--fw-update-only"]}, "installs nothing"),
    ({"extra_args": ["--force-fw-update"]}, "firmware updates are opt-in"),
    ({"extra_args": ["--without-ofed-scripts"]}, "ofed-scripts is required"),
    ({"extra_args": ["--hpc"], "conf": "/c"}, "cannot be combined with -c"),
    ({"extra_args": ["--tmpdir", "/x"]}, "set by the module"),
])
def test_mlnx_refusals(kwargs, match):
    with pytest.raises(inst.InstallerError, match=match):
        inst.mlnx_argv(**kwargs)


def test_mlnx_extra_with_values():
    argv = inst.mlnx_argv(extra_args=["--hpc", "--post-install-opensm", "/root/x.sh", "--without-mlnx-ethtool",
                                      "--distro", "ubuntu20.04"])
    assert argv[3:] == ["--hpc", "--post-install-opensm", "/root/x.sh", "--without-mlnx-ethtool", "--distro",
                        "ubuntu20.04"]
    assert "--force-fw-update" in inst.mlnx_argv(firmware_update=True, extra_args=["--force-fw-update"])


# ------------------------------------------------------------------------------------------ exit codes
@pytest.mark.parametrize("flavor,rc,words", [
    ("mlnx_ofed", 0, "succeeded"), ("mlnx_ofed", 1, "installation failed"), ("mlnx_ofed", 2, "no firmware"),
    ("mlnx_ofed", 22, "invalid parameter"), ("mlnx_ofed", 28, "not enough free space"),
    ("mlnx_ofed", 171, "not applicable"), ("mlnx_ofed", 172, "prerequisites not met"),
    ("mlnx_ofed", 173, "mst driver"), ("mlnx_ofed", 174, "depend on the RDMA stack"),
    ("mlnx_ofed", 30, "already supported"), ("ofed", 0, "succeeded"), ("ofed", 1, "install.pl uses exit 1"),
])
def test_every_documented_exit_code(flavor, rc, words):
    result = inst.explain(flavor, rc)
    assert result["known"] and words in result["meaning"] and result["remedy"]


def test_undocumented_exit_code():
    result = inst.explain("ofed", 255)
    assert not result["known"] and result["meaning"] == "undocumented exit code 255"


OUT_174 = ("Removing old packages...\n\nError: One or more packages depends on MLNX_OFED.\n"
           "Those packages should be removed before uninstalling MLNX_OFED:\n\n"
           "lustre-client-modules-dkms ceph-common\n\nTo force uninstallation use '--force' flag.\n")


def test_174_dependants():
    assert inst.parse_dependants(OUT_174) == ["lustre-client-modules-dkms", "ceph-common"]
    result = inst.explain("mlnx_ofed", 174, OUT_174)
    assert result["dependants"] == ["lustre-client-modules-dkms", "ceph-common"]
    assert result["meaning"].endswith(": lustre-client-modules-dkms ceph-common")
    assert "allow_package_removal" in result["remedy"]
    long_form = OUT_174.replace("MLNX_OFED.", "MLNX_OFED_LINUX.").replace("MLNX_OFED:", "MLNX_OFED_LINUX:")
    assert inst.parse_dependants(long_form) == ["lustre-client-modules-dkms", "ceph-common"]
    assert inst.parse_dependants("Installation passed successfully\n") == []


def test_classic_unsupported_kernel_explained():
    out = ("Kernel 6.1.0-9-amd64 is not supported.\nFor the list of Supported Platforms and Operating Systems see\n"
           "/root/OFED-1.5/docs/OFED_release_notes.txt\n")
    result = inst.explain("ofed", 1, out)
    assert result["meaning"].startswith("kernel 6.1.0-9-amd64 is not supported")
    assert "OFED_release_notes.txt" in result["remedy"]


# ------------------------------------------------------------------------------------------ logs
def test_logs_dir_and_failed_logs_mlnx():
    out = ("Logs dir: /tmp/MLNX_OFED_LINUX.4242.logs\nGeneral log file: /tmp/MLNX_OFED_LINUX.4242.logs/general.log\n"
           "Failed to install mlnx-ofed-kernel-dkms DEB\n"
           "See /tmp/MLNX_OFED_LINUX.4242.logs/mlnx-ofed-kernel-dkms.debinstall.log\n")
    assert inst.logs_dir(out) == "/tmp/MLNX_OFED_LINUX.4242.logs"
    assert inst.failed_logs(out) == ["/tmp/MLNX_OFED_LINUX.4242.logs/mlnx-ofed-kernel-dkms.debinstall.log",
                                     "/tmp/MLNX_OFED_LINUX.4242.logs/general.log"]


def test_logs_classic():
    out = "Build ofa_kernel RPM\nFailed to build ofa_kernel RPM\nSee /tmp/OFED.777.logs/ofa_kernel.rpmbuild.log\n"
    assert inst.logs_dir(out) == "/tmp/OFED.777.logs"
    assert inst.failed_logs(out)[0] == "/tmp/OFED.777.logs/ofa_kernel.rpmbuild.log"
    assert inst.logs_dir("nothing here") is None and inst.failed_logs("") == []


def test_tail():
    text = "\n".join("line %d" % i for i in range(100)) + "\n"
    assert inst.tail(text, 3) == ["line 97", "line 98", "line 99"]
    assert inst.tail("", 3) == [] and inst.tail(None) == []


def test_tail_drops_colour_sequences():
    # mlnxofedinstall prints its errors in red (\033[31m ... \033[0m), as the fixture installer does
    text = "Logs dir: /tmp/MLNX_OFED_LINUX.7.logs\n\x1b[31mError: The current MLNX_OFED_LINUX is intended for ubuntu20.04\x1b[0m\n"
    assert inst.tail(text, 1) == ["Error: The current MLNX_OFED_LINUX is intended for ubuntu20.04"]


def test_after_install():
    ok = "Installation passed successfully\nTo load the new driver, run:\n/etc/init.d/openibd restart\n"
    assert inst.after_install(ok) == {"restart_required": True, "restart_command": "/etc/init.d/openibd restart",
                                      "reboot_required": False}
    en = "To load the new driver, run:\n/etc/init.d/mlnx-en.d restart\n"
    assert inst.after_install(en)["restart_command"] == "/etc/init.d/mlnx-en.d restart"
    fw = ok + "Device #1:\n  Status:           Updated\nPlease reboot your system for the changes to take effect.\n"
    assert inst.after_install(fw)["reboot_required"] is True
    assert inst.after_install("Installation finished successfully.\n") == {
        "restart_required": False, "restart_command": None, "reboot_required": False}


# ------------------------------------------------------------------------------------------ no-op
MLNX = {"flavor": "mlnx_ofed", "version": "5.0-2.1.8"}


@pytest.mark.parametrize("installed,wanted,modules,satisfied,reason", [
    (MLNX, None, True, True, "installed with modules for kernel k"),
    ({"flavor": "mlnx_ofed", "version": "5.0-2.1.8.0"}, "5.0", True, True, "installed"),
    (MLNX, "5.0-2", True, True, "installed"),
    (MLNX, "5.00", True, True, "installed"),  # numeric field equality: 5.00 == 5.0
    (MLNX, "5.8", True, False, "does not match the wanted 5.8"),
    (MLNX, None, False, False, "no OFED kernel modules are installed for kernel k"),
    ({"flavor": "ofed", "version": "3.5"}, None, True, False, "installed flavor is ofed, wanted mlnx_ofed"),
    ({"flavor": None, "version": None}, None, True, False, "no OFED stack is installed"),
    ({"flavor": "mlnx_ofed", "version": "4.9-7.1.0.0"}, None, True, False, "differs from the bundle's 5.0-2.1.8.0"),
    ({"flavor": "mlnx_ofed", "version": "garbage"}, None, True, False, "cannot be read"),
])
def test_decide(installed, wanted, modules, satisfied, reason):
    got, why = inst.decide(installed, "mlnx_ofed", "5.0-2.1.8.0", wanted, "k", modules)
    assert got is satisfied and reason in why


@pytest.mark.parametrize("files,expected", [
    (["/lib/modules/k/updates/dkms/ib_core.ko"], True),
    (["/lib/modules/k/extra/mlnx-ofa_kernel/compat/mlx_compat.ko.xz"], True),
    (["/lib/modules/k/updates/kernel/drivers/infiniband/core/ib_core.ko"], True),
    (["/lib/modules/k/updates/dkms/other.ko", "/lib/modules/k/updates/ib_core_x.ko"], False),
    ([], False),
])
def test_kernel_has_ofed_modules(files, expected):
    assert inst.kernel_has_ofed_modules(files) is expected


# ------------------------------------------------------------------------------------------ running
def test_redirected_argv_keeps_the_words_and_redirects_in_the_shell():
    argv = inst.redirected_argv(["./mlnxofedinstall", "-q", "--tmpdir", "/var/tmp/a b"])
    assert argv == ["/bin/sh", "-c", 'exec "$0" "$@" </dev/null >>"$ISER_OFED_INSTALLER_LOG" 2>&1',
                    "./mlnxofedinstall", "-q", "--tmpdir", "/var/tmp/a b"]
    assert inst.LOG_ENV == "ISER_OFED_INSTALLER_LOG"
    with pytest.raises(inst.InstallerError, match="no installer command"):
        inst.redirected_argv([])


def test_log_header():
    text = inst.log_header(["./install.pl", "-c", "/x/ofed.conf"], "/b", "2024-05-01T10:15:00+0000")
    assert text.splitlines() == ["# iser.ofed.ofed_installer 2024-05-01T10:15:00+0000",
                                 "# cmd: ./install.pl -c /x/ofed.conf", "# cwd: /b",
                                 "# stdin: /dev/null; stdout and stderr follow"]
