#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module ``iser.ofed.ofed_facts``."""
from __future__ import annotations

DOCUMENTATION = r"""
module: ofed_facts
short_description: Report the OFED / MLNX_OFED stack, RDMA hardware and what iscsi-scst's build will use
version_added: "0.1.0"
description:
  - Reads C(ofed_info) (bare, C(-s), C(-n)), C(/etc/infiniband/info), C(/etc/mlnx-release), the C(dpkg-query)
    and C(rpm) package databases (both, when both exist), the OFED header directories under C(/usr/src),
    Mellanox/NVIDIA PCI functions (vendor C(0x15b3)) and firmware from sysfs, and RDMA service state.
  - Computes C(scst_build_flavor) exactly as iscsi-scst's Makefile does (C(MOFED), C(OFED), C(in-tree), or
    an empty string) and whether that build would find the headers it needs (C(scst_build)).
  - Returns everything under C(ansible_facts.iser_ofed.ofed); soft problems (missing tools, garbage output,
    unreadable files) are listed in C(errors) and never fail the module.
  - Changes nothing on the host.
options:
  target_kernel:
    description:
      - Kernel release the iSER module will be built for. Defaults to the running kernel (C(uname -r)).
      - iscsi-scst's Makefile matches classic OFED devel RPMs against the running kernel whatever this is;
        C(scst_build.reasons) says so when they differ.
    type: str
  ofed_info_path:
    description:
      - Path of C(ofed_info). When it does not exist and C(/etc/infiniband/info) names another prefix,
        C(<prefix>/bin/ofed_info) is used. C(scst_build_flavor) always looks at C(/usr/bin/ofed_info) only,
        as the Makefile does.
    type: path
    default: /usr/bin/ofed_info
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
  - iser.ofed.attributes.facts
author:
  - iser.ofed maintainers (!UNKNOWN)
notes:
  - Hardware names and the C(dropped_after) note (ConnectX-3, ConnectX-3 Pro, Connect-IB last supported by
    MLNX_OFED 4.9 LTS) come from a built-in table; unknown device ids are reported with C(name=null).
"""

EXAMPLES = r"""
- name: Gather OFED facts
  iser.ofed.ofed_facts:

- name: Gather OFED facts for a kernel that is installed but not booted yet
  iser.ofed.ofed_facts:
    target_kernel: 6.1.0-50-amd64

- name: Refuse to build iSER against the wrong headers
  ansible.builtin.assert:
    that:
      - ansible_facts.iser_ofed.ofed.scst_build.ready
    fail_msg: "{{ ansible_facts.iser_ofed.ofed.scst_build.reasons | join('; ') }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: complex
  contains:
    iser_ofed:
      description: Collection facts; this module fills the C(ofed) sub-key (see docs/facts.md).
      returned: always
      type: complex
      contains:
        ofed:
          description:
            - C(installed), C(flavor) (C(mlnx_ofed), C(ofed) or null), C(version), C(version_source).
            - C(ofed_info) (path, present, prefix, first_line, kind, version, numeric, makefile_first_line).
            - C(ofed_scripts), C(packages), C(devel), C(header_dirs), C(hardware), C(services),
              C(scst_build_flavor), C(scst_build), C(target_kernel), C(running_kernel), C(errors).
          returned: always
          type: dict
          sample:
            installed: true
            flavor: mlnx_ofed
            version: "5.0-2.1.8"
            version_source: ofed_info -s
            running_kernel: "5.4.0-26-generic"
            target_kernel: "5.4.0-26-generic"
            mlnx_release: null
            ofed_info:
              path: /usr/bin/ofed_info
              present: true
              prefix: /usr
              first_line: "OFED-internal-5.0-2.1.8:"
              kind: ofed_internal
              version: "5.0-2.1.8"
              base_version: null
              numeric: "5.0-2.1.8"
            ofed_scripts: {installed: true, version: "5.0-OFED.5.0.2.1.8", manager: dpkg, managers: [dpkg]}
            packages:
              - {name: mlnx-ofed-kernel-utils, version: "5.0-OFED.5.0.2.1.8.1.g5f67178", status: ii,
                 installed: true, manager: dpkg}
              - {name: ofed-scripts, version: "5.0-OFED.5.0.2.1.8", status: ii, installed: true, manager: dpkg}
            devel:
              mofed_deb: null
              mofed_rpm: null
              kernel_ib_devel: null
              compat_rdma_devel: null
            header_dirs:
              /usr/src/ofa_kernel/default: {exists: false, include: false, compat_h: false,
                                            module_symvers: false, config_mk: false}
            hardware:
              - {slot: "0000:03:00.0", vendor: "15b3", device: "1017", class: "020000", name: ConnectX-5,
                 virtual_function: false, driver: mlx5_core, ib_device: mlx5_0, firmware: "16.28.1002",
                 dropped_after: null}
            services:
              openibd: {unit: openibd.service, present: true, kind: systemd+sysv, load_state: loaded,
                        active_state: active, unit_file_state: enabled, active: true,
                        initd: /etc/init.d/openibd}
            systemd: true
            scst_build_flavor: MOFED
            scst_build:
              flavor: MOFED
              ready: false
              reasons:
                - "MLNX OFED has not been installed: none of mlnx-ofed-kernel-dkms, mlnx-ofed-kernel-modules
                  (DEB), mlnx-ofa_kernel-devel, kernel-ib-devel (RPM) is installed"
              header_dir: /usr/src/ofa_kernel/default
              version: null
            errors: []
"""

