#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module ``iser.ofed.ofed_release_check``."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ofed_release_check
short_description: Check that an OFED or MLNX_OFED bundle supports a kernel, distro and architecture
version_added: "0.1.0"
description:
  - Reads an OFED (OpenFabrics) or MLNX_OFED bundle, an unpacked directory, a C(.tgz)/C(.tar.gz)/C(.tar) archive
    (read member by member with Python's C(tarfile); nothing is extracted) or an C(.iso) image, and says whether
    it supports the target kernel, distro and CPU architecture, with the matching evidence or the reason it does
    not.
  - "Classic OFED: section C(1.2 Supported Platforms and Operating Systems) of C(docs/OFED_release_notes.txt)
    (OFED 1.3 to 4.17 formats). A kernel matches a row C(exact)ly when it equals the row's kernel, also once a
    flavour or architecture suffix (C(.ELsmp), C(-smp), C(-default), C(-generic), C(.x86_64)...) is removed
    from both; it matches in C(series) when it has the same upstream version, the same distro tag (C(el6)) and
    the same build prefix (the first release field, or the first two when the first is C(0) as on SUSE), so
    C(2.6.32-220.4.1.el6) is in the series of C(2.6.32-220.el6); it matches C(kernelorg_range) when its upstream
    C(major.minor[.patch]) falls in the C(kernel.org) row (single version, list, or range). Rows marked C(*) had
    minimal QA only (C(minimal_qa=true)). The release comes from C(BUILD_ID) (first line C(OFED-1.5) or
    C(OFED-3.5:)), else from the release notes header. The distro only breaks ties between rows and is reported
    in C(distro_ok); it does not make a classic bundle unsupported, as C(install.pl) does not refuse a distro."
  - "MLNX_OFED: C(.mlnx) (version), C(.arch) and C(distro). The bundle's C(distro) must equal the target's
    (unless it reads C(skip-distro-check)) and C(.arch) must equal the target architecture, as
    C(mlnxofedinstall) requires. DEB bundles support a kernel through a prebuilt C(mlnx-ofed-kernel-modules*)
    or C(mlnx-en-modules*) package for it (from C(DEBS/**/Packages) or the C(.deb) file names), or through DKMS
    (C(mlnx-ofed-kernel-dkms)), which needs the kernel headers. RPM bundles through C(.supported_kernels) /
    C(supported_kernels) or C(mlnx-ofa_kernel-modules-*<kver with - as _>*) RPMs (tested on constructed data
    only: no real RPM bundle was available)."
  - An unsupported target fails with the kernel, the release, the nearest supported kernels and a remedy,
    unless O(allow_unsupported=true), which turns the failure into a warning.
  - "The module reads the bundle on the host it runs on. To check a bundle kept on the controller, run it with
    C(delegate_to: localhost) and pass the target host's facts (O(kernel), O(distribution),
    O(distribution_version), O(arch)) explicitly."
  - "An ISO 9660 image (C(.iso), as MLNX_OFED is also published) is read without mounting it, through its Rock
    Ridge names, with the Python package C(pycdlib), which must be installed where the module runs (the controller,
    with C(delegate_to: localhost)); without it the module fails naming the package and the fix."
author:
  - iser.ofed contributors (!UNKNOWN)
options:
  bundle:
    description:
      - Path of the bundle, on the host the module runs on. A directory (the unpacked bundle or a directory
        holding it one level down), a tar archive (C(.tgz), C(.tar.gz), C(.tar), C(.tar.xz), C(.tar.bz2)) or an
        ISO 9660 image (C(.iso)).
    type: path
    required: true
  kernel:
    description:
      - Target kernel release as C(uname -r) prints it, for example C(5.4.0-26-generic) or C(2.6.18-164.el5).
    type: str
    required: true
  distro:
    description:
      - Target distro in MLNX_OFED spelling (lower-case ID and version, for example C(ubuntu20.04), C(rhel7.6),
        C(sles12sp3), C(debian10.0)).
      - Mutually exclusive with O(distribution). When neither is given the MLNX_OFED distro check fails.
    type: str
  distribution:
    description:
      - Target distribution name as Ansible facts spell it (C(ansible_facts.distribution), for example
        C(Ubuntu), C(RedHat), C(CentOS), C(SLES), C(Debian)). Converted to the MLNX_OFED spelling with
        O(distribution_version); RHEL rebuilds (CentOS, Rocky, AlmaLinux) map to C(rhel).
    type: str
  distribution_version:
    description:
      - Target distribution version (C(ansible_facts.distribution_version), for example C(20.04), C(7.6), C(12.3)).
    type: str
  arch:
    description:
      - Target CPU architecture (C(ansible_facts.architecture)); C(amd64) and C(arm64) are accepted as aliases.
      - Defaults to the architecture of the host the module runs on.
    type: str
  headers_present:
    description:
      - Whether the target kernel's headers (C(/lib/modules/<kernel>/build)) are installed, as the role reads
        from C(iser_ofed.kernel.build_dir_exists). Only used when MLNX_OFED support relies on DKMS.
      - When omitted, DKMS support is reported as supported, with a reason saying the headers are needed.
    type: bool
  allow_unsupported:
    description:
      - Return normally with RV(supported=false) and a warning instead of failing.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - iser.ofed.attributes
attributes:
  check_mode:
    support: full
    details: The module only reads the bundle.
  diff_mode:
    support: none
notes:
  - Read-only; never changes the host.
seealso:
  - module: iser.ofed.ofed_facts
