# SPDX-License-Identifier: GPL-3.0-or-later
"""main() of iser.ofed.ofed_installer with commands patched.

Bundles: real-layout directories from tests/unit/ofed_bundle_builders.py (real .mlnx, distro, Packages, BUILD_ID).
Installed state: real ofed_info / dpkg-query / rpm captures (tests/unit/fixtures/captured). Installer output:
constructed from the domain doc's message texts (no real installer transcript exists in the fixture set).
"""
from __future__ import annotations

import os

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.modules import ofed_installer as mod

from conftest import read_fixture, run_module, set_module_args
from ofed_bundle_builders import build_classic_dir, build_mlnx_dir

RUNNING = "5.4.0-26-generic"
MLNX_S = read_fixture("captured", "ofed_info", "mlnx-5.0-deb_s.txt")  # OFED-internal-5.0-2.1.8:
CLASSIC_S = read_fixture("captured", "ofed_info", "classic-3.5-rpm_s.txt")  # OFED-3.5:
OK_MLNX = ("Logs dir: /tmp/MLNX_OFED_LINUX.4242.logs\nInstallation passed successfully\n"
           "To load the new driver, run:\n/etc/init.d/openibd restart\n")


class Host:
    """A simulated host: what ofed_info prints, which OFED modules exist, what the installer does."""

    def __init__(self, monkeypatch, tmp_path, ofed_info=None, modules=(), installer=(0, OK_MLNX), after=None):
        self.calls = []
        self.ran = []
        self.ofed_info = ofed_info
        self.modules = list(modules)
        self.installer = installer
        self.after = after
        self.tmp = tmp_path
        monkeypatch.setattr(mod, "OFED_INFO", str(tmp_path / "ofed_info"))
        monkeypatch.setattr(mod, "running_kernel", lambda: RUNNING)
        monkeypatch.setattr(mod, "module_files", lambda kernel: list(self.modules))
        monkeypatch.setattr(mod, "run_installer", self.run_installer)
        monkeypatch.setattr(AnsibleModule, "run_command", lambda _m, argv, **kw: self.run_command(argv, **kw))
        monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda _self, name, *a, **k: None)
        self._write_ofed_info()

    def _write_ofed_info(self):
        path = self.tmp / "ofed_info"
        if self.ofed_info is None:
            if path.exists():
                path.unlink()
        else:
            path.write_text("#!/bin/sh\n")

    def run_command(self, argv, **kwargs):
        self.calls.append((list(argv), kwargs.get("environ_update")))
        if argv[-1] == "-s" and self.ofed_info is not None:
            return 0, self.ofed_info, ""
        raise AssertionError("unexpected command %r" % (argv,))

    def run_installer(self, _module, argv, cwd, log_path):
        self.ran.append((list(argv), cwd, log_path))
        rc, output = self.installer
        with open(log_path, "w") as handle:
            handle.write(output)
        if rc == 0 and self.after:
            self.ofed_info, self.modules = self.after
            self._write_ofed_info()
        return rc, output


def mlnx_args(tmp_path, **extra):
    headers = tmp_path / "build"
    headers.mkdir(exist_ok=True)
    args = {"bundle_dir": build_mlnx_dir(tmp_path), "flavor": "mlnx_ofed", "kernel": RUNNING,
            "kernel_sources": str(headers), "state_dir": str(tmp_path / "state")}
    args.update(extra)
    return args


def test_mlnx_installs_keeps_log_and_rereads_state(monkeypatch, tmp_path):
    host = Host(monkeypatch, tmp_path, after=("MLNX_OFED_LINUX-5.0-2.1.8.0:\n",
                                              ["/lib/modules/%s/updates/dkms/ib_core.ko" % RUNNING]))
    result = run_module(mod.main, mlnx_args(tmp_path, version="5.0", tmpdir="/var/tmp"))
    assert result["changed"] is True and not result.get("failed")
    argv, cwd, log_path = host.ran[0]
    assert argv == ["./mlnxofedinstall", "-q", "--without-fw-update", "--kernel-sources", str(tmp_path / "build"),
                    "--tmpdir", "/var/tmp"]
    assert cwd.endswith("MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64")
    assert os.path.dirname(log_path) == str(tmp_path / "state" / "logs")
    assert os.path.basename(log_path).startswith("installer-") and result["log"] == log_path
    assert result["rc"] == 0 and result["meaning"] == "installation succeeded"
    assert result["restart_required"] is True and result["restart_command"] == "/etc/init.d/openibd restart"
    assert result["reboot_required"] is False
    assert result["installed"]["flavor"] == "mlnx_ofed" and result["installed"]["version"] == "5.0-2.1.8.0"
    assert result["installed"]["kernel_modules"] is True
    assert result["installer_logs_dir"] == "/tmp/MLNX_OFED_LINUX.4242.logs"
    assert all(env == {"LC_ALL": "C"} for _argv, env in host.calls)


