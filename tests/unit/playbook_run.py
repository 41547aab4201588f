# SPDX-License-Identifier: GPL-3.0-or-later
"""Real ansible-playbook runs on localhost for the role tests (tests/unit/roles): this venv's ansible-core, the
working tree as the collection iser.ofed, no ansible.cfg, no colour; ``async_dir`` keeps async job files apart."""
from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# The ofed_install variables poll.yml reads, set to follow a job of a few seconds closely.
POLL_VARS = """\
    ofed_install_poll: 1
    ofed_install_progress_interval: 2
    ofed_install_progress_lines: 2
"""


def poll_play_head(name: str, state, extra_vars: str = "") -> str:
    """A localhost play's head, up to ``tasks:``, with the state directory and poll.yml's variables (timeout
    120 s); ``extra_vars``: more ``    key: value`` lines."""
    return ("- name: %s\n  hosts: localhost\n  connection: local\n  gather_facts: false\n  vars:\n"
            "    ofed_install_state_dir: %s\n%s    ofed_install_timeout: 120\n%s  tasks:\n"
            % (name, state, POLL_VARS, extra_vars))


def run_playbook(book, *args: str, async_dir=None, timeout: int = 300,
                 interpreter: str = sys.executable) -> subprocess.CompletedProcess:
    """``ansible-playbook [args] book`` in the book's directory; modules run under ``interpreter``."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_PYTHON_INTERPRETER=interpreter, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".collections"))
    if async_dir is not None:
        env["ANSIBLE_ASYNC_DIR"] = str(async_dir)
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), *args, str(book)],
                          capture_output=True, text=True, env=env, cwd=os.path.dirname(str(book)), timeout=timeout,
                          check=False)


def indented(text: str, spaces: int) -> str:
    """``text`` (task YAML taken verbatim from a role file) indented to sit under a play's ``tasks:`` or a block."""
    pad = " " * spaces
    return "\n".join((pad + line) if line.strip() else line for line in text.splitlines()) + "\n"
