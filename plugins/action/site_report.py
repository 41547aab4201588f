# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Action plugin ``iser.ofed.site_report``: write the site playbook's fleet report on the controller.

The report (one ``<host>.site.json`` per host with a record, ``site-report.md``, ``site-report.html``) is
written here, in the controller's own process, instead of one ``copy`` module execution per file: a fleet
of 40 hosts otherwise costs 43 local module runs per batch, most of a converged run's time (docs/bench.md).
A file whose content is already what it would write is left alone (``changed`` only for real changes).
"""
from __future__ import annotations

import json
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.iser.ofed.plugins.filter.site_report import NOT_REACHED, site_html, site_markdown


def report_files(records):
    """``{file name: content}`` of the fleet report for ``records`` (the site_fleet filter's list)."""
    files = {}
    for rec in records:
        if rec.get("status") != NOT_REACHED:
            files["%s.site.json" % rec["host"]] = json.dumps(rec, indent=2, sort_keys=True, separators=(",", ": "),
                                                             ensure_ascii=False) + "\n"
    files["site-report.md"] = site_markdown(records)
    files["site-report.html"] = site_html(records)
    return files


def write_if_changed(path, content, mode=0o644):
    """Write ``content`` to ``path`` atomically unless it already holds exactly that; True when written."""
    data = content.encode("utf-8")
    try:
        with open(path, "rb") as handle:
            if handle.read() == data:
                return False
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".site-report-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("dir", "records"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        directory = args.get("dir")
        records = args.get("records")
        if not isinstance(directory, str) or not directory.startswith("/"):
            raise AnsibleActionFail("site_report: dir must be an absolute directory on the controller, got %r"
                                    % (directory,))
        if not isinstance(records, list) or not all(isinstance(r, dict) and r.get("host") for r in records):
            raise AnsibleActionFail("site_report: records must be the site_fleet filter's list of host records")
        files = report_files(records)
        result.update(changed=False, dir=directory, files=sorted(files), written=[])
        if self._play_context.check_mode:
            return result
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, mode=0o755)
                result["changed"] = True
            for name, content in sorted(files.items()):
                if write_if_changed(os.path.join(directory, name), content):
                    result["written"].append(name)
        except OSError as exc:
            raise AnsibleActionFail("site_report: cannot write the report in %s: %s" % (directory, exc))
        result["changed"] = result["changed"] or bool(result["written"])
        return result