def test_noop_when_facts_match(monkeypatch, tmp_path):
    # package-installed ofed-scripts says OFED-internal-5.0-2.1.8 (captured); the bundle is 5.0-2.1.8.0
    host = Host(monkeypatch, tmp_path, ofed_info=MLNX_S, modules=["/lib/modules/%s/updates/dkms/ib_core.ko" % RUNNING])
    assert MLNX_S.startswith("OFED-internal-5.0-2.1.8:")
    result = run_module(mod.main, mlnx_args(tmp_path, version="5.0-2.1.8"))
    assert result["changed"] is False and host.ran == []
    assert "installed with modules for kernel %s" % RUNNING in result["reason"]
    assert not (tmp_path / "state" / "logs").exists()


def test_runs_when_modules_missing_for_target_kernel(monkeypatch, tmp_path):
    host = Host(monkeypatch, tmp_path, ofed_info=MLNX_S, modules=[])
    result = run_module(mod.main, mlnx_args(tmp_path))
    assert result["changed"] is True and len(host.ran) == 1
    assert result["reason"] == "no OFED kernel modules are installed for kernel %s" % RUNNING


def test_check_mode_says_what_would_run(monkeypatch, tmp_path):
    host = Host(monkeypatch, tmp_path, ofed_info=CLASSIC_S, modules=["/x/updates/ib_core.ko"])
    result = run_module(mod.main, mlnx_args(tmp_path, _ansible_check_mode=True, allow_package_removal=True))
    assert result["changed"] is True and host.ran == []
    assert result["cmd"][:4] == ["./mlnxofedinstall", "-q", "--without-fw-update", "--force"]
    assert result["reason"] == "installed flavor is ofed, wanted mlnx_ofed"
    assert not (tmp_path / "state").exists()


def test_failure_174_with_dependants_and_log_tail(monkeypatch, tmp_path):
    out = ("Logs dir: /tmp/MLNX_OFED_LINUX.9.logs\n" + "".join("step %d\n" % i for i in range(60)) +
           "\nError: One or more packages depends on MLNX_OFED.\nThose packages should be removed before "
           "uninstalling MLNX_OFED:\n\nlustre-client-modules-dkms\n\nTo force uninstallation use '--force' flag.\n")
    Host(monkeypatch, tmp_path, installer=(174, out))
    result = run_module(mod.main, mlnx_args(tmp_path, log_tail_lines=10))
    assert result["failed"] is True and result["rc"] == 174
    assert result["dependants"] == ["lustre-client-modules-dkms"]
    assert result["msg"].startswith("./mlnxofedinstall exited 174: other installed packages depend on the RDMA "
                                    "stack the installer would remove: lustre-client-modules-dkms. What to do:")
    assert "allow_package_removal" in result["msg"]
    assert len(result["log_tail"]) == 10 and result["log_tail"][-1] == "To force uninstallation use '--force' flag."
    assert result["cmd"][0] == "./mlnxofedinstall" and "lustre-client-modules-dkms" in result["stdout"]
    assert open(result["log"]).read() == out  # the (patched) runner's log is what the module returns


