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
  - The RPM path is unit-tested only (no RPM host in the test bed).
options:
  files:
    description:
      - Paths of the package files on the host, all C(.deb) or all C(.rpm).
    type: list
    elements: path
    required: true
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
attributes:
  check_mode:
    support: full
    details: Reads the files and the installed state and reports what would be installed; installs nothing.
  diff_mode:
    support: full
    details: Installed versions of the selected packages before and after.
  platform:
    platforms: posix
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
  description: Output of the install command.
  returned: when it ran
  type: str
  sample: "Setting up scst (3.8.0-1) ..."
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _pkgquery, _scst_pkg

ENV = {"LC_ALL": "C"}


def _run(module, argv, what):
    if not module.get_bin_path(argv[0]):
        module.fail_json(msg="%s is needed to %s but is not installed on this host" % (argv[0], what), cmd=argv)
    rc, out, err = module.run_command(argv, environ_update=ENV)
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


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="path", required=True),
            names=dict(type="list", elements="str", default=[]),
            recorded=dict(type="dict", default={}),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
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
    result = dict(changed=bool(todo), manager=manager, packages=planned, built=built, cmd=cmd)
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
