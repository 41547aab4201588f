#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module ``iser.ofed.ofed_bundle_iso``."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ofed_bundle_iso
short_description: Turn an OFED or MLNX_OFED ISO image into the bundle's .tgz, without mounting it
version_added: "0.1.0"
description:
  - Reads an ISO 9660 bundle image (C(MLNX_OFED_LINUX-<ver>-<distro>-<arch>.iso), the bundle tree at the image's
    root, with Rock Ridge) with the pure-Python C(pycdlib), without mounting it (containers and many controllers
    cannot loop-mount), and writes C(<dest>/iso-<sha256 of the image>/<bundle name>.tgz), whose top directory
    is the bundle's name, as the vendor's C(.tgz) has it. The rest of the collection stages and unpacks that
    C(.tgz) like any bundle archive.
  - File modes (C(mlnxofedinstall) and the scripts stay executable) and symlinks come from the image's Rock Ridge
    records; owners are root; times are the image's. The same image always gives the same bytes.
  - The archive is keyed by the image's sha256. When it is already there, nothing is converted (C(changed=false)).
    A new archive is written under a temporary name and renamed, so an interrupted run leaves nothing that looks
    done.
  - Refused with the reason and the fix - an image shorter than it declares (truncated download), a corrupt image,
    an image without Rock Ridge, an image without a bundle (none of C(.mlnx), C(BUILD_ID),
    C(docs/OFED_release_notes.txt), C(mlnxofedinstall), C(install.pl) at its root or one directory down),
    C(pycdlib) missing.
  - Runs on the controller, in the Python that runs Ansible (an action plugin), where C(iser.ofed.validate) runs it
    once for the fleet; O(src) and O(dest) are controller paths whatever host the task is for, and the interpreter
    set for localhost (C(ansible_python_interpreter)) does not matter.
author:
  - iser.ofed contributors (!UNKNOWN)
requirements:
  - pycdlib (Python package, on the controller; tested with 1.22.0)
options:
  src:
    description:
      - The ISO image, on the controller.
    type: path
    required: true
  dest:
    description:
      - Directory the converted archive is written under (in C(iso-<sha256>/)); made when missing.
    type: path
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - iser.ofed.attributes
attributes:
  check_mode:
    support: full
    details: Reads the image and says whether an archive would be written; writes nothing.
  diff_mode:
    support: full
    details: The archive's path, absent before a conversion.
  action:
    support: full
    details: The conversion runs on the controller.
  async:
    support: none
  bypass_host_loop:
    support: none
seealso:
  - module: iser.ofed.ofed_release_check
"""

EXAMPLES = r"""
- name: Convert the MLNX_OFED ISO in the controller cache
  iser.ofed.ofed_bundle_iso:
    src: /srv/ofed/MLNX_OFED_LINUX-5.8-3.0.7.0-ubuntu22.04-x86_64.iso
    dest: ~/.cache/iser-ofed/bundles
  run_once: true
  register: iser_ofed_iso

- name: Copy the converted bundle to the host
  ansible.builtin.copy:
    src: "{{ iser_ofed_iso.archive }}"
    dest: "/var/lib/iser-ofed/bundles/{{ iser_ofed_iso.archive | basename }}"
    mode: "0644"
"""

RETURN = r"""
archive:
  description: The converted archive (present after a real run; the path it would have in check mode).
  returned: success
  type: str
  sample: /root/.cache/iser-ofed/bundles/iso-3f1c.../MLNX_OFED_LINUX-5.8-3.0.7.0-ubuntu22.04-x86_64.tgz
root:
  description: The archive's top directory, the bundle's name (the image's file name without C(.iso), or the
    bundle's directory when the image holds it one level down).
  returned: success
  type: str
  sample: MLNX_OFED_LINUX-5.8-3.0.7.0-ubuntu22.04-x86_64
iso_sha256:
  description: sha256 of the image (the cache key).
  returned: success
  type: str
sha256:
  description: sha256 of the archive; null in check mode when it is not there yet.
  returned: success
  type: str
members:
  description: Number of archive members written; null when nothing was written.
  returned: success
  type: int
  sample: 36
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _bundle
from ansible_collections.iser.ofed.plugins.module_utils import _iso


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path", required=True),
            dest=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    result = _iso.run(module.params["src"], module.params["dest"], _bundle.find_root, check_mode=module.check_mode)
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
