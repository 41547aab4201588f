#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module ``iser.ofed.scst_build_facts``."""
from __future__ import annotations

DOCUMENTATION = r"""
module: scst_build_facts
short_description: Check, before building, that iscsi-scst will build isert-scst against the intended RDMA headers
version_added: "0.1.0"
description:
  - Works out what iscsi-scst's Makefile will decide for the target kernel, the way it decides it, and whether
    that build would produce C(isert-scst) against the intended headers. Results go to
    C(ansible_facts.iser_ofed.scst_build).
  - Target kernel; C(KVER)/C(KDIR) as the Makefile derives them (C(KDIR) alone means the release in
    C($KDIR/include/config/kernel.release)); the build tree; InfiniBand enabled for that kernel
    (C(/lib/modules/<kver>/modules.symbols) lists C(ib_register_client), or C($KDIR/.config) has
    C(CONFIG_INFINIBAND=m|y)); the flavor the Makefile computes from the first line of C(/usr/bin/ofed_info);
    that flavor's devel package, header directory, C(compat-2.6.h), C(config.mk), and for MLNX_OFED whether
    C(/usr/src/ofa_kernel/default/Module.symvers) was built for the target kernel; for classic OFED whether the
    devel RPM matches the running kernel as the Makefile tests it; the compiler the kernel tree asks for,
    C(make), C(ld), C(perl).
  - C(ready) is true only when nothing blocks; each blocking problem is a C({code, msg}) item of C(reasons)
    whose message says the fix. The module itself never fails for them (use M(ansible.builtin.assert)).
  - Read-only. Runs C(/usr/bin/ofed_info), C(dpkg-query) and C(rpm) (when present) and reads files.
  - The action plugin of the same name merges the result with the other C(iser_ofed) sub-keys a host has.
options:
  target_kernel:
    description:
      - Kernel release the build is for (the Makefile's C(KVER)). Defaults to the running kernel, or, when only
        O(kdir) is given, to the release in C($KDIR/include/config/kernel.release) as the Makefile does.
    type: str
  kdir:
    description:
      - Kernel build tree (the Makefile's C(KDIR)). Defaults to C(/lib/modules/<target_kernel>/build).
    type: path
  expected_flavor:
    description:
      - The flavor the build must use, in the Makefile's spelling. C(mlnx_ofed) and C(ofed) (the collection's
        C(iser_ofed_flavor) values) are accepted for C(MOFED) and C(OFED).
      - Empty means no expectation; an in-tree build is then reported in C(warnings) only.
    type: str
    default: ""
    choices: ["", MOFED, OFED, in-tree, mlnx_ofed, ofed]
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
  - iser.ofed.attributes.facts
notes:
  - The Makefile matches classic OFED devel RPMs against the running kernel, so a classic OFED build for a
    kernel that is not running is refused (C(CLASSIC_TARGET_NOT_RUNNING)).
  - Debian's header packages write the upstream version (for example C(6.1.192)) into
    C(include/config/kernel.release) while building for C(6.1.0-56-amd64); giving O(kdir) without
    O(target_kernel) there is refused (C(KVER_MISMATCH)).
seealso:
  - module: iser.ofed.ofed_facts
  - module: iser.ofed.kernel_facts
author:
  - iser.ofed contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Check that the iscsi-scst build will see the intended headers
  iser.ofed.scst_build_facts:
    target_kernel: 6.1.0-56-amd64
    expected_flavor: MOFED

- name: Refuse to build against the wrong headers
  ansible.builtin.assert:
    that: ansible_facts.iser_ofed.scst_build.ready
    fail_msg: "{{ ansible_facts.iser_ofed.scst_build.reasons | map(attribute='msg') | join('; ') }}"

- name: Build tree given directly (KVER read from it as the Makefile does)
  iser.ofed.scst_build_facts:
    kdir: /usr/src/linux-headers-6.1.0-56-amd64
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to C(ansible_facts).
  returned: always
  type: complex
  contains:
    iser_ofed:
      description: Collection facts; this module fills the C(scst_build) sub-key (schema in C(docs/facts.md)).
      returned: always
      type: complex
      contains:
        scst_build:
          description: What the iscsi-scst build will do for the target kernel and whether it is ready.
          returned: always
          type: dict
          sample:
            kernel: "6.1.0-56-amd64"
            kernel_source: target_kernel
            kdir: /lib/modules/6.1.0-56-amd64/build
            kdir_exists: true
            kdir_kernel_release: null
            kdir_builds_for: "6.1.0-56-amd64"
            running_kernel: "6.1.0-56-amd64"
            target_is_running: true
            flavor: MOFED
            expected_flavor: MOFED
            flavor_matches: true
            ofed:
              package: mlnx-ofed-kernel-dkms
              package_manager: dpkg
              version: "5.0-OFED.5.0.2.1.8.1.g5f67178"
              mofed_major: 5
              mofed_minor: 0
              header_dir: /usr/src/ofa_kernel/default
              header_dir_exists: true
              compat_header: /usr/src/ofa_kernel/default/include/linux/compat-2.6.h
              compat_header_exists: true
              config_mk: null
              module_symvers: /usr/src/ofa_kernel/default/Module.symvers
              module_symvers_exists: true
              module_symvers_kernel: "6.1.0-50-amd64"
              module_symvers_kernel_source: default symlink
              default_link: x86_64/6.1.0-50-amd64
              default_resolved: /usr/src/ofa_kernel/x86_64/6.1.0-50-amd64
              trees: ["6.1.0-50-amd64"]
              ofed_info_first_line: "OFED-internal-5.0-2.1.8:"
              dkms_build_dir: /var/lib/dkms/mlnx-ofed-kernel/5.0/build
            infiniband:
              enabled: true
              source: modules.symbols
              modules_symbols: /lib/modules/6.1.0-56-amd64/modules.symbols
              modules_symbols_exists: true
              symbol: ib_register_client
              symbol_listed: true
              symbol_modules: [ib_core]
              symbol_module_paths: [updates/dkms/ib_core.ko]
              ofed_modules: true
              config: /lib/modules/6.1.0-56-amd64/build/.config
              config_infiniband: m
            classic: {running_kernel: "6.1.0-56-amd64", pattern: "6.1.0_56_amd64", packages: [],
                      kernel_ib_devel: false, compat_rdma_devel: false, running_kernel_match: null}
            toolchain: {gcc: /usr/bin/gcc-12, kernel_cc: gcc-12, kernel_cc_source: .kernelvariables,
                        cc: /usr/bin/gcc, make: /usr/bin/make, ld: /usr/bin/ld, perl: /usr/bin/perl}
            isert_will_build: true
            ready: false
            reasons:
              - code: MODULE_SYMVERS_WRONG_KERNEL
                msg: "Module.symvers of the wrong kernel: /usr/src/ofa_kernel/default -> x86_64/6.1.0-50-amd64
                  was built for 6.1.0-50-amd64 (default symlink), the target kernel is 6.1.0-56-amd64; build
                  mlnx-ofed-kernel for 6.1.0-56-amd64 first (dkms autoinstall -k 6.1.0-56-amd64, or rerun the
                  ofed_install stage with iser_ofed_target_kernel=6.1.0-56-amd64)"
            warnings: []
            source: "SCST-project/scst iscsi-scst/Makefile (OFED_FLAVOR), domain doc scst-makefile-detection.md"
            errors: []
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _ofed_info as oi
from ansible_collections.iser.ofed.plugins.module_utils import _scst
from ansible_collections.iser.ofed.plugins.module_utils import _scst_build as sb

ROOT = "/"  # tests point this at a constructed tree; reported paths stay the host's


def uname():
    """``(release, machine)`` of the running kernel."""
    info = os.uname()
    return info.release, info.machine


def _p(path):
    return os.path.join(ROOT, path.lstrip("/"))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            target_kernel=dict(type="str"),
            kdir=dict(type="path"),
            expected_flavor=dict(type="str", default="", choices=["", "MOFED", "OFED", "in-tree", "mlnx_ofed",
                                                                  "ofed"]),
        ),
        supports_check_mode=True,
    )
    errors = []

    def run(argv):
        try:
            return module.run_command(argv, environ_update={"LC_ALL": "C"}, handle_exceptions=False)
        except OSError as exc:  # present but not runnable
            return None, "", str(exc)

    def which(name):
        return module.get_bin_path(name)

    usr_ofed_info = _p(_scst.USR_OFED_INFO)
    usr_exists = os.path.exists(usr_ofed_info)
    first = None
    if usr_exists:
        rc, out, err = run([usr_ofed_info])
        first = oi.first_line(out)
        if rc != 0 or first is None:
            errors.append({"code": "OFED_INFO_FAILED", "msg": "%s %s: %s" % (
                _scst.USR_OFED_INFO, "could not be run" if rc is None else "exited %s" % rc,
                oi.clean_text((err or "").strip() or "no output", 300))})
    packages, manager = sb.query_packages(run, which, errors)
    release, machine = uname()
    facts = sb.assess(ROOT, release, machine, module.params["target_kernel"] or None,
                      module.params["kdir"] or None, module.params["expected_flavor"], usr_exists,
                      oi.clean_text(first) if first else None, packages, which, manager, errors)
    module.exit_json(changed=False, ansible_facts={"iser_ofed": {"scst_build": facts}})


if __name__ == "__main__":
    main()
