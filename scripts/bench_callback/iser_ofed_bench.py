# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Callback plugin for ``make bench`` (scripts/bench.sh): counts module executions per host and times roles.

Not part of the collection's plugins (it lives under scripts/ and is enabled only by the benchmark through
ANSIBLE_CALLBACK_PLUGINS + ANSIBLE_CALLBACKS_ENABLED=iser_ofed_bench). At the end of the playbook it writes
JSON to the file named by ISER_OFED_BENCH_OUT:

* ``hosts.<host>.modules``: task (or loop item) results that carry a module's ``invocation``, i.e. a module
  that really ran on the host (controller-side actions such as set_fact, assert, debug carry none);
  ``hosts.<host>.by_action``: the same per action; ``hosts.<host>.results``: every result, by status;
  ``hosts.<host>.changed``: the tasks that reported a change;
* ``roles``: wall-clock seconds per role (or ``play`` for tasks outside roles), from one task's start to the
  next's (the linear strategy runs a task on the whole batch before the next one starts);
* ``tasks``: the slowest tasks.
"""
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: iser_ofed_bench
type: aggregate
short_description: count module executions per host and time roles (make bench)
description:
  - Writes per-host module execution counts and per-role wall time as JSON to C(ISER_OFED_BENCH_OUT).
requirements:
  - enable in configuration
"""


class CallbackModule(CallbackBase):
    """Counts module executions per host and times roles."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "iser_ofed_bench"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._hosts = {}
        self._roles = {}
        self._tasks = []
        self._current = None
        self._start = time.monotonic()

    # timing -------------------------------------------------------------------------------------------
    def _close_task(self):
        if self._current is None:
            return
        role, name, started = self._current
        spent = time.monotonic() - started
        self._roles[role] = self._roles.get(role, 0.0) + spent
        self._tasks.append((spent, role, name))
        self._current = None

    def _open_task(self, task):
        self._close_task()
        role = task._role.get_name() if getattr(task, "_role", None) else "play"
        self._current = (role, task.get_name(), time.monotonic())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._open_task(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._open_task(task)

    # counting -----------------------------------------------------------------------------------------
    def _host(self, result):
        name = result._host.get_name()
        return self._hosts.setdefault(name, {"modules": 0, "by_action": {}, "results": {}, "changed": []})

    def _count(self, result, status):
        host = self._host(result)
        host["results"][status] = host["results"].get(status, 0) + 1
        res = result._result if isinstance(result._result, dict) else {}
        items = res.get("results") if isinstance(res.get("results"), list) else None
        if items is not None:
            ran = sum(1 for item in items if isinstance(item, dict) and "invocation" in item)
        else:
            ran = 1 if "invocation" in res else 0
        if res.get("changed"):
            host["changed"].append(result._task.get_name())
        if ran:
            action = result._task.action
            host["modules"] += ran
            host["by_action"][action] = host["by_action"].get(action, 0) + ran

    def v2_runner_on_ok(self, result):
        self._count(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._count(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._count(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._close_task()
        out = os.environ.get("ISER_OFED_BENCH_OUT")
        if not out:
            return
        self._tasks.sort(reverse=True)
        data = {
            "wall_seconds": round(time.monotonic() - self._start, 2),
            "hosts": self._hosts,
            "roles": {k: round(v, 2) for k, v in sorted(self._roles.items(), key=lambda kv: -kv[1])},
            "tasks": [{"seconds": round(s, 2), "role": r, "task": n} for s, r, n in self._tasks[:25]],
        }
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