import os
import platform

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _ib_hardware as hw
from ansible_collections.iser.ofed.plugins.module_utils import _ofed_info as oi
from ansible_collections.iser.ofed.plugins.module_utils import _pkgquery as pq
from ansible_collections.iser.ofed.plugins.module_utils import _scst
from ansible_collections.iser.ofed.plugins.module_utils import _services as svc

INFO_FILE = "/etc/infiniband/info"
MLNX_RELEASE = "/etc/mlnx-release"
ROOT = "/"  # tests point this at a constructed tree; reported paths stay the logical ones


def _p(path):
    """``path`` (absolute, as reported) under ROOT (what is opened or run)."""
    return os.path.join(ROOT, path.lstrip("/"))


def _exists(path):
    return os.path.exists(_p(path))


def uname_release():
    return platform.release()


def _read_file(path, errors):
    """Text of ``path``; None when absent; FILE_UNREADABLE in ``errors`` when it exists but cannot be read."""
    if not _exists(path):
        return None
    try:
        with open(_p(path), encoding="utf-8", errors="replace") as handle:
            return handle.read(65536)
    except OSError as exc:
        errors.append({"code": "FILE_UNREADABLE", "msg": "%s: %s" % (path, exc.strerror or exc)})
        return None


def _run(module, argv):
    """(rc, stdout, stderr); an OSError (not executable, vanished) becomes rc=None with the message."""
    try:
        return module.run_command(argv, environ_update={"LC_ALL": "C"}, handle_exceptions=False)
    except OSError as exc:
        return None, "", str(exc)


def _ofed_info(module, path, errors):
    """Run ofed_info bare and with -s (and -n for MLNX); return the ofed_info fact and the classification."""
    fact = {"path": path, "present": _exists(path), "first_line": None, "kind": None, "version": None,
            "base_version": None, "numeric": None}
    cls = {"kind": None}
    if not fact["present"]:
        return fact, cls, None
    rc, bare, err = _run(module, [_p(path)])
    bare_line = oi.first_line(bare)
    rc_s, out_s, err_s = _run(module, [_p(path), "-s"])
    for used, out, code in (("ofed_info -s", out_s, rc_s), ("ofed_info", bare, rc)):
        line = oi.first_line(out)
        if code == 0 and line:
            cls = dict(oi.classify_first_line(line), source=used)
            if cls["kind"]:
                fact["first_line"] = oi.clean_text(line)
                break
    if cls["kind"] is None:
        line = bare_line if bare_line else oi.first_line(out_s)
        fact["first_line"] = oi.clean_text(line)
        if rc != 0 and rc_s != 0:
            how = "could not be run" if rc is None else "exited %s" % rc
            errors.append({"code": "OFED_INFO_FAILED", "msg": "%s %s: %s"
                           % (path, how, oi.clean_text((err or err_s or "").strip(), 300))})
        elif not (bare or "").strip() and not (out_s or "").strip():
            errors.append({"code": "OFED_INFO_FAILED", "msg": "%s printed nothing" % path})
        elif oi.looks_binary(bare or out_s or ""):
            errors.append({"code": "OFED_INFO_UNPARSEABLE", "msg": "%s printed binary data" % path})
        else:
            errors.append({"code": "OFED_INFO_UNPARSEABLE", "msg": "first line of %s is none of the known "
                           "formats: %r" % (path, fact["first_line"])})
        return fact, cls, bare_line
    fact.update(kind=cls["kind"], version=cls["version"], base_version=cls["base_version"])
    if not fact["base_version"]:  # "MLNX_OFED_LINUX-X (OFED-Y):" is only on the listing's first line
        fact["base_version"] = oi.classify_first_line(bare_line)["base_version"]
    if cls["flavor"] == "mlnx_ofed":
        rc_n, out_n, _err = _run(module, [_p(path), "-n"])
        fact["numeric"] = oi.parse_numeric(out_n) if rc_n == 0 else None
    return fact, cls, bare_line


