# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Base action for the collection's ``*_facts`` modules.

Ansible merges the ``ansible_facts`` a module returns into the host's facts one level deep only, so two
modules that both return ``iser_ofed`` would overwrite each other. Each facts module owns one sub-key
(``iser_ofed.kernel``, ``iser_ofed.ofed``); this action runs the module and returns ``iser_ofed`` with the
host's existing sub-keys kept and the module's own sub-keys replaced.
"""
from __future__ import annotations

from ansible.plugins.action import ActionBase

FACTS_KEY = "iser_ofed"


def merge_facts(existing, new):
    """Return ``existing`` updated with ``new`` one level below ``iser_ofed``; inputs are not modified."""
    merged = dict(existing) if isinstance(existing, dict) else {}
    merged.update(new or {})
    return merged


class FactsMergingAction(ActionBase):
    """Run the module of the same name and merge its ``iser_ofed`` facts with the host's."""

    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        module_name = getattr(self._task, "resolved_action", None) or self._task.action
        module_result = self._execute_module(
            module_name=module_name, module_args=self._task.args, task_vars=task_vars
        )
        result.update(module_result)
        new_facts = (module_result.get("ansible_facts") or {}).get(FACTS_KEY)
        if new_facts is not None:
            existing = (task_vars.get("ansible_facts") or {}).get(FACTS_KEY)
            result["ansible_facts"] = dict(module_result.get("ansible_facts") or {})
            result["ansible_facts"][FACTS_KEY] = merge_facts(existing, new_facts)
        return result
