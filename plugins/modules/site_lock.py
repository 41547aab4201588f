#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: site_lock
short_description: Take or release the per-host run lock of the iser.ofed site playbook
version_added: "0.3.0"
description:
  - One C(site) run at a time per host, whether started from the command line or from AWX/Tower. The lock is
    the file C(<state_dir>/site.lock), created with C(O_CREAT|O_EXCL), holding the run id, owner, node, pid
    and start time.
  - O(state=present) takes the lock for O(run_id). A lock already held by the same run id changes nothing.
    A lock held by another run makes the module fail with a message naming the holder (and returns that lock
    as RV(held)), unless that lock is stale (its process on this host is gone, its controller process was found
    gone (O(holder_gone)), it is older than O(stale_after) seconds, or it is not a lock file at all) or
    O(break_lock=true); then it is taken over and the answer says whose lock was replaced.
  - O(state=absent) removes the lock when O(run_id) holds it; another run's lock is left in place.
options:
  state_dir:
    description:
      - Directory of the lock (and of the journal); the collection-wide C(iser_ofed_state_dir).
    type: path
    default: /var/lib/iser-ofed
  state:
    description:
      - C(present) takes the lock, C(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  run_id:
    description:
      - Identifier of this run, the same for every host of the run (the site playbook makes one per run).
    type: str
    required: true
  owner:
    description:
      - Who runs, for the refusal message of another run, e.g. C(alice@controller) or C(awx job 42).
    type: str
    default: ""
  pid:
    description:
      - Pid of the process on this host that holds the lock; C(0) when the holder is a controller (the
        site playbook's case, see O(controller) and O(holder_gone)).
    type: int
    default: 0
  controller:
    description:
      - The controller process of this run, recorded in the lock so that a later run from the same
        controller can tell whether this one is gone (the site playbook gives the C(iser.ofed.site_controller)
        filter's answer). Keys C(node), C(boot_id), C(pid) (the C(ansible-playbook) process), C(pid_start),
        C(job) (the AWX/Tower job, if any).
    type: dict
  holder_gone:
    description:
      - The run whose lock may be taken over because its controller process is known to be gone, as the
        C(iser.ofed.site_lock_holder_gone) filter found on the controller. Counts only while the lock still
        belongs to that run id.
    type: dict
    suboptions:
      run_id:
        description:
          - Run id of the lock judged gone.
        type: str
        required: true
      reason:
        description:
          - Why it is gone, for the message and the answer's RV(taken_over).
        type: str
        default: its controller process is gone
  stale_after:
    description:
      - Age in seconds after which a lock counts as stale and is taken over; C(0) never.
    type: int
    default: 86400
  break_lock:
    description:
      - Take the lock even when another run holds it. Only when that run is known to be gone.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - iser.ofed.attributes
attributes:
  check_mode:
    support: full
    details: Reports whether the lock would be taken or released (a held lock still refuses); writes nothing.
  diff_mode:
    support: none
seealso:
  - module: iser.ofed.journal
author:
  - iser.ofed contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Take the run lock
  iser.ofed.site_lock:
    state_dir: /var/lib/iser-ofed
    run_id: "20261125T120000-3f2a"
    owner: alice@controller
    controller: "{{ none | iser.ofed.site_controller }}"

- name: Release it (in an always section)
  iser.ofed.site_lock:
    state_dir: /var/lib/iser-ofed
    run_id: "20261125T120000-3f2a"
    state: absent
"""

RETURN = r"""
path:
  description: Path of the lock file.
  returned: always
  type: str
  sample: /var/lib/iser-ofed/site.lock
lock:
  description: The lock this run holds (state=present) or the lock found (state=absent; null when none).
  returned: always
  type: dict
  sample: {run_id: "20261125T120000-3f2a", owner: alice@controller, node: storage1, pid: 0,
           started: 1764072000, started_text: "2026-11-25T12:00:00Z",
           controller: {node: ctl1, boot_id: "0b8d1f5e-5a4e-4c55-9d0e-2f7d3c1e9a10", pid: 48213,
                        pid_start: 9134512, job: ""}}
held:
  description: The lock of the other run that refused this one (only when the module fails for that reason).
  returned: when another run holds the lock
  type: dict
  sample: {run_id: "20261125T110000-9c1d", owner: bob@ctl1, node: storage1, pid: 0, started: 1764068400,
           started_text: "2026-11-25T11:00:00Z",
           controller: {node: ctl1, boot_id: "0b8d1f5e-5a4e-4c55-9d0e-2f7d3c1e9a10", pid: 47001,
                        pid_start: 9120044, job: ""}}
taken_over:
  description: Whose stale or broken lock was replaced, and why; null when none was.
  returned: always
  type: str
  sample: "run 20261124T080000-aa01 of bob@ctl since 2026-11-24T08:00:00Z (it is 100800 s old (stale after 86400 s))"
msg:
  description: What happened.
  returned: always
  type: str
  sample: lock taken
"""

import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils._run_lock import (
    LockError,
    acquire,
    lock_path,
    release,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state_dir=dict(type="path", default="/var/lib/iser-ofed"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            run_id=dict(type="str", required=True),
            owner=dict(type="str", default=""),
            pid=dict(type="int", default=0),
            stale_after=dict(type="int", default=86400),
            break_lock=dict(type="bool", default=False),
            controller=dict(type="dict"),
            holder_gone=dict(type="dict", options=dict(
                run_id=dict(type="str", required=True),
                reason=dict(type="str", default="its controller process is gone"),
            )),
        ),
        supports_check_mode=True,
    )
    params = module.params
    state_dir = params["state_dir"]
    if not state_dir or not state_dir.startswith("/") or state_dir.rstrip("/") == "":
        module.fail_json(msg="state_dir is %r: give an absolute directory such as /var/lib/iser-ofed" % state_dir)
    if not params["run_id"].strip():
        module.fail_json(msg="run_id is empty: give the identifier of this run")
    if params["stale_after"] < 0:
        module.fail_json(msg="stale_after is %d: give seconds (0: never stale by age)" % params["stale_after"])
    path = lock_path(state_dir)
    try:
        if params["state"] == "present":
            changed, lock, taken = acquire(
                state_dir, params["run_id"], params["owner"], params["pid"], socket.gethostname(),
                time.time(), params["stale_after"], break_lock=params["break_lock"],
                check_mode=module.check_mode, controller=params["controller"], gone=params["holder_gone"])
            msg = "lock taken" if changed else "lock already held by this run"
            if taken:
                msg += "; replaced %s" % taken
            module.exit_json(changed=changed, path=path, lock=lock, taken_over=taken, msg=msg)
        changed, lock, msg = release(state_dir, params["run_id"], check_mode=module.check_mode)
        module.exit_json(changed=changed, path=path, lock=lock, taken_over=None, msg=msg)
    except LockError as exc:
        if exc.held is not None:
            module.fail_json(msg=str(exc), path=path, held=exc.held)
        module.fail_json(msg=str(exc), path=path)
    except OSError as exc:
        module.fail_json(msg="%s: %s" % (path, os.strerror(exc.errno) if exc.errno else exc), path=path)


if __name__ == "__main__":
    main()
