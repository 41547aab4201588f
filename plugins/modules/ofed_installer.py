#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module ``iser.ofed.ofed_installer``."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ofed_installer
short_description: Run the classic OFED or MLNX_OFED installer once, keep its log, explain its exit code
version_added: "0.1.0"
description:
  - "Runs C(./install.pl -c <conf>) (classic OFED) or C(./mlnxofedinstall -q) (MLNX_OFED) from an unpacked bundle
    on the host, with C(LC_ALL=C) and stdin from C(/dev/null) (a prompt reads end-of-file at once and takes its
    default answer, no), so nothing can wait for an answer."
  - "No-op when the host already has the same flavor and version (C(ofed_info -s), else the C(dpkg-query)/C(rpm)
    packages) and OFED kernel modules for the target kernel (under C(/lib/modules/<kernel>/updates) or C(extra))."
  - "Classic OFED: only the options the release's C(install.pl) accepts: C(-k <kernel>) with C(-s <build dir>)
    for 1.x/3.x and C(-o <build dir>) for 4.x (4.x has C(-s|--linux) and C(-o|--linux-obj), not
    C(--kernel-sources)); C(--builddir) from 3.5 on; never C(--tmpdir). Anything else is refused before running."
  - "MLNX_OFED: C(-q), C(--without-fw-update) unless O(firmware_update), C(--force) only with
    O(allow_package_removal) (it lets the installer remove packages that depend on the stack, such as Lustre,
    MPI or Ceph), C(--add-kernel-support) when the bundle has no driver packages for the target kernel and
    O(add_kernel_support) allows it, C(--kernel)/C(--kernel-sources) for a target kernel that is not running,
    C(--tmpdir), C(-c <conf>) for a manual package selection (the conf must select C(ofed-scripts))."
  - "The installer's stdout and stderr go straight into the log file (O(log_file), default
    C(<log_dir>/installer-<time>.log)) while it runs, so the log shows its progress live (the
    C(iser.ofed.ofed_install) role shows its last lines while it polls an C(async) run).
    On failure the module fails with the exit code's meaning and what to do,
    the tail of the output, and the tail of the installer's own failing log (C(See .../<pkg>.rpmbuild.log),
    C(Logs dir: /tmp/MLNX_OFED_LINUX.<pid>.logs)). Exit 174 lists the packages that depend on the stack."
author:
  - iser.ofed contributors (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - iser.ofed.attributes
attributes:
  check_mode:
    support: full
    details: Reports the argv it would run and C(changed=true) when the installed stack does not satisfy the request.
  diff_mode:
    support: none
options:
  bundle_dir:
    description: The unpacked bundle on the host (holds C(install.pl) or C(mlnxofedinstall)).
    type: path
    required: true
  flavor:
    description: Which installer the bundle carries.
    type: str
    required: true
    choices: [mlnx_ofed, ofed]
  version:
    description:
      - Expected version. Must match the bundle's (C(.mlnx) or C(BUILD_ID)) by the documented rule (C(5.8) matches
        C(5.8-3.0.7.0), C(5.8-3) too, C(5.80) does not), else the module fails before running anything.
    type: str
  kernel:
    description: Target kernel release (C(uname -r) form). Defaults to the running kernel.
    type: str
  kernel_sources:
    description: Build tree of the target kernel. Defaults to C(/lib/modules/<kernel>/build) when O(kernel) is given.
    type: path
  conf:
    description:
      - Rendered C(ofed.conf) (template C(ofed.conf.j2) of the C(iser.ofed.ofed_install) role). Required for classic
        OFED; for MLNX_OFED it means manual package selection (C(-c)).
    type: path
  tmpdir:
    description: C(--tmpdir) for MLNX_OFED. Classic C(install.pl) has no such option; setting it there fails.
    type: path
  builddir:
    description: C(--builddir) for classic OFED 3.5 and later (RPM build tree; default C(/var/tmp)).
    type: path
  extra_args:
    description:
      - More installer options, one word per item (C(["--prefix", "/opt/ofed"])). Each is checked against what
        that installer and release accept; options the module sets itself are refused.
    type: list
    elements: str
    default: []
  allow_package_removal:
    description: Pass C(--force) to C(mlnxofedinstall), letting it remove packages that depend on the RDMA stack.
    type: bool
    default: false
  add_kernel_support:
    description: Allow C(--add-kernel-support) when the MLNX_OFED bundle has no driver packages for the target kernel.
    type: bool
    default: false
  firmware_update:
    description: Let C(mlnxofedinstall) update the adapter firmware (without it, C(--without-fw-update) is passed).
    type: bool
    default: false
  state_dir:
    description: The collection's on-host state directory.
    type: path
    default: /var/lib/iser-ofed
  log_dir:
    description: Where the installer's full output is kept. Defaults to C(<state_dir>/logs).
    type: path
  log_file:
    description:
      - The file the installer's output is appended to while it runs. Defaults to a new
        C(<log_dir>/installer-<time>.log). Give it to know the path before the run ends (to follow an
        C(async) run). Its directory is created.
    type: path
  log_tail_lines:
    description: How many lines of the output and of the failing log to return.
    type: int
    default: 40
