# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Action for ``iser.ofed.ofed_bundle_iso``: the conversion runs in the controller's own Python.

The image is on the controller and so is the cache: running the conversion in the process that runs Ansible
(where the collection's requirements.txt, pycdlib, is installed: the EE, the venv) does not depend on which
interpreter ``ansible_python_interpreter`` names for localhost (a system Python without pycdlib, set in
``group_vars/all``, applies to the implicit localhost too). The module file holds the documentation; its
``main()`` does the same when the module is run without this action (e.g. ``ansible -m`` on another host).
"""
from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

from ansible_collections.iser.ofed.plugins.module_utils import _bundle
from ansible_collections.iser.ofed.plugins.module_utils import _iso

ARGUMENT_SPEC = {
    "src": {"type": "path", "required": True},
    "dest": {"type": "path", "required": True},
}


class ActionModule(ActionBase):
    """Convert the ISO image ``src`` into ``<dest>/iso-<sha256>/<name>.tgz`` on the controller."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        result.update(_iso.run(os.path.expanduser(args["src"]), os.path.expanduser(args["dest"]), _bundle.find_root,
                               check_mode=bool(self._play_context.check_mode)))
        return result