def test_failure_returns_tail_of_the_failing_log(monkeypatch, tmp_path):
    logs = tmp_path / "OFED.777.logs"
    logs.mkdir()
    (logs / "ofa_kernel.rpmbuild.log").write_text("".join("cc line %d\n" % i for i in range(50)) + "make: *** Error 2\n")
    out = "Failed to build ofa_kernel RPM\nSee %s/ofa_kernel.rpmbuild.log\n" % logs
    Host(monkeypatch, tmp_path, installer=(1, out))
    conf = tmp_path / "ofed.conf"
    conf.write_text("kernel-ib=y\nkernel-ib-devel=y\nofed-scripts=y\nsrpt=n\n")
    args = {"bundle_dir": build_classic_dir(tmp_path, "1.5"), "flavor": "ofed", "conf": str(conf),
            "kernel": "2.6.32-5-amd64", "state_dir": str(tmp_path / "state"), "log_tail_lines": 5}
    result = run_module(mod.main, args)
    assert result["failed"] is True and result["rc"] == 1
    assert result["cmd"] == ["./install.pl", "-c", str(conf), "-k", "2.6.32-5-amd64", "-s",
                             "/lib/modules/2.6.32-5-amd64/build"]
    assert result["failed_log"]["path"] == str(logs / "ofa_kernel.rpmbuild.log")
    assert result["failed_log"]["tail"][-1] == "make: *** Error 2" and len(result["failed_log"]["tail"]) == 5
    assert result["installer_logs_dir"] == str(logs)
    assert "install.pl uses exit 1 for every error" in result["msg"]


@pytest.mark.parametrize("extra,match", [
    ({"tmpdir": "/t"}, "install.pl of OFED 1.5 has no --tmpdir option"),
    ({"builddir": "/b"}, "has no --builddir option"),
    ({"extra_args": ["--umad-dev-rw"]}, "OFED 1.5 does not accept --umad-dev-rw"),
    ({"version": "3.5"}, "the bundle is version 1.5, which does not match the wanted version 3.5"),
])
def test_classic_refusals_before_running(monkeypatch, tmp_path, extra, match):
    host = Host(monkeypatch, tmp_path)
    conf = tmp_path / "ofed.conf"
    conf.write_text("ofed-scripts=y\n")
    args = {"bundle_dir": build_classic_dir(tmp_path, "1.5"), "flavor": "ofed", "conf": str(conf),
            "state_dir": str(tmp_path / "state")}
    args.update(extra)
    result = run_module(mod.main, args)
    assert result["failed"] is True and match in result["msg"] and host.ran == []


def test_conf_without_ofed_scripts_refused(monkeypatch, tmp_path):
    host = Host(monkeypatch, tmp_path)
    conf = tmp_path / "ofed.conf"
    conf.write_text("mlnx-ofa_kernel=y\nofed-scripts=n\n")
    result = run_module(mod.main, mlnx_args(tmp_path, conf=str(conf)))
    assert result["failed"] is True and "does not select ofed-scripts=y" in result["msg"] and host.ran == []


def test_unsupported_kernel_needs_add_kernel_support(monkeypatch, tmp_path):
    Host(monkeypatch, tmp_path)
    args = mlnx_args(tmp_path, kernel="6.1.0-9-amd64")
    args.pop("kernel_sources")  # no headers for that kernel: DKMS cannot build, no prebuilt package either
    result = run_module(mod.main, args)
    assert result["failed"] is True and "no driver packages for kernel 6.1.0-9-amd64" in result["msg"]
    host = Host(monkeypatch, tmp_path)
    result = run_module(mod.main, dict(args, add_kernel_support=True, _ansible_check_mode=True))
    assert result["changed"] is True and "--add-kernel-support" in result["cmd"]
    assert result["cmd"][-4:] == ["--kernel", "6.1.0-9-amd64", "--kernel-sources", "/lib/modules/6.1.0-9-amd64/build"]
    assert host.ran == []


def test_wrong_bundle_refused(monkeypatch, tmp_path):
    Host(monkeypatch, tmp_path)
    result = run_module(mod.main, {"bundle_dir": build_classic_dir(tmp_path, "3.5"), "flavor": "mlnx_ofed"})
    assert result["failed"] is True and "has no mlnxofedinstall" in result["msg"]


def test_log_file_given_is_used(monkeypatch, tmp_path):
    host = Host(monkeypatch, tmp_path, after=("MLNX_OFED_LINUX-5.0-2.1.8.0:\n",
                                              ["/lib/modules/%s/updates/dkms/ib_core.ko" % RUNNING]))
    log = tmp_path / "here" / "inst.log"
    result = run_module(mod.main, mlnx_args(tmp_path, log_file=str(log)))
    assert result["log"] == str(log) and host.ran[0][2] == str(log)
    assert log.read_text() == OK_MLNX and not (tmp_path / "state" / "logs").exists()


