#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: scst_packages
short_description: Install the packages SCST's own package targets built (make dpkg, make scst-rpm)
version_added: "0.3.0"
description:
  - Installs package files that SCST's top-level C(make dpkg) (C(scst), C(scst-dev), C(iscsi-scst),
    C(scst-dkms) C(_<version>-1_<arch>.deb)) or C(make scst-rpm) (C(scst-<kver>-<version>-1.<arch>.rpm))
    built, with the package manager (C(dpkg -i) or C(rpm -U --replacepkgs --oldpackage)).
  - Reads each file's name, version and architecture (C(dpkg-deb -f), C(rpm -qp)) and its sha256, and the
    installed versions (C(dpkg-query -W), C(rpm -q)).
  - SCST's packages keep their version when rebuilt (for another OFED version, say), so a package
    installed at the same version is installed again unless its file's sha256 is the one in O(recorded)
    (what the caller recorded when it last installed it, e.g. in the iser.ofed journal). Same files as
    recorded and installed at their versions means nothing to do (C(changed=false)).
  - After installing, the installed versions are read again and must be the files' versions.
  - With O(state=absent), takes away what an earlier install did, from its record (O(packages), the
    C(packages) this module returned, kept in the journal). A package still installed at the recorded
    version is removed (C(dpkg --purge), C(rpm -e)) when nothing was installed before it, or replaced by the
    version it replaced when the repositories offer that version (C(apt-cache madison) / C(dnf list);
    C(apt-get install --allow-downgrades) / C(dnf install)); otherwise it is left installed and named in
    C(kept). A package at another version, or gone, is left alone. A second run finds nothing to do.
  - The RPM path is unit-tested only (no RPM host in the test bed).
options:
  state:
    description:
      - C(present) installs O(files); C(absent) takes away what O(packages) records.
    type: str
    choices: [present, absent]
    default: present
  files:
    description:
      - Paths of the package files on the host, all C(.deb) or all C(.rpm). Required with O(state=present).
    type: list
    elements: path
    default: []
  packages:
    description:
      - O(state=absent) - what the install recorded, one dict per package with C(name), C(version), C(file)
        (its extension names the package manager) and C(previous) (the version it replaced, or null).
    type: list
    elements: dict
    default: []
  names:
    description:
      - Package names to install from O(files); empty means every file. A name no file provides fails.
    type: list
    elements: str
    default: []
  recorded:
    description:
      - Package name to the sha256 of the file last installed for it (from the journal).
    type: dict
    default: {}
  force:
    description:
      - Install every selected file again even when it is the recorded one.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - iser.ofed.attributes
attributes:
  check_mode:
    support: full
    details: Reads the files and the installed state and reports what would be installed; installs nothing.
  diff_mode:
    support: full
    details: Installed versions of the selected (O(state=absent) - the recorded) packages before and after.
seealso:
  - module: iser.ofed.scst_build_facts
author:
  - iser.ofed contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Install the packages make dpkg built
  iser.ofed.scst_packages:
    files:
      - /var/lib/iser-ofed/scst/src-0123abcd4567-6.1.0-56-amd64/dpkg/scst_3.8.0-1_amd64.deb
      - /var/lib/iser-ofed/scst/src-0123abcd4567-6.1.0-56-amd64/dpkg/iscsi-scst_3.8.0-1_amd64.deb
    names: [scst, iscsi-scst]
    recorded: "{{ journal.record.data.packages | default([]) | items2dict(key_name='name', value_name='sha256') }}"
  register: scst_packages

- name: Take them away again (rollback)
  iser.ofed.scst_packages:
    state: absent
    packages: "{{ journal.record.data.packages }}"
"""

RETURN = r"""
manager:
  description: The package manager used.
  returned: always
  type: str
  sample: dpkg
packages:
  description: One entry per selected package, with what was (or would be) done.
  returned: always
  type: list
  elements: dict
  sample:
    - name: scst
      version: 3.8.0-1
      arch: amd64
      file: /var/lib/iser-ofed/scst/src-0123abcd4567-6.1.0-56-amd64/dpkg/scst_3.8.0-1_amd64.deb
      sha256: 5b1c0e2f5f0a3c4f3b7b8d2a9e1f0c6d7e8a9b0c1d2e3f405162738495a6b7c8
      previous: null
      action: install
    - name: iscsi-scst
      version: 3.8.0-1
      arch: amd64
      file: /var/lib/iser-ofed/scst/src-0123abcd4567-6.1.0-56-amd64/dpkg/iscsi-scst_3.8.0-1_amd64.deb
      sha256: 9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa998877665544
      previous: 3.8.0-1
      action: none
