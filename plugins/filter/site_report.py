# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Filters behind the ``iser.ofed.site`` playbook's fleet report.

Pure functions, no I/O:

* ``site_rollback_scope(journal)``: what ``iser.ofed.rollback`` must undo after a failure in the destructive
  middle, from what the on-host journal says ran (``[]``: nothing destructive ran).
* ``site_record(journal, host, outcome)``: one host's record: the run's outcome plus the status of every
  journal stage (where the host stands).
* ``site_transaction(journal, target, running_kernel)``: whether this host's transaction is finished, or open
  (interrupted: controller killed, host unreachable, a later stage failed) and resumable, and which destructive
  stages the re-run skips.
* ``site_prediction(raw)``: in check mode, what each later stage would do, from the plans the roles return.
* ``site_controller(job)``, ``site_lock_holder_gone(lock, me)``: the run's controller process, and whether the
  run holding a host's lock is known to be dead (these two read ``/proc`` on the controller: the only I/O here).
* ``site_fast_inputs(inputs)``, ``site_converged_text(read)``: the converged fast path's inputs (this run's
  bundle and SCST source identities; hashes a controller-side archive) and a converged host's report message.
* ``site_fleet(records, hosts)``, ``site_summary(records)``, ``site_markdown(records)``, ``site_html(records)``:
  the fleet report (hosts without a record are ``not_reached``: a later batch, or the run stopped first).
