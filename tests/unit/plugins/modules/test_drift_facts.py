# SPDX-License-Identifier: GPL-3.0-or-later
"""main() of iser.ofed.drift_facts on module trees and a state directory under ``tmp_path``.

The Debian 12 module tree comes from the REAL captures (``kernel_tree_builder``); the DKMS-built OFED
modules of the first kernel are CONSTRUCTED placeholders where DKMS puts them (``updates/dkms``).
"""
from __future__ import annotations

import os

from ansible_collections.iser.ofed.plugins.modules import drift_facts
from conftest import run_module, write_file as write
from kernel_tree_builder import DEBIAN12_KVER, build_debian12_modules

NEW_KVER = "6.1.0-57-amd64"  # constructed: a kernel installed after the stack


def test_facts_name_the_new_kernel_and_change_nothing(tmp_path):
    root = tmp_path / "root"
    old = build_debian12_modules(root)
    build_debian12_modules(root, NEW_KVER)
    write(old, "updates/dkms/ib_core.ko", "constructed\n")
    write(old, "modules.dep", "updates/dkms/ib_core.ko:\n")
    state = tmp_path / "state"
    before = sorted(os.walk(str(tmp_path)))
    result = run_module(drift_facts.main, {
        "modules_root": str(root / "lib/modules"), "state_dir": str(state), "target_kernel": DEBIAN12_KVER,
        "flavor": "mlnx_ofed", "version": "5.0-2.1.8.0", "packages": ["mlnx-ofed-kernel-dkms", "ofed-scripts"],
        "_ansible_check_mode": True})
    assert result["changed"] is False and not result.get("failed")
    drift = result["ansible_facts"]["iser_ofed"]["drift"]
    assert drift["detected"] is True
    assert [(i["code"], i["kernel"]) for i in drift["findings"]] == [("OFED_MODULES_MISSING", NEW_KVER)]
    assert drift["target_kernel"] == DEBIAN12_KVER and drift["running_kernel"] == os.uname().release
    assert sorted(os.walk(str(tmp_path))) == before  # read-only: no state dir created, nothing written


def test_defaults_on_a_host_without_anything(tmp_path):
    result = run_module(drift_facts.main, {"modules_root": str(tmp_path / "none"), "state_dir": str(tmp_path / "s")})
    drift = result["ansible_facts"]["iser_ofed"]["drift"]
    assert drift["detected"] is False and drift["stack"]["flavor"] is None
    assert [k["kernel"] for k in drift["kernels"]] == [os.uname().release]
    assert drift["errors"] == []