built:
  description: Every package file given, read (name, version, arch, file, sha256), selected or not.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: scst-dev, version: 3.8.0-1, arch: all, file: /var/lib/iser-ofed/scst/dpkg/scst-dev_3.8.0-1_all.deb,
       sha256: 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0}
cmd:
  description: The install command run (or that would run in check mode); empty when nothing to do.
  returned: always
  type: list
  elements: str
  sample: [dpkg, -i, /var/lib/iser-ofed/scst/src-0123abcd4567-6.1.0-56-amd64/dpkg/scst_3.8.0-1_amd64.deb]
stdout:
  description: Output of the install command (O(state=absent) - of the remove and restore commands).
  returned: when it ran
  type: str
  sample: "Setting up scst (3.8.0-1) ..."
kept:
  description: O(state=absent) - packages left installed, with the reason (the replaced version is not offered).
  returned: always
  type: list
  elements: dict
  sample: [{name: scst, version: 3.8.0-1, previous: 3.7.0-1, reason: version 3.7.0-1 it replaced is not offered}]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _pkgquery, _scst_pkg

ENV = {"LC_ALL": "C"}
APT_ENV = {"LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}


def _run(module, argv, what, env=None):
    if not module.get_bin_path(argv[0]):
        module.fail_json(msg="%s is needed to %s but is not installed on this host" % (argv[0], what), cmd=argv)
    rc, out, err = module.run_command(argv, environ_update=env or ENV)
    return rc, out, err


def _read_file(module, manager, path):
    if not os.path.isfile(path):
        module.fail_json(msg="package file %s does not exist on this host" % (path,))
    argv = _scst_pkg.fields_argv(manager, path)
    rc, out, err = _run(module, argv, "read the package files")
    if rc != 0:
        module.fail_json(msg="cannot read package file %s: %s" % (path, (err or out).strip()[:500]),
                         rc=rc, stdout=out, stderr=err, cmd=argv)
    try:
        fields = _scst_pkg.parse_deb_fields(out) if manager == "dpkg" else _scst_pkg.parse_rpm_fields(out)
    except ValueError as exc:
        module.fail_json(msg="cannot read package file %s: %s" % (path, exc), cmd=argv)
    fields.update({"file": path, "sha256": module.sha256(path)})
    return fields


def _installed(module, manager, names):
    if manager == "dpkg":
        argv = _pkgquery.dpkg_argv(names)
        rc, out, err = _run(module, argv, "read the installed packages")
        packages, error = _pkgquery.parse_dpkg_query(rc, out, err)
    else:
        argv = _pkgquery.rpm_argv(names)
        rc, out, err = _run(module, argv, "read the installed packages")
        packages, error = _pkgquery.parse_rpm_query(rc, out, err)
    if error:
        module.fail_json(msg="cannot read the installed packages: %s" % (error,), rc=rc, stdout=out, stderr=err,
                         cmd=argv)
    return packages


def _versions_text(planned, installed):
    versions = {p["name"]: p.get("version") for p in installed if p.get("installed")}
    return "".join("%s %s\n" % (p["name"], versions.get(p["name"]) or "(not installed)") for p in planned)


def _available(module, manager, name):
    argv = _scst_pkg.available_argv(manager, name)
    if not module.get_bin_path(argv[0]):
        return []
    rc, out, _err = module.run_command(argv, environ_update=ENV)
    return _scst_pkg.parse_available(manager, name, out) if rc == 0 else []


def absent(module):
    recorded = module.params["packages"]
    for pkg in recorded:
        if not pkg.get("name") or not pkg.get("version") or not pkg.get("file"):
            module.fail_json(msg="every entry of packages needs name, version and file (as the install returned "
                             "them): %r" % (pkg,))
    manager, error = _scst_pkg.manager_of([str(p["file"]) for p in recorded])
    if error:
        module.fail_json(msg=error)
    names = [str(p["name"]) for p in recorded]
    before = _installed(module, manager, names)
    at_recorded = {str(p["name"]) for p in before if p.get("installed")}
    available = {str(p["name"]): _available(module, manager, str(p["name"])) for p in recorded
                 if p.get("previous") not in (None, p.get("version")) and str(p["name"]) in at_recorded}
    plan = _scst_pkg.rollback_plan(recorded, before, available)
    restore = [p for p in plan if p["action"] == "restore"]
    remove = [p["name"] for p in plan if p["action"] == "remove"]
    cmds = ([_scst_pkg.restore_argv(manager, restore)] if restore else []) + (
        [_scst_pkg.remove_argv(manager, remove)] if remove else [])
    kept = [p for p in plan if p["action"] == "keep"]
    result = dict(changed=bool(cmds), manager=manager, packages=plan, built=[], cmd=[w for c in cmds for w in c],
                  kept=kept)
    if module._diff and cmds:
        result["diff"] = dict(before=_versions_text(plan, before), after="".join(
            "%s %s\n" % (p["name"], {"remove": "(not installed)", "restore": p["previous"]}.get(p["action"], p["version"]))
            for p in plan))
    if not cmds or module.check_mode:
        module.exit_json(**result)
    out_all = ""
    for cmd in cmds:
        rc, out, err = _run(module, cmd, "take the packages away", APT_ENV if cmd[0] == "apt-get" else ENV)
        out_all += out
        if rc != 0:
            module.fail_json(msg="%s failed (rc %s): %s" % (" ".join(cmd[:3]), rc, (err or out).strip()[-1500:]),
                             rc=rc, stdout=out_all, stderr=err, **{k: v for k, v in result.items() if k != "diff"})
    after = {str(p["name"]): p.get("version") for p in _installed(module, manager, names) if p.get("installed")}
    problems = ["%s is still installed (%s)" % (n, after[n]) for n in remove if n in after]
    problems += ["%s is %s, not the restored %s" % (p["name"], after.get(p["name"], "not installed"), p["previous"])
                 for p in restore if after.get(p["name"]) != p["previous"]]
    if problems:
        module.fail_json(msg="after %s: %s" % (" / ".join(" ".join(c[:2]) for c in cmds), "; ".join(problems)),
                         stdout=out_all, **{k: v for k, v in result.items() if k != "diff"})
    result["stdout"] = out_all
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="present", choices=["present", "absent"]),
            files=dict(type="list", elements="path", default=[]),
            packages=dict(type="list", elements="dict", default=[]),
            names=dict(type="list", elements="str", default=[]),
            recorded=dict(type="dict", default={}),
            force=dict(type="bool", default=False),
        ),
        required_if=[("state", "present", ("files",))],
        supports_check_mode=True,
    )
    if module.params["state"] == "absent":
        absent(module)
    files = sorted(module.params["files"])
    manager, error = _scst_pkg.manager_of(files)
    if error:
        module.fail_json(msg=error)
    built = [_read_file(module, manager, path) for path in files]
    selected, missing = _scst_pkg.select(built, module.params["names"])
    if missing:
        module.fail_json(msg="no package file provides %s; the files provide %s" % (
            ", ".join(missing), ", ".join(sorted(p["name"] for p in built))), built=built)
    names = [p["name"] for p in selected]
    before = _installed(module, manager, names)
    planned = _scst_pkg.plan(selected, before, module.params["recorded"] or {}, module.params["force"])
    todo = [p for p in planned if p["action"] != "none"]
    cmd = _scst_pkg.install_argv(manager, [p["file"] for p in todo]) if todo else []
    result = dict(changed=bool(todo), manager=manager, packages=planned, built=built, cmd=cmd, kept=[])
    if not todo or module.check_mode:
        if module._diff and todo:
            result["diff"] = dict(before=_versions_text(planned, before),
                                  after="".join("%s %s\n" % (p["name"], p["version"]) for p in planned))
        module.exit_json(**result)
    rc, out, err = _run(module, cmd, "install the packages")
    if rc != 0:
        module.fail_json(msg="%s failed (rc %s): %s" % (" ".join(cmd[:3]), rc, (err or out).strip()[-1500:]),
                         rc=rc, stdout=out, stderr=err, cmd=cmd, packages=planned)
    after = _installed(module, manager, names)
    problems = _scst_pkg.check_installed(planned, after)
    if problems:
        module.fail_json(msg="after %s: %s" % (" ".join(cmd[:2]), "; ".join(problems)), rc=rc, stdout=out,
                         stderr=err, cmd=cmd, packages=planned)
    if module._diff:
        result["diff"] = dict(before=_versions_text(planned, before), after=_versions_text(planned, after))
    result["stdout"] = out
    module.exit_json(**result)


if __name__ == "__main__":
    main()