"""
from __future__ import annotations

import html
import os
import socket
from typing import Any, Dict, List, Optional

from ansible_collections.iser.ofed.plugins.module_utils._run_lock import controller_gone, controller_identity
from ansible_collections.iser.ofed.plugins.module_utils._site_state import fast_inputs, summary
from ansible_collections.iser.ofed.plugins.module_utils._site_txn import _dict, _stages, site_transaction, where_it_stands

RECORD_VERSION = 2


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


def site_record(journal: Any, host: Any, outcome: Any = None, predictions: Any = None) -> Dict[str, Any]:
    """The report record of one host: ``outcome`` (status, stage, msg, rollback) plus the journal's stages,
    where the host stands (``where_it_stands``) and, in check mode, the predictions of the later stages."""
    out = _dict(outcome)
    status = out.get("status") if out.get("status") in STATUSES else FAILED
    stages = {name: _dict(rec).get("status") or "" for name, rec in sorted(_stages(journal).items())}
    rec = {
        "record_version": RECORD_VERSION,
        "host": str(host),
        "status": status,
        "stage": out.get("stage") or "",
        "msg": str(out.get("msg") or ""),
        "rollback_scope": list(out.get("rollback_scope") or []),
        "stages": stages,
        "check_mode": bool(out.get("check_mode")),
        "predictions": [p for p in (predictions or []) if isinstance(p, dict)],
    }
    rec.update(where_it_stands(journal))
    return rec


def _names(items: Any) -> str:
    return ", ".join(str(i) for i in (items or [])) or "nothing"


def site_prediction(raw: Any) -> List[Dict[str, Any]]:
    """Check mode: per later stage, what it would do (``would``) and what that rests on (``relies_on``).

    ``raw`` holds what the roles left in check mode (absent keys: the stage did not get that far):
    ``build_prereqs_packages``, ``ib_unload`` (``manageable``, ``reason``, ``result``: iser.ofed.ib_modules'
    answer, ``units``: masks planned), ``stock_purge`` (iser.ofed.stock_modules' answer), ``ofed_install``
    (the installer plan: changed, cmd, reason; or ``unstaged``: the bundle directory nothing has unpacked yet),
    ``iscsi_scst`` (up_to_date, source, flavor, kernel).
    """
    raw = {k: ({} if isinstance(v, dict) and v.get("skipped") else v) for k, v in _dict(raw).items()}
    out: List[Dict[str, Any]] = []
    pkgs = raw.get("build_prereqs_packages")
    if isinstance(pkgs, list):
        out.append({"stage": "build_prereqs", "would": "ensure installed: %s" % _names(pkgs),
                    "relies_on": "the package manager's view now"})
    unload = _dict(raw.get("ib_unload"))
    if unload:
        res = _dict(unload.get("result"))
        res = {} if res.get("skipped") else res
        if unload.get("manageable") is False or res.get("skipped_reason"):
            would = "not unload modules (%s); stop services, mask %s" % (
                res.get("skipped_reason") or unload.get("reason") or "modules not manageable here",
                _names(unload.get("units")))
        else:
            would = "unload %s; mask %s" % (_names(res.get("plan")), _names(unload.get("units")))
        out.append({"stage": "ib_unload", "would": would, "relies_on": "the modules loaded now"})
    purge = _dict(raw.get("stock_purge"))
    if purge:
        kept = [_dict(k).get("dir") for k in purge.get("kept") or []]
        out.append({"stage": "stock_purge",
                    "would": "move %s (%s files, %s bytes) into the quarantine%s" % (
                        _names(purge.get("moved")), purge.get("files", 0), purge.get("bytes", 0),
                        "; keep " + _names(kept) if kept else ""),
                    "relies_on": "ib_unload's unload, predicted, not done: in check mode nothing was unloaded"})
    inst = _dict(raw.get("ofed_install"))
    if inst:
        if inst.get("unstaged"):
            would = ("run the installer of the bundle iser.ofed.validate unpacks into %s (not unpacked yet, and "
                     "check mode unpacks nothing: the exact command is not known)" % inst["unstaged"])
        elif inst.get("changed"):
            would = "run %s: %s" % (" ".join(str(c) for c in inst.get("cmd") or []) or "the installer",
                                    inst.get("reason") or "")
        elif inst.get("reason"):
            would = "not run the installer: %s" % inst["reason"]
        else:
            would = "run the installer (its plan needs the rendered ofed.conf: check mode did not write it)"
        out.append({"stage": "ofed_install", "would": would,
                    "relies_on": "stock_purge's quarantine, predicted, not done"})
    scst = _dict(raw.get("iscsi_scst"))
    if scst:
        if scst.get("up_to_date"):
            would = "nothing: the installed modules are up to date"
        else:
            would = "build %s for %s against %s headers" % (scst.get("source") or "iscsi-scst",
                                                            scst.get("kernel") or "the target kernel",
                                                            scst.get("flavor") or "the detected")
        out.append({"stage": "iscsi_scst", "would": would,
                    "relies_on": "the OFED stack as installed now: ofed_install's install is predicted, not done"})
    if raw.get("finalize"):
        out.append({"stage": "finalize", "would": "lift the masks ib_unload records, start the services",
                    "relies_on": "the journal of the predicted stages, which check mode did not write"})
    return out


def site_controller(job: Any = None) -> Dict[str, Any]:
    """This run's controller process (call it from the run: a task's templating, on the controller)."""
    return controller_identity(socket.gethostname(), os.getpid(), str(job or ""))


def site_lock_holder_gone(lock: Any, me: Any) -> Optional[str]:
    """Why the run holding ``lock`` is known to be gone (judged on this controller), or None."""
    return controller_gone(lock, me)


def site_fast_inputs(inputs: Any) -> Dict[str, str]:
    """This run's bundle name and checksum and SCST source id as the controller knows them (the fast path's
    inputs; a controller-side bundle or SCST archive is hashed here, once per run)."""
    keys = ("bundle_path", "bundle_url", "bundle_checksum", "scst_path", "scst_url", "scst_checksum", "scst_git",
            "scst_version")
    return fast_inputs(**{k: str(_dict(inputs).get(k) or "") for k in keys})


def site_converged_text(read: Any) -> str:
    """The report message of a host the fast path found converged: what it read."""
    return summary(_dict(read))


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


def _stands_text(rec: Dict[str, Any]) -> str:
    """Where the host stands, from its journal: last stage done, stages left open, the transaction."""
    txn = _dict(rec.get("transaction"))
    parts = ["reached %s" % (rec.get("reached") or "nothing")]
    if rec.get("open"):
        parts.append("open: %s" % ", ".join(rec["open"]))
    if txn.get("id"):
        resumed = " (resumed from run %s)" % txn["resumed_from"] if txn.get("resumed_from") else ""
        parts.append("transaction %s %s%s" % (txn["id"], txn.get("status") or "", resumed))
    return "; ".join(parts)


CHECK_NOTE = ("Check mode: nothing was changed. Outcomes and predictions say what a real run would do; each "
              "later stage's prediction rests on the earlier stages' predictions, not on their work (ib_unload "
              "did not unload, so stock_purge's view is predicted; stock_purge moved nothing, so ofed_install "
              "and iscsi_scst look at the host as it is now).")


def _predictions(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [rec for rec in records if rec.get("check_mode") or rec.get("predictions")]


def site_markdown(records: Any, title: str = "iser.ofed site: fleet report") -> str:
    """The fleet report as Markdown: a summary line, one row per host (outcome, failed stage, where the host
    stands, journal) and, for a check-mode run, each host's predictions."""
    records = list(records or [])
    checked = _predictions(records)
    lines = ["# %s" % _md(title), "", "%d hosts: %s" % (len(records), _counts(site_summary(records))), ""]
    if checked:
        lines += [_md(CHECK_NOTE), ""]
    lines += ["| host | outcome | stage | message | rollback | where it stands | journal |",
              "|---|---|---|---|---|---|---|"]
    for rec in records:
        lines.append("| %s |" % " | ".join(_md(c) for c in (
            rec["host"], rec["status"], rec["stage"], rec["msg"], ", ".join(rec["rollback_scope"]),
            _stands_text(rec), "<br>".join(_stage_text(rec)))).replace("&lt;br&gt;", "<br>"))
    for rec in checked:
        lines += ["", "## %s: predictions (check mode)" % _md(rec["host"]), ""]
        lines += ["- **%s** would %s (relies on: %s)" % (_md(p.get("stage")), _md(p.get("would")), _md(p.get("relies_on")))
                  for p in rec.get("predictions") or []] or ["- no stage got as far as a plan"]
    return "\n".join(lines) + "\n"