notes:
  - Run long installs (10 to 40 minutes) with C(async) and C(poll=0), set O(log_file), and follow that file
    while C(ansible.builtin.async_status) says the job runs. The installer's own log directory
    (C(/tmp/MLNX_OFED_LINUX.<pid>.logs), C(/tmp/OFED.<pid>.logs)) grows as well.
"""

EXAMPLES = r"""
- name: Install classic OFED 1.5 from a templated ofed.conf
  iser.ofed.ofed_installer:
    bundle_dir: /var/lib/iser-ofed/bundles/OFED-1.5
    flavor: ofed
    conf: /var/lib/iser-ofed/ofed.conf
    kernel: 2.6.32-5-amd64
  async: 3600
  poll: 30

- name: Start MLNX_OFED in the background with a known log file
  iser.ofed.ofed_installer:
    bundle_dir: /var/lib/iser-ofed/bundles/MLNX_OFED_LINUX-5.8-3.0.7.0-ubuntu22.04-x86_64
    flavor: mlnx_ofed
    log_file: /var/lib/iser-ofed/logs/installer-mlnx.log
  async: 3600
  poll: 0
  register: install_job

- name: Show the last lines of the live log
  ansible.builtin.command:
    argv: [tail, -n, "5", /var/lib/iser-ofed/logs/installer-mlnx.log]
  changed_when: false

- name: Install MLNX_OFED for a kernel that is installed but not booted yet
  iser.ofed.ofed_installer:
    bundle_dir: /var/lib/iser-ofed/bundles/MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64
    flavor: mlnx_ofed
    version: "5.0"
    kernel: 5.4.0-42-generic
    tmpdir: /var/tmp
  register: install

- name: Restart the driver when the installer says so
  ansible.builtin.command: /etc/init.d/openibd restart
  when: install.restart_required
"""

RETURN = r"""
changed:
  description: Whether the installer ran (or would run, in check mode).
  returned: always
  type: bool
cmd:
  description: The installer argv (run with O(bundle_dir) as working directory).
  returned: always
  type: list
  elements: str
  sample: ["./mlnxofedinstall", "-q", "--without-fw-update", "--tmpdir", "/var/tmp"]
reason:
  description: Why the installer did or did not run.
  returned: always
  type: str
  sample: "installed flavor is ofed, wanted mlnx_ofed"
rc:
  description: The installer's exit code.
  returned: when the installer ran
  type: int
  sample: 0
meaning:
  description: What the exit code means (documented tables of C(mlnxofedinstall) and C(install.pl)).
  returned: when the installer ran
  type: str
  sample: installation succeeded
remedy:
  description: What to do about it.
  returned: when the installer ran
  type: str
dependants:
  description: Packages that depend on the stack (exit 174).
  returned: when the installer ran
  type: list
  elements: str
  sample: [lustre-client-modules]
log:
  description: The file holding the installer's full output (stdout and stderr as written, after a header).
  returned: when the installer ran
  type: str
  sample: /var/lib/iser-ofed/logs/installer-20240501T101500.log
log_tail:
  description: The last lines of the installer's output (stdout and stderr).
  returned: when the installer ran
  type: list
  elements: str
  sample: ["Logs dir: /tmp/MLNX_OFED_LINUX.12345.logs", "Installation passed successfully"]
installer_logs_dir:
  description: The installer's own log directory, from its output.
  returned: when the installer ran
  type: str
  sample: /tmp/MLNX_OFED_LINUX.12345.logs
failed_log:
  description: The log the output points to on failure, and its tail.
  returned: on failure, when the output names a readable log
  type: dict
  sample: {path: /tmp/OFED.4711.logs/ofa_kernel.rpmbuild.log, tail: ["make: *** [all] Error 2"]}
restart_required:
  description: The installer asked for a driver restart (C(To load the new driver, run:) ... C(openibd restart)).
  returned: always
  type: bool
