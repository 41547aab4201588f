# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Filters behind the ``iser.ofed.site`` playbook's fleet report.

Pure functions, no I/O:

* ``site_rollback_scope(journal)``: what ``iser.ofed.rollback`` must undo after a failure in the destructive
  middle, from what the on-host journal says ran (``[]``: nothing destructive ran).
* ``site_record(journal, host, outcome)``: one host's record: the run's outcome plus the status of every
  journal stage (where the host stands).
* ``site_fleet(records, hosts)``, ``site_summary(records)``, ``site_markdown(records)``, ``site_html(records)``:
  the fleet report (hosts without a record are ``not_reached``: a later batch, or the run stopped first).
"""
from __future__ import annotations

import html
from typing import Any, Dict, List

RECORD_VERSION = 1

# Outcomes of one host in one run.
DONE = "done"                        # every stage passed
REFUSED = "refused"                  # preflight/validate/input checks failed: nothing destructive started
FAILED = "failed"                    # a non-transactional stage failed (build_prereqs, iscsi_scst, finalize)
ROLLED_BACK = "rolled_back"          # the destructive middle failed and was rolled back
ROLLBACK_FAILED = "rollback_failed"  # ... and the rollback failed too: look at the host
KEPT_FAILED = "kept_failed"          # ... and iser_ofed_site_keep_failed left it as it failed
LOCKED = "locked"                    # another run holds the host's lock: nothing ran
NOT_REACHED = "not_reached"          # no record: a later batch, unreachable, or the run stopped first
STATUSES = (DONE, REFUSED, FAILED, ROLLED_BACK, ROLLBACK_FAILED, KEPT_FAILED, LOCKED, NOT_REACHED)

# Stages whose failure rolls the host back.
TRANSACTION_STAGES = ("ib_unload", "stock_purge", "ofed_install")
# Journal statuses that mean a stage changed (or may have changed) the host.
_TOUCHED = ("started", "done", "failed")


def _dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _stages(journal: Any) -> Dict[str, Any]:
    return _dict(_dict(journal).get("stages"))


def site_rollback_scope(journal: Any) -> List[str]:
    """``['install', 'purge']``, ``['purge']`` or ``[]`` from the stages recorded as started/done/failed."""
    stages = _stages(journal)

    def touched(name: str) -> bool:
        return _dict(stages.get(name)).get("status") in _TOUCHED

    scope = []
    if touched("ofed_install"):
        scope.append("install")
    if touched("ib_unload") or any(touched(name) for name in stages if name.startswith("stock_purge@")):
        scope.append("purge")
    return scope


def site_record(journal: Any, host: Any, outcome: Any = None) -> Dict[str, Any]:
    """The report record of one host: ``outcome`` (status, stage, msg, rollback) plus the journal's stages."""
    out = _dict(outcome)
    status = out.get("status") if out.get("status") in STATUSES else FAILED
    stages = {name: _dict(rec).get("status") or "" for name, rec in sorted(_stages(journal).items())}
    return {
        "record_version": RECORD_VERSION,
        "host": str(host),
        "status": status,
        "stage": out.get("stage") or "",
        "msg": str(out.get("msg") or ""),
        "rollback_scope": list(out.get("rollback_scope") or []),
        "stages": stages,
    }


def site_fleet(records: Any, hosts: Any) -> List[Dict[str, Any]]:
    """One record per host of ``hosts``, in that order; a host without a record is ``not_reached``."""
    by_host = {}
    for rec in records or []:
        if isinstance(rec, dict) and rec.get("host"):
            by_host[rec["host"]] = rec
    return [by_host.get(str(h)) or site_record({}, h, {"status": NOT_REACHED}) for h in hosts or []]


def site_summary(records: Any) -> Dict[str, Any]:
    """Counts and per-status host lists, small enough for ``set_stats``."""
    hosts: Dict[str, List[str]] = {s: [] for s in STATUSES}
    for rec in records or []:
        hosts.setdefault(rec.get("status", FAILED), []).append(rec.get("host", ""))
    return {"total": sum(len(v) for v in hosts.values()),
            "counts": {k: len(v) for k, v in hosts.items() if v},
            "hosts": {k: sorted(v) for k, v in hosts.items() if v}}


def _stage_text(rec: Dict[str, Any]) -> List[str]:
    return ["%s: %s" % (name, status) for name, status in rec.get("stages", {}).items()]


def _counts(summary: Dict[str, Any]) -> str:
    return ", ".join("%s %d" % (k, v) for k, v in summary["counts"].items()) or "no hosts"


def _md(text: Any) -> str:
    return html.escape(str(text), quote=False).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def site_markdown(records: Any, title: str = "iser.ofed site: fleet report") -> str:
    """The fleet report as Markdown: a summary line and one row per host (outcome, failed stage, journal)."""
    records = list(records or [])
    lines = ["# %s" % _md(title), "", "%d hosts: %s" % (len(records), _counts(site_summary(records))), "",
             "| host | outcome | stage | message | rollback | journal |", "|---|---|---|---|---|---|"]
    for rec in records:
        lines.append("| %s |" % " | ".join(_md(c) for c in (
            rec["host"], rec["status"], rec["stage"], rec["msg"], ", ".join(rec["rollback_scope"]),
            "<br>".join(_stage_text(rec)))).replace("&lt;br&gt;", "<br>"))
    return "\n".join(lines) + "\n"


def site_html(records: Any, title: str = "iser.ofed site: fleet report") -> str:
    """The fleet report as one self-contained HTML page (no scripts, every value escaped)."""
    records = list(records or [])
    esc = html.escape
    rows = []
    for rec in records:
        journal = "".join("<li>%s</li>" % esc(t) for t in _stage_text(rec))
        rows.append('<tr class="%s"><td>%s</td><td class="status">%s</td><td>%s</td><td>%s</td><td>%s</td>'
                    "<td><ul>%s</ul></td></tr>" % (
                        esc(rec["status"]), esc(rec["host"]), esc(rec["status"]), esc(rec["stage"]),
                        esc(rec["msg"]), esc(", ".join(rec["rollback_scope"])), journal))
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title><style>"
            "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;width:100%%}"
            "th,td{border:1px solid #bbb;padding:4px;vertical-align:top;text-align:left}"
            "tr.done td.status{background:#d9f2d9}tr.refused td.status,tr.locked td.status{background:#fde8c8}"
            "tr.failed td.status,tr.rollback_failed td.status,tr.kept_failed td.status{background:#f8d0d0}"
            "</style></head><body><h1>%s</h1><p>%d hosts: %s</p><table><tr><th>host</th><th>outcome</th>"
            "<th>stage</th><th>message</th><th>rollback</th><th>journal</th></tr>%s</table></body></html>\n"
            % (esc(title), esc(title), len(records), esc(_counts(site_summary(records))), "".join(rows)))


class FilterModule:
    """iser.ofed site report filters."""

    def filters(self):
        return {
            "site_rollback_scope": site_rollback_scope,
            "site_record": site_record,
            "site_fleet": site_fleet,
            "site_summary": site_summary,
            "site_markdown": site_markdown,
            "site_html": site_html,
        }