def site_html(records: Any, title: str = "iser.ofed site: fleet report") -> str:
    """The fleet report as one self-contained HTML page (no scripts, every value escaped)."""
    records = list(records or [])
    esc = html.escape
    rows = []
    for rec in records:
        journal = "".join("<li>%s</li>" % esc(t) for t in _stage_text(rec))
        rows.append('<tr class="%s"><td>%s</td><td class="status">%s</td><td>%s</td><td>%s</td><td>%s</td>'
                    "<td>%s</td><td><ul>%s</ul></td></tr>" % (
                        esc(rec["status"]), esc(rec["host"]), esc(rec["status"]), esc(rec["stage"]),
                        esc(rec["msg"]), esc(", ".join(rec["rollback_scope"])), esc(_stands_text(rec)), journal))
    checked = _predictions(records)
    extra = ""
    if checked:
        extra = "<p>%s</p>" % esc(CHECK_NOTE) + "".join(
            "<h2>%s: predictions (check mode)</h2><ul>%s</ul>" % (esc(rec["host"]), "".join(
                "<li><b>%s</b> would %s (relies on: %s)</li>" % (esc(str(p.get("stage"))), esc(str(p.get("would"))),
                                                                  esc(str(p.get("relies_on"))))
                for p in rec.get("predictions") or []) or "<li>no stage got as far as a plan</li>")
            for rec in checked)
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title><style>"
            "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;width:100%%}"
            "th,td{border:1px solid #bbb;padding:4px;vertical-align:top;text-align:left}"
            "tr.done td.status{background:#d9f2d9}tr.refused td.status,tr.locked td.status{background:#fde8c8}"
            "tr.failed td.status,tr.rollback_failed td.status,tr.kept_failed td.status{background:#f8d0d0}"
            "</style></head><body><h1>%s</h1><p>%d hosts: %s</p><table><tr><th>host</th><th>outcome</th>"
            "<th>stage</th><th>message</th><th>rollback</th><th>where it stands</th><th>journal</th></tr>%s"
            "</table>%s</body></html>\n"
            % (esc(title), esc(title), len(records), esc(_counts(site_summary(records))), "".join(rows), extra))


class FilterModule:
    """iser.ofed site report filters."""

    def filters(self):
        return {
            "site_rollback_scope": site_rollback_scope,
            "site_record": site_record,
            "site_transaction": site_transaction,
            "site_prediction": site_prediction,
            "site_controller": site_controller,
            "site_lock_holder_gone": site_lock_holder_gone,
            "site_fast_inputs": site_fast_inputs,
            "site_converged_text": site_converged_text,
            "site_fleet": site_fleet,
            "site_summary": site_summary,
            "site_markdown": site_markdown,
            "site_html": site_html,
        }