restart_command:
  description: The restart command it printed.
  returned: always
  type: str
  sample: /etc/init.d/openibd restart
reboot_required:
  description: The output says firmware was updated or asks for a reboot.
  returned: always
  type: bool
installed:
  description: The stack found on the host before (no-op, check mode) or after the run.
  returned: always
  type: dict
  sample: {flavor: mlnx_ofed, version: "5.0-2.1.8.0", version_source: "ofed_info -s", kernel_modules: true}
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _installer as inst
from ansible_collections.iser.ofed.plugins.module_utils import _ofed_info as oi
from ansible_collections.iser.ofed.plugins.module_utils import _ofed_version as ov
from ansible_collections.iser.ofed.plugins.module_utils import _pkgquery as pq
from ansible_collections.iser.ofed.plugins.module_utils._bundle import BundleError, read_directory
from ansible_collections.iser.ofed.plugins.module_utils._mlnx_bundle import check_kernel
from ansible_collections.iser.ofed.plugins.module_utils._ofed_conf import OfedConfError, parse_conf
from ansible_collections.iser.ofed.plugins.module_utils._release_check import build_id_release

ENV = {"LC_ALL": "C"}
MODULES_ROOT = "/lib/modules"
OFED_INFO = "/usr/bin/ofed_info"


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def running_kernel():
    return os.uname()[2]


def module_files(kernel):
    """Files under /lib/modules/<kernel>/{updates,extra} (where OFED installs its modules)."""
    found = []
    for sub in ("updates", "extra"):
        for root, _dirs, files in os.walk(os.path.join(MODULES_ROOT, kernel, sub)):
            found.extend(os.path.join(root, name) for name in files)
    return found


def run_installer(module, argv, cwd, log_path):
    """Run the installer (``_installer.run_logged``); return ``(rc, output)``."""
    def run(words, workdir, env):
        # expand_user_and_vars=False: run_command would otherwise expand ~ and $NAME inside every word
        return module.run_command(words, cwd=workdir, environ_update=env, expand_user_and_vars=False)
    return inst.run_logged(run, argv, cwd, log_path, time.strftime("%Y-%m-%dT%H:%M:%S%z"))


def installed_state(module, kernel):
    """Flavor/version from ofed_info -s, else from packages; plus whether OFED modules exist for ``kernel``."""
    info = {"kind": None}
    if os.path.exists(OFED_INFO):
        rc, out, _err = module.run_command([OFED_INFO, "-s"], environ_update=ENV)
        if rc == 0:
            info = oi.classify_first_line(oi.first_line(out))
            info["source"] = "ofed_info -s"
    packages = []
    for argv, parse in ((pq.dpkg_argv(), pq.parse_dpkg_query), (pq.rpm_argv(), pq.parse_rpm_query)):
        if module.get_bin_path(argv[0]):
            rc, out, err = module.run_command(argv, environ_update=ENV)
            found, error = parse(rc, out, err)
            packages.extend(found)
            if error:
                module.warn(error)
    state = oi.decide_stack(info, packages, None)
    state["kernel"] = kernel
    state["kernel_modules"] = inst.kernel_has_ofed_modules(module_files(kernel))
    return state


def bundle_facts(module, params):
    """The bundle's version (.mlnx / BUILD_ID) and, for MLNX_OFED, whether it has drivers for the kernel."""
    bundle_dir, flavor = params["bundle_dir"], params["flavor"]
    installer = "mlnxofedinstall" if flavor == "mlnx_ofed" else "install.pl"
    if not os.path.isfile(os.path.join(bundle_dir, installer)):
        module.fail_json(msg="%s has no %s: not an unpacked %s bundle" % (
            bundle_dir, installer, "MLNX_OFED" if flavor == "mlnx_ofed" else "classic OFED"))
    if flavor == "ofed":
        version = build_id_release(read_text(os.path.join(bundle_dir, "BUILD_ID"))) or params["version"]
        if not version:
            module.fail_json(msg="%s/BUILD_ID names no OFED release and no version was given" % bundle_dir)
        return version, None
    version = (read_text(os.path.join(bundle_dir, ".mlnx")) or "").strip()
    if not version:
        module.fail_json(msg="%s/.mlnx is missing or empty (the installer would exit 172)" % bundle_dir)
    try:
        bundle = read_directory(bundle_dir)
    except BundleError as exc:
        module.fail_json(msg=str(exc))
    build = params["kernel_sources"] or os.path.join(MODULES_ROOT, params["kernel"], "build")
    support = check_kernel(params["kernel"], bundle.files, bundle.texts, os.path.isdir(build))
    return version, support["supported"]


