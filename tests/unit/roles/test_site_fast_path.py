# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/site.yml's fast path decisions, through real ansible-playbook runs of the real playbook on this
machine as an inventory host (connection local; state and report directories under tmp_path).

The host here has never been installed (no journal under the state dir), so the fast path must send it through
the pipeline, which then refuses it in preflight or validate (the bundle given exists nowhere): nothing
destructive can run.
A converged host cannot be made here (it needs an installed OFED stack and built SCST modules): Molecule
``site`` proves that case on a real converged container, and the drift case that makes the fast path refuse.
"""
from __future__ import annotations

import json
import os

from playbook_run import REPO, run_playbook

# site.yml imports every role, and build_prereqs uses community.general (the `ansible` package of .venv); the
# ansible-core 2.18 venv has ansible-core only and cannot even parse the playbook, so `make test-unit-2.18`
# leaves this file out (--ignore, Makefile) and `make test-unit-2.19` runs it.


def run_site(tmp_path, *args):
    scst = tmp_path / "scst-3.8.0.tar.bz2"
    scst.write_bytes(b"an SCST source archive on the controller")
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"buildhost": {
        "ansible_connection": "local", "iser_ofed_state_dir": str(tmp_path / "state"),
        "iser_ofed_site_report_dir": str(tmp_path / "reports"), "iser_ofed_flavor": "mlnx_ofed",
        "iser_ofed_version": "5.0-2.1.8.0",
        "iser_ofed_bundle_path": str(tmp_path / "MLNX_OFED_LINUX-5.0-2.1.8.0-debian12-x86_64.tgz"),
        "iser_ofed_bundle_checksum": "sha256:" + "0" * 64, "iscsi_scst_source_path": str(scst)}}}}),
        encoding="utf-8")
    book = tmp_path / "site.yml"
    book.write_text("- name: Site\n  ansible.builtin.import_playbook: %s\n" % os.path.join(REPO, "playbooks", "site.yml"),
                    encoding="utf-8")
    proc = run_playbook(book, "-i", str(inventory), *args, timeout=600)
    record_file = tmp_path / "reports" / "buildhost.site.json"
    record = json.loads(record_file.read_text(encoding="utf-8")) if record_file.exists() else {}
    return proc, record


def test_a_host_never_installed_goes_through_the_pipeline(tmp_path):
    # (skipped tags that are no stage's, as Molecule passes them, leave the fast path on)
    proc, record = run_site(tmp_path, "--skip-tags", "molecule-notest,notest")
    out = " ".join(proc.stdout.split())
    assert "not converged: the host has no journal: never installed by iser.ofed: the pipeline runs on this host" in out
    assert "PLAY [Install the iSER stack on the fleet" in out and "TASK [iser.ofed.preflight : " in proc.stdout
    # preflight refuses it (the bundle given exists nowhere): before anything could change
    assert record["status"] == "refused" and record["stage"] == "preflight" and "fast_path" not in record, record
    assert proc.returncode != 0
    assert not os.path.exists(tmp_path / "state" / "site.lock")  # the pipeline released its lock


def test_tags_or_the_input_turn_the_fast_path_off(tmp_path):
    proc, record = run_site(tmp_path, "--tags", "iser_ofed_validate")
    assert "Read whether the host is converged for this run] *" in proc.stdout
    assert "skipping: [buildhost]" in proc.stdout.split("Read whether the host is converged for this run]")[1].split("TASK")[0]
    assert record["status"] == "refused" and record["stage"] == "validate", record
    proc, _record = run_site(tmp_path, "--skip-tags", "iser_ofed_finalize")
    assert "skipping: [buildhost]" in proc.stdout.split("Read whether the host is converged for this run]")[1].split("TASK")[0]
    proc, _record = run_site(tmp_path, "-e", "iser_ofed_site_fast_path=false")
    assert "skipping: [buildhost]" in proc.stdout.split("Read whether the host is converged for this run]")[1].split("TASK")[0]
    proc, _record = run_site(tmp_path, "-e", "iser_ofed_site_fast_path=maybe")
    assert proc.returncode != 0 and "iser_ofed_site_fast_path must be true" in " ".join(proc.stdout.split())
