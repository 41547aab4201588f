# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/ofed_install with a bundle directory that is not unpacked yet (as in `site --check` before validate
has staged anything): check mode says what would run and changes nothing; a real run refuses, naming the
installer it looked for. Real ansible-playbook runs of the whole role on localhost with this venv's
ansible-core (ansible-core 2.19 renders an assert's fail_msg even when the assertion holds: a message that
reads a key the stat result lacks broke check mode there)."""
from __future__ import annotations

import os

from playbook_run import run_playbook

PLAY = """\
- name: ofed_install on a bundle directory nothing has unpacked
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: iser.ofed.ofed_install
      vars:
        ofed_install_bundle_dir: {bundle}
        ofed_install_flavor: mlnx_ofed
        ofed_install_version: "5.0"
        ofed_install_target_kernel: 6.1.0-28-amd64
        ofed_install_state_dir: {state}
"""


def run(tmp_path, *args):
    bundle = tmp_path / "staging" / "MLNX_OFED_LINUX-5.0-2.1.8.0-debian12-x86_64"
    book = tmp_path / "play.yml"
    book.write_text(PLAY.format(bundle=bundle, state=tmp_path / "state"))
    return run_playbook(book, *args), bundle


def test_check_mode_before_the_bundle_is_unpacked_predicts_and_changes_nothing(tmp_path):
    result, bundle = run(tmp_path, "--check")
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"Check mode: {bundle} is not unpacked yet" in result.stdout
    assert "mlnx_ofed 5.0 would run for kernel 6.1.0-28-amd64" in result.stdout
    assert sorted(os.listdir(tmp_path)) == ["play.yml"]  # no state directory, no journal


def test_a_real_run_refuses_naming_the_missing_installer(tmp_path):
    result, bundle = run(tmp_path)
    assert result.returncode == 2, result.stdout[-3000:]
    assert f"{bundle}/mlnxofedinstall does not exist on localhost" in result.stdout
    assert "Run iser.ofed.validate" in result.stdout
