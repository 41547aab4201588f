#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: site_report
short_description: Write the iser.ofed site playbook's fleet report on the controller
version_added: "0.3.0"
description:
  - Writes one C(<host>.site.json) per host record (hosts C(not_reached) get none), C(site-report.md) and
    C(site-report.html) into O(dir) on the controller, creating O(dir) (mode 0755; files 0644). A file that
    already holds what would be written is left alone, so a second identical report reports no change.
  - Runs entirely in the action plugin, in the controller's process (no module is executed). The site
    playbook writes the report after every batch, and one C(copy) per host made that most of a converged
    run's time.
options:
  dir:
    description: The absolute report directory on the controller (C(iser_ofed_site_report_dir), resolved).
    type: path
    required: true
  records:
    description: The host records, as the C(iser.ofed.site_fleet) filter returns them.
    type: list
    elements: dict
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - iser.ofed.attributes
attributes:
  action:
    support: full
    details: The report is written on the controller, by the action plugin.
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Writes nothing and reports no change (the site playbook runs it with C(check_mode=false)).
  diff_mode:
    support: none
seealso:
  - module: iser.ofed.site_state
author:
  - iser.ofed contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Write the fleet report
  iser.ofed.site_report:
    dir: /srv/reports/iser-ofed
    records: "{{ ansible_play_hosts_all | map('extract', hostvars) | selectattr('site_record', 'defined')
                 | map(attribute='site_record') | list | iser.ofed.site_fleet(ansible_play_hosts_all) }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
dir:
  description: The report directory.
  returned: always
  type: str
  sample: /srv/reports/iser-ofed
files:
  description: The report's file names.
  returned: always
  type: list
  elements: str
  sample: [host1.site.json, site-report.html, site-report.md]
written:
  description: The files whose content changed (written now).
  returned: always
  type: list
  elements: str
  sample: [site-report.md]
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(dir=dict(type="path", required=True),
                                              records=dict(type="list", elements="dict", required=True)),
                           supports_check_mode=True)
    module.fail_json(msg="iser.ofed.site_report runs on the controller through its action plugin only")


if __name__ == "__main__":
    main()