"""

EXAMPLES = r"""
- name: Check the staged MLNX_OFED bundle against the target kernel (on the host)
  iser.ofed.ofed_release_check:
    bundle: /var/lib/iser-ofed/MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64.tgz
    kernel: "{{ ansible_facts.iser_ofed.kernel.target }}"
    distribution: "{{ ansible_facts.distribution }}"
    distribution_version: "{{ ansible_facts.distribution_version }}"
    arch: "{{ ansible_facts.architecture }}"
    headers_present: "{{ ansible_facts.iser_ofed.kernel.build_dir_exists }}"
  register: iser_ofed_release

- name: Check a classic OFED tarball kept on the controller, for each host
  iser.ofed.ofed_release_check:
    bundle: "{{ playbook_dir }}/files/OFED-1.5.4.1.tgz"
    kernel: "{{ ansible_facts.kernel }}"
    distro: rhel6.2
    arch: "{{ ansible_facts.architecture }}"
  delegate_to: localhost

- name: Report instead of failing on an unsupported kernel
  iser.ofed.ofed_release_check:
    bundle: /srv/ofed/OFED-3.5
    kernel: 3.0.13-0.27-default
    distro: sles11sp2
    allow_unsupported: true
  register: iser_ofed_release_report
"""

RETURN = r"""
supported:
  description: Whether the bundle supports the target (kernel, and for MLNX_OFED also distro and arch).
  returned: success
  type: bool
  sample: true
match:
  description:
    - How the kernel matched. V(exact), V(series), V(kernelorg_range) (classic OFED);
      V(kernel_modules_package), V(dkms), V(supported_kernels) (MLNX_OFED); V(none).
  returned: success
  type: str
  sample: exact
minimal_qa:
  description: The matching release-notes row is marked C(*) (minimal QA only). Always false for MLNX_OFED.
  returned: success
  type: bool
  sample: false
row:
  description:
    - The evidence. Classic OFED, the release-notes row (C(distro_name), C(kernel), C(minimal_qa), C(raw_line),
      C(notes), C(beta), C(kernelorg)). MLNX_OFED, C(package) and C(packaging) (deb or rpm). Null when none matched.
  returned: success
  type: dict
  sample: {distro_name: RedHat EL5 up4, kernel: 2.6.18-164.el5, minimal_qa: false,
           raw_line: "\t- RedHat EL5 up4\t2.6.18-164.el5", notes: [], beta: false, kernelorg: null}
reason:
  description: One sentence saying why the target is, or is not, supported.
  returned: success
  type: str
  sample: kernel 2.6.18-164.el5 is listed for RedHat EL5 up4 in docs/OFED_release_notes.txt
release:
  description: The bundle's release.
  returned: success
  type: dict
  contains:
    flavor:
      description: V(mlnx_ofed) or V(ofed).
      type: str
    version:
      description: Version from C(.mlnx), C(BUILD_ID) or the release notes header.
      type: str
    source:
      description: Where the version was read.
      type: str
    name:
      description: Display name.
      type: str
  sample: {flavor: ofed, version: "1.5", source: BUILD_ID, name: OFED-1.5}
nearest:
  description: The supported kernels closest to the target, closest first (at most five; empty on an exact match).
  returned: success
  type: list
  elements: str
  sample: ["2.6.18-164.el5", "2.6.18-128.el5", "2.6.16.60-0.54-smp"]
distro_ok:
  description: The target distro is the bundle's (MLNX_OFED), or the matching row's (classic OFED, informational).
  returned: success
  type: bool
  sample: true
arch_ok:
  description: The target architecture is the bundle's C(.arch) (MLNX_OFED) or listed in the release notes (classic).
  returned: success
  type: bool
  sample: true
bundle_distro:
  description: Content of the MLNX_OFED C(distro) file; null for classic OFED.
  returned: success
  type: str
  sample: ubuntu20.04
bundle_arch:
  description: Architectures the bundle is for.
  returned: success
  type: list
  elements: str
  sample: [x86_64]
bundle:
  description: Where the bundle was read (C(kind) is V(directory), V(archive) or V(iso); C(root) the bundle's directory
    inside).
  returned: success
  type: dict
  sample: {path: /srv/MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64.tgz, kind: archive,
           root: MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64}
target:
  description: The target as checked (kernel, distro in MLNX_OFED spelling, arch).
  returned: success
  type: dict
  sample: {kernel: 5.4.0-26-generic, distro: ubuntu20.04, arch: x86_64}
"""

import platform

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _bundle
from ansible_collections.iser.ofed.plugins.module_utils import _mlnx_bundle
from ansible_collections.iser.ofed.plugins.module_utils import _release_check


def host_arch() -> str:
    """The architecture of the host the module runs on (thin wrapper, replaced in tests)."""
    return platform.machine()


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            bundle=dict(type="path", required=True),
            kernel=dict(type="str", required=True),
            distro=dict(type="str"),
            distribution=dict(type="str"),
            distribution_version=dict(type="str"),
            arch=dict(type="str"),
            headers_present=dict(type="bool"),
            allow_unsupported=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("distro", "distribution")],
        required_together=[("distribution", "distribution_version")],
        supports_check_mode=True,
    )
    params = module.params
    distro = params["distro"]
    try:
        if distro is None and params["distribution"]:
            distro = _mlnx_bundle.mlnx_distro_id(params["distribution"], params["distribution_version"])
        arch = params["arch"] or host_arch()
        bundle = _bundle.read_bundle(params["bundle"])
        result = _release_check.check(bundle, params["kernel"], distro, arch, params["headers_present"])
    except (_bundle.BundleError, _release_check.CheckError, _mlnx_bundle.MlnxBundleError) as exc:
        module.fail_json(msg=str(exc), bundle=params["bundle"], kernel=params["kernel"])

    if not result["supported"]:
        message = _release_check.failure_message(result)
        if not params["allow_unsupported"]:
            module.fail_json(msg=message, **result)
        module.warn(message)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