def _packages(module, errors):
    packages = []
    for tool, argv, parser in (("dpkg-query", pq.dpkg_argv(), pq.parse_dpkg_query),
                               ("rpm", pq.rpm_argv(), pq.parse_rpm_query)):
        binary = module.get_bin_path(tool)
        if not binary:
            continue  # that package manager is not here: normal
        rc, out, err = _run(module, [binary] + argv[1:])
        found, problem = parser(rc if rc is not None else -1, out, err)
        packages.extend(found)
        if problem:
            errors.append({"code": "PKG_QUERY_FAILED", "msg": oi.clean_text(problem, 600)})
    return packages


def _services(module, errors):
    if not svc.systemd_booted(ROOT):
        return svc.build_services(None, ROOT), False
    binary = module.get_bin_path("systemctl")
    if not binary:
        return svc.build_services(None, ROOT), False
    argv = svc.systemctl_argv([unit for _key, unit, _script in svc.SERVICES])
    rc, out, err = _run(module, [binary] + argv[1:])
    if rc != 0:
        errors.append({"code": "SERVICE_QUERY_FAILED", "msg": "systemctl show exited %s: %s"
                       % (rc, oi.clean_text((err or "").strip(), 300))})
        return svc.build_services(None, ROOT), True
    return svc.build_services(svc.parse_systemctl_show(out), ROOT), True


def _summary(pkg):
    if not pkg:
        return None
    return {"name": pkg["name"], "version": pkg.get("version"), "manager": pkg["manager"]}


def gather(module, target_kernel=None, ofed_info_path=_scst.USR_OFED_INFO):
    errors = []
    running = uname_release()
    info_text = _read_file(INFO_FILE, errors)
    prefix = oi.parse_infiniband_info(info_text) if info_text is not None else None
    path = ofed_info_path
    if not _exists(path) and prefix and _exists(os.path.join(prefix, "bin", "ofed_info")):
        path = os.path.join(prefix, "bin", "ofed_info")
    info_fact, cls, bare_line = _ofed_info(module, path, errors)
    info_fact["prefix"] = prefix
    usr_exists = _exists(_scst.USR_OFED_INFO)
    if path == _scst.USR_OFED_INFO:
        usr_line = bare_line
    elif usr_exists:
        usr_line = oi.first_line(_run(module, [_p(_scst.USR_OFED_INFO)])[1])
    else:
        usr_line = None
    info_fact["makefile_first_line"] = oi.clean_text(usr_line)

    mlnx_release = oi.parse_mlnx_release(_read_file(MLNX_RELEASE, errors) or "")
    packages = _packages(module, errors)
    stack = oi.decide_stack(cls, packages, mlnx_release)

    scripts = [p for p in packages if p["name"] == "ofed-scripts" and p.get("installed")]
    hardware, hw_errors = hw.scan(_p("/sys"))
    errors.extend(hw_errors)
    services, systemd = _services(module, errors)
    target = target_kernel or running
    build = _scst.compute(usr_exists, usr_line, packages, running, target, exists=_exists)
    if path != _scst.USR_OFED_INFO and info_fact["present"]:
        build["reasons"].append("ofed_info is at %s; the Makefile reads only %s" % (path, _scst.USR_OFED_INFO))
    facts = dict(stack)
    facts.update({
        "running_kernel": running,
        "target_kernel": target,
        "ofed_info": info_fact,
        "mlnx_release": oi.clean_text(mlnx_release),
        "ofed_scripts": {
            "installed": bool(scripts),
            "version": scripts[0]["version"] if scripts else None,
            "manager": scripts[0]["manager"] if scripts else None,
            "managers": [p["manager"] for p in scripts],
        },
        "packages": packages,
        "devel": {
            "mofed_deb": _summary(pq.find(packages, "mlnx-ofed-kernel-dkms", "dpkg")
                                  or pq.find(packages, "mlnx-ofed-kernel-modules", "dpkg")),
            "mofed_rpm": _summary(pq.find(packages, "mlnx-ofa_kernel-devel", "rpm")),
            "kernel_ib_devel": _summary(pq.find(packages, "kernel-ib-devel", "rpm")),
            "compat_rdma_devel": _summary(pq.find(packages, "compat-rdma-devel", "rpm")),
        },
        "header_dirs": _scst.header_dir_facts(_exists),
        "hardware": hardware,
        "hardware_dropped": [d["slot"] for d in hw.legacy_devices(hardware)],
        "services": services,
        "systemd": systemd,
        "scst_build_flavor": build["flavor"],
        "scst_build": build,
        "errors": errors,
    })
    return facts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            target_kernel=dict(type="str"),
            ofed_info_path=dict(type="path", default=_scst.USR_OFED_INFO),
        ),
        supports_check_mode=True,
    )
    facts = gather(module, module.params["target_kernel"], module.params["ofed_info_path"])
    module.exit_json(changed=False, ansible_facts={"iser_ofed": {"ofed": facts}})


if __name__ == "__main__":
    main()
