#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: journal
short_description: Read or record a stage of the on-host journal of the iser.ofed install pipeline
version_added: "0.2.0"
description:
  - The destructive stages of the pipeline (C(ib_unload), C(stock_purge), the install) record what they did in
    C(<state_dir>/journal.json), so a re-run resumes and C(iser.ofed.rollback) knows what to undo.
  - Each stage has one record C({stage, status, data, time}); C(status) is C(started), C(done), C(failed) or
    C(rolled_back). A C(history) list keeps every status change with its time.
  - C(operation=record) merges O(data) into the stage's record (top-level keys). The record's C(time) changes
    only when its status or data change, so recording the same thing again reports C(changed=false).
  - A stage whose status is C(rolled_back) is a closed transaction; the next record of it starts from empty
    data (so O(keep_existing) does not carry data of an undone run into a new one).
  - The journal is written atomically (temporary file, fsync, rename, fsync of the directory), mode C(0600);
    the state directory is created with mode C(0700) when missing.
  - A journal that is not valid JSON or not in this format is never overwritten; the module fails and says so.
options:
  state_dir:
    description:
      - Directory of the journal; the collection-wide C(iser_ofed_state_dir).
    type: path
    default: /var/lib/iser-ofed
  operation:
    description:
      - C(record) writes a stage record; C(read) returns the journal and changes nothing.
    type: str
    choices: [record, read]
    default: record
  stage:
    description:
      - Name of the stage, e.g. C(ib_unload) or C(stock_purge@6.1.0-50-amd64).
      - Required with O(operation=record). With O(operation=read), the module also returns this stage's record.
    type: str
  status:
    description:
      - New status of the stage. Required with O(operation=record).
    type: str
    choices: [started, done, failed, rolled_back]
  data:
    description:
      - Keys to merge into the stage's data, at the top level; a key given here replaces the recorded value.
    type: dict
    default: {}
  keep_existing:
    description:
      - Keep the recorded value of a key already present instead of replacing it. Used so a re-run of
        C(ib_unload) keeps "which services were running" from the first run, not the now-stopped state.
    type: bool
    default: false
  reset:
    description:
      - Replace the stage's data with O(data) instead of merging.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - iser.ofed.attributes
attributes:
  check_mode:
    support: full
    details: Reports what would change; writes nothing.
  diff_mode:
    support: full
    details: Before and after text of the journal.
seealso:
  - module: iser.ofed.ib_modules
  - module: iser.ofed.stock_modules
author:
  - iser.ofed contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Record which services were running (a re-run keeps the first answer)
  iser.ofed.journal:
    state_dir: "{{ iser_ofed_state_dir }}"
    stage: ib_unload
    status: started
    data:
      kernel: "{{ ansible_facts.iser_ofed.kernel.running }}"
      services_running: [opensmd, openibd]
    keep_existing: true

- name: Read the journal
  iser.ofed.journal:
    state_dir: "{{ iser_ofed_state_dir }}"
    operation: read
    stage: ib_unload
  register: journal

- name: Show the status of ib_unload
  ansible.builtin.debug:
    msg: "{{ journal.record.status | default('never run') }}"
"""

RETURN = r"""
path:
  description: Path of the journal file.
  returned: always
  type: str
  sample: /var/lib/iser-ofed/journal.json
exists:
  description: Whether the journal file existed before this task.
  returned: always
  type: bool
  sample: true
journal:
  description: The journal after the operation (in check mode, as it would be).
  returned: always
  type: dict
  sample:
    version: 1
    stages:
      ib_unload:
        stage: ib_unload
        status: done
        time: "2025-01-31T10:12:03Z"
        data: {kernel: 6.1.0-50-amd64, services_running: [opensmd, openibd],
               masked_units: [rdma-load-modules@rdma.service], unloaded: [ib_isert, rdma_cm, ib_core]}
    history:
      - {stage: ib_unload, status: started, time: "2025-01-31T10:11:58Z"}
      - {stage: ib_unload, status: done, time: "2025-01-31T10:12:03Z"}
record:
  description: The record of O(stage) after the operation; null when the stage has none or no stage was given.
  returned: always
  type: dict
  sample: {stage: ib_unload, status: done, time: "2025-01-31T10:12:03Z",
           data: {kernel: 6.1.0-50-amd64, services_running: [opensmd, openibd]}}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils._journal import (
    JournalError, apply_record, dump_journal, journal_path, load_journal, utc_now, write_journal)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state_dir=dict(type="path", default="/var/lib/iser-ofed"),
            operation=dict(type="str", choices=["record", "read"], default="record"),
            stage=dict(type="str"),
            status=dict(type="str", choices=["started", "done", "failed", "rolled_back"]),
            data=dict(type="dict", default={}),
            keep_existing=dict(type="bool", default=False),
            reset=dict(type="bool", default=False),
        ),
        required_if=[("operation", "record", ("stage", "status"))],
        supports_check_mode=True,
    )
    params = module.params
    state_dir = params["state_dir"]
    if not state_dir or not state_dir.startswith("/") or state_dir.rstrip("/") == "":
        module.fail_json(msg="state_dir is %r: give an absolute directory such as /var/lib/iser-ofed" % state_dir)
    path = journal_path(state_dir)
    exists = False
    try:
        exists = os.path.exists(path)
        before = load_journal(state_dir)
    except JournalError as exc:
        module.fail_json(msg=str(exc), path=path)

    stage = params["stage"]
    result = dict(changed=False, path=path, exists=exists, journal=before,
                  record=before["stages"].get(stage) if stage else None)
    if params["operation"] == "read":
        module.exit_json(**result)

    try:
        after, changed = apply_record(before, stage, params["status"], params["data"], utc_now(),
                                      keep_existing=params["keep_existing"], reset=params["reset"])
    except (ValueError, TypeError) as exc:
        module.fail_json(msg=str(exc), path=path)
    result.update(changed=changed, journal=after, record=after["stages"].get(stage))
    if changed and module._diff:
        result["diff"] = {"before": dump_journal(before) if exists else "", "after": dump_journal(after),
                          "before_header": path, "after_header": path}
    if changed and not module.check_mode:
        try:
            write_journal(state_dir, after)
        except OSError as exc:
            module.fail_json(msg="cannot write %s: %s" % (path, exc), path=path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
