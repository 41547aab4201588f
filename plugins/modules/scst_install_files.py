#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: scst_install_files
short_description: Record, back up and take away the files SCST's make install puts in place
version_added: "0.4.0"
description:
  - SCST's C(make install) (C(scst_install), C(iscsi_install)) has C(uninstall) targets that remove fixed
    names whatever was there before; this module keeps its own manifest instead, with checksums.
  - O(state=staged) reads a tree the same install targets wrote with C(DESTDIR=<stage>) (every file the real
    install writes, at its path below the stage; depmod's C(modules.*) output left out), backs up into
    O(backup_dir) each host file at one of those paths (the real install would overwrite it) and names the
    directories the install will create. A file that is the collection's own earlier install (the sha256
    the O(prior) manifest recorded) is not backed up again; it keeps that entry's C(previous).
  - O(state=installed) reads the sha256 of every file after the real install and returns the manifest
    (path, sha256, previous); a staged file missing on the host fails.
  - O(state=absent) undoes an install from its manifest. It removes each file that still has the recorded
    sha256, puts the backup back where there was a file before (the backup's sha256 is checked first),
    leaves alone (and reports) a file changed since, then removes the created directories that are empty.
    A second run finds nothing to do.
options:
  state:
    description:
      - C(staged), C(installed) or C(absent), see above.
    type: str
    choices: [staged, installed, absent]
    required: true
  stage_dir:
    description:
      - O(state=staged) - the DESTDIR the install targets wrote to.
    type: path
  backup_dir:
    description:
      - O(state=staged) - where host files that the install overwrites are kept (same path below it).
    type: path
  prior:
    description:
      - O(state=staged) - the manifest of the last install (the journal), to keep what it replaced.
    type: list
    elements: dict
    default: []
  prior_dirs:
    description:
      - O(state=staged) - the directories the last install created.
    type: list
    elements: path
    default: []
  files:
    description:
      - O(state=installed) - the C(files) O(state=staged) returned; O(state=absent) - the manifest
        (path, sha256, previous).
    type: list
    elements: dict
    default: []
  dirs_created:
    description:
      - O(state=absent) - directories the install created, removed when empty.
    type: list
    elements: path
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - iser.ofed.attributes
attributes:
  check_mode:
    support: full
    details: >-
      staged backs nothing up (without a stage yet, as when check mode skipped the staging install, it says
      the files are not known), absent removes and restores nothing; both report what they would do.
  diff_mode:
    support: full
    details: O(state=absent) - the manifest's paths present before and after.
seealso:
  - module: iser.ofed.scst_packages
author:
  - iser.ofed contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Learn what make install writes and back up what it overwrites
  iser.ofed.scst_install_files:
    state: staged
    stage_dir: /var/lib/iser-ofed/scst/install-stage-6.1.0-57-amd64
    backup_dir: /var/lib/iser-ofed/scst/install-backup-6.1.0-57-amd64
  register: staged

- name: Record the installed files
  iser.ofed.scst_install_files:
    state: installed
    files: "{{ staged.files }}"
  register: installed

- name: Take them away again
  iser.ofed.scst_install_files:
    state: absent
    files: "{{ installed.files }}"
    dirs_created: "{{ staged.dirs_created }}"
"""

RETURN = r"""
files:
  description:
    - staged - path and previous (null, or sha256 and backup) per file; installed - plus sha256;
      absent - plus action (remove, restore, none, keep) and reason.
  returned: always
  type: list
  elements: dict
  sample:
    - path: /lib/modules/6.1.0-57-amd64/extra/scst.ko
      sha256: 3f1e0c2d4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
      previous: null
    - path: /usr/local/sbin/iscsi-scstd
      sha256: 9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa998877665544
      previous: {sha256: 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0,
                 backup: /var/lib/iser-ofed/scst/install-backup-6.1.0-57-amd64/usr/local/sbin/iscsi-scstd}
dirs_created:
  description: Directories the install creates (staged) or that were removed (absent).
  returned: always
  type: list
  elements: str
  sample: [/lib/modules/6.1.0-57-amd64/extra, /usr/local/include/scst]
backed_up:
  description: staged - the host files backed up (or that would be).
  returned: always
  type: list
  elements: str
  sample: [/usr/local/sbin/iscsi-scstd]
kept:
  description: absent - files left in place, with the reason (changed since the install, backup missing).
  returned: always
  type: list
  elements: dict
  sample: [{path: /usr/local/sbin/iscsi-scstd, reason: "changed since the install"}]
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _scst_files


def _digest(module, path):
    """sha256 of a file, ``symlink:<target>`` of a link, None when absent (or a directory)."""
    if os.path.islink(path):
        return "symlink:" + os.readlink(path)
    if os.path.isfile(path):
        return module.sha256(path)
    return None


def _walk(stage):
    entries = []
    for root, dirs, names in os.walk(stage):
        for name in dirs:
            full = os.path.join(root, name)
            entries.append((os.path.relpath(full, stage), "link" if os.path.islink(full) else "dir"))
        for name in names:
            entries.append((os.path.relpath(os.path.join(root, name), stage), "file"))
    return entries


def _copy(src, dest):
    """Copy a file (mode and times) or a link, creating the parents."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.lexists(dest):
        os.unlink(dest)
    if os.path.islink(src):
        os.symlink(os.readlink(src), dest)
    else:
        shutil.copy2(src, dest)


def staged(module):
    stage, backup_dir = module.params["stage_dir"], module.params["backup_dir"]
    if not stage or not backup_dir:
        module.fail_json(msg="state=staged needs stage_dir and backup_dir")
    if not os.path.isdir(stage):
        if module.check_mode:  # the staging install targets do not run in check mode: nothing to read yet
            module.exit_json(changed=True, files=[], dirs_created=[], backed_up=[], kept=[],
                             msg="check mode: the install targets have not staged %s, so which host files the "
                                 "install would overwrite (and back up) is not known" % stage)
        module.fail_json(msg="the staged install %s does not exist: run the install targets with DESTDIR=%s first"
                         % (stage, stage))
    files, dirs = _scst_files.staged_paths(_walk(stage))
    if not files:
        module.fail_json(msg="the staged install %s holds no file: the install targets installed nothing" % stage)
    host = {path: _digest(module, path) for path in files}
    entries, to_backup = _scst_files.with_previous(files, host, module.params["prior"], backup_dir)
    created = _scst_files.created_dirs(dirs, {d: os.path.isdir(d) for d in dirs}, module.params["prior_dirs"])
    if not module.check_mode:
        for path in to_backup:
            _copy(path, _scst_files.backup_path(backup_dir, path))
            if _digest(module, _scst_files.backup_path(backup_dir, path)) != host[path]:
                module.fail_json(msg="the backup of %s in %s does not have its sha256; nothing was installed"
                                 % (path, backup_dir))
    module.exit_json(changed=bool(to_backup), files=entries, dirs_created=created, backed_up=to_backup, kept=[])


def installed(module):
    manifest, missing = [], []
    for entry in module.params["files"]:
        path = str(entry.get("path", ""))
        digest = _digest(module, path)
        if digest is None and not module.check_mode:
            missing.append(path)
        manifest.append({"path": path, "sha256": digest, "previous": entry.get("previous")})
    if missing:
        module.fail_json(msg="the install did not put these files in place although the staged install has them: "
                         + ", ".join(missing), files=manifest)
    module.exit_json(changed=False, files=manifest, dirs_created=[], backed_up=[], kept=[])


def _present(paths):
    return "".join(p + "\n" for p in paths if os.path.lexists(p))


def absent(module):
    manifest = module.params["files"]
    host = {str(e["path"]): _digest(module, str(e["path"])) for e in manifest}
    backups = {}
    for entry in manifest:
        previous = entry.get("previous") or {}
        if previous.get("backup"):
            backups[previous["backup"]] = _digest(module, previous["backup"])
    plan = _scst_files.rollback_plan(manifest, host, backups)
    paths = [e["path"] for e in plan]
    before = _present(paths)
    todo = [e for e in plan if e["action"] in ("remove", "restore")]
    gone = {e["path"] for e in plan if e["action"] == "remove" or (e["action"] == "none" and host[e["path"]] is None)}
    remaining = {}
    for directory in module.params["dirs_created"]:
        if os.path.isdir(directory) and not os.path.islink(directory):
            remaining[directory] = [n for n in os.listdir(directory) if os.path.join(directory, n) not in gone]
    dirs = _scst_files.dirs_to_remove(module.params["dirs_created"], remaining)
    kept = [{"path": e["path"], "reason": e["reason"]} for e in plan if e["action"] == "keep"]
    result = dict(changed=bool(todo or dirs), files=plan, dirs_created=dirs, backed_up=[], kept=kept)
    if not module.check_mode:
        for entry in todo:
            if entry["action"] == "remove":
                os.unlink(entry["path"])
            else:
                _copy(entry["previous"]["backup"], entry["path"])
                if _digest(module, entry["path"]) != entry["previous"]["sha256"]:
                    module.fail_json(msg="restoring %s from %s did not give its sha256" % (
                        entry["path"], entry["previous"]["backup"]), **result)
        for directory in dirs:
            try:
                os.rmdir(directory)
            except OSError as exc:
                module.fail_json(msg="cannot remove the directory %s the install created: %s" % (directory, exc),
                                 **result)
    if module._diff and result["changed"]:
        after = "".join(e["path"] + "\n" for e in plan
                        if (e["action"] in ("restore", "keep")) or (e["action"] == "none" and host[e["path"]]))
        result["diff"] = dict(before=before, after=after)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["staged", "installed", "absent"]),
            stage_dir=dict(type="path"),
            backup_dir=dict(type="path"),
            prior=dict(type="list", elements="dict", default=[]),
            prior_dirs=dict(type="list", elements="path", default=[]),
            files=dict(type="list", elements="dict", default=[]),
            dirs_created=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    {"staged": staged, "installed": installed, "absent": absent}[module.params["state"]](module)


if __name__ == "__main__":
    main()