# The real I/O wrapper through AnsibleModule.run_command (no patching): the script stands in for an installer.
INSTALLER = r"""#!/bin/sh
log="$1"; shift
echo "first line"
# stdout is the log itself, written as it goes: the line above is already in the file
if grep -q "^first line$" "$log"; then echo "live: yes"; else echo "live: no"; fi
echo "stdin: $(readlink /proc/self/fd/0)"
echo "LC_ALL=$LC_ALL"
echo "cwd: $(pwd)"
for a in "$@"; do echo "arg: [$a]"; done
echo "to stderr" >&2
# a prompt that slipped through -q: read must hit end-of-file at once (a terminal or pipe would block)
if read -r answer; then echo "answered: $answer"; else echo "eof"; fi
exit 3
"""


def test_run_installer_stdin_devnull_output_live_in_the_log(tmp_path):
    script = tmp_path / "inst.sh"
    script.write_text(INSTALLER)
    script.chmod(0o755)
    log = tmp_path / "x.log"
    log.write_text("an earlier run\n")
    with set_module_args({}):
        module = AnsibleModule(argument_spec={})
    argv = [str(script), str(log), "-c", "a b", "$HOME", "'q'"]
    rc, output = mod.run_installer(module, argv, str(tmp_path), str(log))
    assert rc == 3
    assert output.splitlines() == [
        "first line", "live: yes", "stdin: /dev/null", "LC_ALL=C", "cwd: %s" % tmp_path,
        "arg: [-c]", "arg: [a b]", "arg: [$HOME]", "arg: ['q']", "to stderr", "eof"]
    text = log.read_text()
    assert text.startswith("an earlier run\n# iser.ofed.ofed_installer ")  # appended, never truncated
    assert "# cmd: %s" % " ".join(argv) in text and "# stdin: /dev/null" in text
    assert text.endswith("to stderr\neof\n# rc: 3\n")


def test_run_installer_missing_installer_is_reported_in_the_log(tmp_path):
    with set_module_args({}):
        module = AnsibleModule(argument_spec={})
    rc, output = mod.run_installer(module, ["./nope"], str(tmp_path), str(tmp_path / "x.log"))
    assert rc == 127 and "nope" in output and "nope" in (tmp_path / "x.log").read_text()


def test_main_runs_the_real_wrapper_and_explains_a_failure(monkeypatch, tmp_path):
    """main() end to end with a real (fixture) mlnxofedinstall that fails 172: log kept, tail returned."""
    args = mlnx_args(tmp_path)
    installer = os.path.join(args["bundle_dir"], "mlnxofedinstall")
    with open(installer, "w") as handle:
        handle.write("#!/bin/sh\necho 'Logs dir: /tmp/MLNX_OFED_LINUX.5.logs' >&2\n"
                     "echo 'Error: The current MLNX_OFED_LINUX is intended for ubuntu20.04'\nexit 172\n")
    os.chmod(installer, 0o755)
    monkeypatch.setattr(mod, "OFED_INFO", str(tmp_path / "no_ofed_info"))
    monkeypatch.setattr(mod, "running_kernel", lambda: RUNNING)
    monkeypatch.setattr(mod, "module_files", lambda kernel: [])
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda _self, name, *a, **k: None)
    result = run_module(mod.main, args)
    assert result["failed"] is True and result["rc"] == 172
    assert result["msg"].startswith("./mlnxofedinstall exited 172: prerequisites not met")
    assert result["log_tail"] == ["Logs dir: /tmp/MLNX_OFED_LINUX.5.logs",
                                  "Error: The current MLNX_OFED_LINUX is intended for ubuntu20.04"]
    assert result["installer_logs_dir"] == "/tmp/MLNX_OFED_LINUX.5.logs"
    assert os.path.dirname(result["log"]) == str(tmp_path / "state" / "logs")
    assert open(result["log"]).read().endswith("intended for ubuntu20.04\n# rc: 172\n")
