# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the site scenario, read from the container itself (journal, dpkg, the quarantine, the installed
SCST modules for the image's kernel) and from the controller (the fleet report, the refused second run)."""
from __future__ import annotations

import json
import os

import testinfra

NAME = "iser-ofed-site-mlnx"
STATE = "/var/lib/iser-ofed"
EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]


def host():
    return testinfra.get_host("podman://" + NAME)


def journal(h):
    return json.loads(h.file(STATE + "/journal.json").content_string)


def test_every_stage_done_in_order():
    h = host()
    k = h.check_output("ls -1 /lib/modules")
    stages = journal(h)["stages"]
    for stage in ("validate", "ib_unload", "stock_purge@" + k, "ofed_install", "iscsi_scst", "finalize"):
        matches = [name for name in stages if name == stage]
        assert matches, "journal has no stage %s: %s" % (stage, sorted(stages))
        assert stages[stage]["status"] == "done", (stage, stages[stage])
    # In a container the unload is skipped (the host's /proc/modules), and the journal says so.
    assert stages["ib_unload"]["data"].get("unload_skipped")
    first = {}
    for entry in journal(h)["history"]:
        first.setdefault(entry["stage"], len(first))
    order = ["validate", "ib_unload", "stock_purge@" + k, "ofed_install", "iscsi_scst", "finalize"]
    assert [first[s] for s in order] == sorted(first[s] for s in order)


def test_stack_installed_and_stock_modules_quarantined():
    h = host()
    k = h.check_output("ls -1 /lib/modules")
    for pkg in ("ofed-scripts", "mlnx-ofed-kernel-dkms"):
        assert h.package(pkg).is_installed
    assert "5.0-2.1.8.0" in h.check_output("ofed_info -s")
    stock = h.run("find /lib/modules/%s/kernel/drivers/infiniband -name '*.ko*'" % k)
    assert stock.stdout.strip() == ""


def test_iscsi_scst_built_against_the_bundle_for_the_image_kernel():
    h = host()
    k = h.check_output("ls -1 /lib/modules")
    for mod in ("scst", "iscsi-scst", "isert-scst"):
        filename = h.check_output("modinfo -k %s -F filename %s", k, mod)
        assert filename == "/lib/modules/%s/extra/%s.ko" % (k, mod), filename
        assert h.check_output("modinfo -k %s -F vermagic %s", k, mod).split()[0] == k
    # the fixture bundle's emulated DKMS build made the header tree iscsi-scst built against
    assert h.file("/usr/src/ofa_kernel/x86_64/%s/Module.symvers" % k).is_file


def test_second_run_refused_by_the_lock_of_a_live_process():
    with open(os.path.join(EPHEMERAL, "lock-refusal.json"), encoding="utf-8") as handle:
        ev = json.load(handle)
    assert ev["rc"] != 0
    # The callback may fold long lines: compare with the whitespace normalised.
    out = " ".join(ev["stdout"].split())
    assert "locked by run other-run of tower job 7 (pid %d on " % ev["holder_pid"] in out
    assert ev["journal_unchanged"] is True
    # Nothing past the lock ran: no stage role task appears in the refused run's output.
    assert "Validate the inputs" not in ev["stdout"] and "iser.ofed.validate" not in ev["stdout"]
    # The other run's lock is left in place.
    lock = json.loads(host().file(STATE + "/site.lock").content_string)
    assert lock["run_id"] == "other-run" and lock["pid"] == ev["holder_pid"]


def test_fleet_report_and_records():
    reports = os.path.join(EPHEMERAL, "reports")
    with open(os.path.join(reports, NAME + ".site.json"), encoding="utf-8") as handle:
        rec = json.load(handle)
    # The last run written is the refused one: the report says so, and still shows where the host stands.
    assert rec["status"] == "locked" and rec["stages"]["finalize"] == "done"
    assert "locked by run other-run of tower job 7" in rec["msg"]
    with open(os.path.join(reports, "site-report.md"), encoding="utf-8") as handle:
        md = handle.read()
    assert "| %s | locked |" % NAME in md
    assert os.path.getsize(os.path.join(reports, "site-report.html")) > 0
