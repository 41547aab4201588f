# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""The site transaction's rules over the on-host journal, shared by the controller and the host.

``site_transaction`` (is this host's transaction finished for a target, or open and resumable) and
``where_it_stands`` are used by the ``iser.ofed.site`` playbook through the filters of
``plugins/filter/site_report.py`` and, on the host, by ``iser.ofed.site_state`` (the converged fast path):
one rule, two callers. Pure functions over the journal's dict, no I/O.
"""
from __future__ import annotations

from typing import Any, Dict

# The pipeline's journaled stages, in order (stock_purge is recorded as stock_purge@<kernel>).
PIPELINE = ("validate", "ib_unload", "stock_purge", "ofed_install", "iscsi_scst", "finalize")
# Statuses of the journal's "site" record that leave a transaction open (resumable).
OPEN_TRANSACTION = ("started", "failed")


def _dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _stages(journal: Any) -> Dict[str, Any]:
    return _dict(_dict(journal).get("stages"))


def _pipeline_name(stage: str) -> str:
    return stage.split("@", 1)[0]


def where_it_stands(journal: Any) -> Dict[str, Any]:
    """From the journal alone: the last pipeline stage done (``reached``), stages left ``started``/``failed``
    (``open``), and the transaction the ``site`` record describes (status, id, runs)."""
    stages = _stages(journal)
    reached = ""
    open_stages = []
    for name in sorted((n for n in stages if _pipeline_name(n) in PIPELINE),
                       key=lambda n: (PIPELINE.index(_pipeline_name(n)), n)):
        status = _dict(stages[name]).get("status")
        if status == "done":
            reached = name
        elif status in ("started", "failed"):
            open_stages.append("%s %s" % (name, status))
    site = _dict(stages.get("site"))
    data = _dict(site.get("data"))
    return {"reached": reached, "open": open_stages,
            "transaction": {"status": site.get("status") or "", "id": data.get("transaction") or "",
                            "run_id": data.get("run_id") or "", "resumed_from": data.get("resumed_from") or "",
                            "time": site.get("time") or ""}}


def site_transaction(journal: Any, target: Any, running_kernel: Any = "") -> Dict[str, Any]:
    """How this run goes on from the host's journal, for the target ``{flavor, version, kernel}`` validate decided.

    * ``finished``: ``finalize`` done after the last ib_unload/stock_purge/ofed_install record, and
      ``ofed_install`` done for this flavor/version/kernel: nothing destructive is redone.
    * ``resume``: an open transaction (the ``site`` record ``started``: the run was interrupted, or ``failed``
      in a later stage, or left for inspection) is carried on under its id. ``skip`` lists the destructive
      stages it already finished: ``ib_unload`` and ``stock_purge`` when both are ``done`` after the last
      ``finalize`` (stock_purge for the target kernel, ib_unload for the running one); when only ib_unload is,
      it is redone (cheap and idempotent: modules may have come back since), so stock_purge finds the stack
      unloaded. ofed_install and iscsi_scst are never skipped: they check the host's real state themselves.
    """
    stages = _stages(journal)
    tgt = _dict(target)
    kernel = str(tgt.get("kernel") or "")

    def rec(name: str) -> Dict[str, Any]:
        return _dict(stages.get(name))

    fin, inst = rec("finalize"), rec("ofed_install")
    idata = _dict(inst.get("data"))
    last = max([str(rec(n).get("time") or "") for n in ("ib_unload", "stock_purge@" + kernel, "ofed_install")])
    finished = bool(tgt) and fin.get("status") == "done" and inst.get("status") == "done" \
        and idata.get("flavor") == tgt.get("flavor") and idata.get("release") == tgt.get("version") \
        and idata.get("kernel") == kernel and last <= str(fin.get("time") or "")
    site = rec("site")
    sdata = _dict(site.get("data"))
    resume = not finished and site.get("status") in OPEN_TRANSACTION and bool(sdata.get("transaction"))
    after = str(fin.get("time") or "") if fin.get("status") == "done" else ""

    def done_since(name: str) -> bool:
        return rec(name).get("status") == "done" and str(rec(name).get("time") or "") > after

    unload = rec("ib_unload")
    unload_ok = done_since("ib_unload") and (not running_kernel
                                             or _dict(unload.get("data")).get("kernel") in (None, running_kernel))
    skip = ["ib_unload", "stock_purge"] if resume and unload_ok and done_since("stock_purge@" + kernel) else []
    return {
        "finished": finished,
        "resume": resume,
        "transaction": sdata.get("transaction") if resume else "",
        "resumed_from": sdata.get("run_id") or "" if resume else "",
        "interrupted_in": where_it_stands(journal)["open"] if resume else [],
        "skip": skip,
    }