def check_conf(module, params):
    if not params["conf"]:
        return
    text = read_text(params["conf"])
    if text is None:
        module.fail_json(msg="conf %s cannot be read (render it with the ofed.conf.j2 template first)" % params["conf"])
    try:
        conf = parse_conf(text, params["conf"])
    except OfedConfError as exc:
        module.fail_json(msg=str(exc))
    if conf.get("ofed-scripts") != "y":
        module.fail_json(msg="%s does not select ofed-scripts=y: iscsi-scst's Makefile reads /usr/bin/ofed_info, "
                             "which that package installs (the ofed.conf.j2 template always adds it)" % params["conf"])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bundle_dir=dict(type="path", required=True),
            flavor=dict(type="str", required=True, choices=["mlnx_ofed", "ofed"]),
            version=dict(type="str"),
            kernel=dict(type="str"),
            kernel_sources=dict(type="path"),
            conf=dict(type="path"),
            tmpdir=dict(type="path"),
            builddir=dict(type="path"),
            extra_args=dict(type="list", elements="str", default=[]),
            allow_package_removal=dict(type="bool", default=False),
            add_kernel_support=dict(type="bool", default=False),
            firmware_update=dict(type="bool", default=False),
            state_dir=dict(type="path", default="/var/lib/iser-ofed"),
            log_dir=dict(type="path"),
            log_file=dict(type="path"),
            log_tail_lines=dict(type="int", default=40),
        ),
        supports_check_mode=True,
    )
    params = module.params
    running = running_kernel()
    params["kernel"] = params["kernel"] or running
    flavor = params["flavor"]
    bundle_version, kernel_supported = bundle_facts(module, params)
    if params["version"] and not ov.matches(params["version"], bundle_version):
        module.fail_json(msg="the bundle is version %s, which does not match the wanted version %s"
                             % (bundle_version, params["version"]))
    check_conf(module, params)
    try:
        if flavor == "ofed":
            argv = inst.classic_argv(bundle_version, params["conf"], params["kernel"], params["kernel_sources"],
                                     params["builddir"], params["tmpdir"], params["extra_args"])
        else:
            if params["builddir"]:
                raise inst.InstallerError("mlnxofedinstall has no --builddir option; use tmpdir")
            argv = inst.mlnx_argv(params["kernel"], running, params["kernel_sources"], params["tmpdir"],
                                  params["conf"], params["firmware_update"], params["allow_package_removal"],
                                  params["add_kernel_support"], kernel_supported, params["extra_args"])
    except inst.InstallerError as exc:
        module.fail_json(msg=str(exc))

    before = installed_state(module, params["kernel"])
    satisfied, reason = inst.decide(before, flavor, bundle_version, params["version"], params["kernel"],
                                    before["kernel_modules"])
    result = dict(changed=not satisfied, cmd=argv, reason=reason, installed=before, restart_required=False,
                  restart_command=None, reboot_required=False)
    if satisfied or module.check_mode:
        module.exit_json(**result)

    log_path = params["log_file"] or os.path.join(params["log_dir"] or os.path.join(params["state_dir"], "logs"),
                                                  "installer-%s.log" % time.strftime("%Y%m%dT%H%M%S"))
    try:
        os.makedirs(os.path.dirname(log_path), mode=0o750, exist_ok=True)
        rc, output = run_installer(module, argv, params["bundle_dir"], log_path)
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot run %s (log %s): %s" % (argv[0], log_path, exc), cmd=argv, log=log_path)
    lines = params["log_tail_lines"]
    explained = inst.explain(flavor, rc, output)
    result.update(rc=rc, meaning=explained["meaning"], remedy=explained["remedy"],
                  dependants=explained["dependants"], log=log_path, log_tail=inst.tail(output, lines),
                  installer_logs_dir=inst.logs_dir(output))
    if rc != 0:
        for path in inst.failed_logs(output):
            text = read_text(path)
            if text is not None:
                result["failed_log"] = {"path": path, "tail": inst.tail(text, lines)}
                break
        result["msg"] = "%s exited %s: %s. What to do: %s. Full output: %s" % (
            argv[0], rc, explained["meaning"], explained["remedy"], log_path)
        result["stdout"] = "\n".join(result["log_tail"])
        module.fail_json(**result)
    result.update(inst.after_install(output))
    result["installed"] = installed_state(module, params["kernel"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
