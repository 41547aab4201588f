# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Action for ``iser.ofed.drift_facts``: keeps the other ``iser_ofed`` sub-keys a host already has."""
from __future__ import annotations

from ansible_collections.iser.ofed.plugins.plugin_utils._facts_action import FactsMergingAction


class ActionModule(FactsMergingAction):
    """Run ``iser.ofed.drift_facts`` and merge its facts under ``ansible_facts.iser_ofed``."""
