# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the site scenario, read from the container itself (journal, dpkg, the quarantine, the installed
SCST modules for the image's kernel) and from the controller (the fleet report, the refused second run, and
the evidence prepare's site_runs.py kept: the check-mode run, the refused runs, the killed run)."""
from __future__ import annotations

import json
import os
import shlex

import pytest
import testinfra

NAME = "iser-ofed-site-mlnx"
STATE = "/var/lib/iser-ofed"
EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]


def host():
    return testinfra.get_host("podman://" + NAME)


def journal(h):
    return json.loads(h.file(STATE + "/journal.json").content_string)


def evidence(name):
    with open(os.path.join(EPHEMERAL, "evidence", name + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


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


def test_check_mode_changed_nothing_and_reported_predictions():
    ev = evidence("check")
    assert ev["rc"] == 0, ev["output"][-3000:]
    # The host as before, to the file: nothing added, removed or modified (size/mode/mtime) under /etc,
    # /lib/modules, /usr, /var/lib, /opt, /srv; the same packages; no journal record, no lock, no quarantine.
    assert ev["files"] > 1000
    diff = ev["diff"]
    assert diff["added"] == [] and diff["removed"] == [] and diff["changed"] == [], diff
    assert not (diff["packages"] or diff["journal"] or diff["lock"] or diff["quarantine"]), diff
    rec = ev["record"]
    assert rec["check_mode"] is True and rec["status"] == "done"
    by = {p["stage"]: p for p in rec["predictions"]}
    assert set(by) >= {"build_prereqs", "ib_unload", "stock_purge", "ofed_install", "iscsi_scst", "finalize"}
    assert by["ib_unload"]["would"].startswith("not unload modules (")  # a container: /proc/modules is the host's
    assert "kernel/drivers/infiniband" in by["stock_purge"]["would"] and "files" in by["stock_purge"]["would"]
    assert "predicted" in by["stock_purge"]["relies_on"]
    # A fresh host: check mode unpacks nothing, so ofed_install names the directory validate unpacks into.
    assert by["ofed_install"]["would"].startswith("run the installer of the bundle iser.ofed.validate unpacks into /")
    assert "MLNX_OFED_LINUX-5.0-2.1.8.0" in by["ofed_install"]["would"]
    assert by["iscsi_scst"]["would"].startswith("build ")
    assert "Check mode: nothing was changed" in ev["markdown"]
    assert "## %s: predictions (check mode)" % NAME in ev["markdown"]


REFUSED = {
    "package": ["ofed_install_packages_add: unknown ofed.conf key 'bogus-pkg'", "drop it from ofed_install_packages_add"],
    "argspec": ["finalize_reboot_timeout", "soon"],
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_wrong_later_input_refused_before_anything_destructive(case):
    ev = evidence("refuse-" + case)
    assert ev["rc"] != 0, ev["output"][-3000:]
    rec = ev["record"]
    assert rec["status"] == "refused" and rec["stage"] == "validate", rec
    for piece in REFUSED[case]:
        assert piece in rec["msg"], rec["msg"]
    assert "Finalization of task args" not in rec["msg"], rec["msg"]  # the check's own words, not Ansible's wrapping
    # Validate staged the bundle (its one allowed change); nothing else: no package, no quarantine, no lock,
    # no file under /lib/modules, and the journal holds no stage after validate and no transaction.
    diff = ev["diff"]
    assert not (diff["packages"] or diff["lock"] or diff["quarantine"]), diff
    assert not [p for p in diff["added"] + diff["removed"] + diff["changed"] if p.startswith("/lib/modules")], diff
    stages = ev["journal"].get("stages", {})
    assert not {s for s in stages if s.split("@")[0] in ("site", "ib_unload", "stock_purge", "ofed_install")}, stages
    assert stages["validate"]["status"] == "done"


def test_killed_run_was_resumed_without_redoing_finished_stages():
    ev = evidence("interrupt")
    h = host()
    k = h.check_output("ls -1 /lib/modules")
    killed = ev["journal"]["stages"]
    # The kill came while the installer ran in the background, after ib_unload and stock_purge were done,
    # and the installer outlived the controller.
    assert killed["ofed_install"]["status"] == "started" and killed["ofed_install"]["data"]["job"]
    assert killed["ib_unload"]["status"] == "done" and killed["stock_purge@" + k]["status"] == "done"
    assert ev["installer_pids_after_kill"], "the background installer died with the controller"
    # The lock named the killed ansible-playbook process (the one site_runs.py started and killed).
    assert ev["lock"]["controller"]["pid"] == ev["killed_pid"]
    run1 = ev["lock"]["run_id"]
    final = journal(h)
    site = final["stages"]["site"]
    # The re-run (converge) took over the dead run's lock, resumed its transaction and closed it.
    assert site["status"] == "done" and site["data"]["transaction"] == run1
    assert site["data"]["resumed_from"] == run1 and site["data"]["run_id"] != run1
    assert site["data"]["skipped"] == ["ib_unload", "stock_purge"]
    assert "run %s of " % run1 in site["data"]["lock_taken_over"]
    assert "ansible-playbook pid %d" % ev["killed_pid"] in site["data"]["lock_taken_over"]
    # Nothing redone: one start of each destructive stage, one installer job and one installer log.
    starts = [(e["stage"], e["status"]) for e in final["history"]]
    for stage in ("ib_unload", "stock_purge@" + k, "ofed_install"):
        assert starts.count((stage, "started")) == 1, (stage, final["history"])
    assert final["stages"]["ofed_install"]["data"]["job"] == killed["ofed_install"]["data"]["job"]
    logs = h.check_output("ls -1 %s/logs", STATE).split()
    assert len([name for name in logs if name.startswith("installer-")]) == 1, logs
    # Nothing lost: every file the quarantine manifest lists is in the quarantine with its checksum.
    qdir = "%s/quarantine/%s" % (STATE, k)
    manifest = json.loads(h.file(qdir + "/manifest.json").content_string)
    assert manifest["state"] == "complete"
    files = [e for e in manifest["entries"] if e["type"] == "file"]
    assert files
    # One quoted argument per file (check_output would quote a joined list as a single file name).
    sums = h.check_output("cd %s/files && sha256sum -- " % shlex.quote(qdir)
                          + " ".join(shlex.quote(e["path"]) for e in files))
    got = {line.split()[1]: line.split()[0] for line in sums.splitlines()}
    assert got == {e["path"]: e["sha256"] for e in files}


def test_converged_run_takes_the_fast_path():
    ev = evidence("fast-path")["converged"]
    assert ev["rc"] == 0, ev["stdout"][-3000:]
    recap = [line for line in ev["stdout"].splitlines() if "changed=" in line]
    assert recap and all(" changed=0 " in line for line in recap), recap
    assert "skipping: no hosts matched" in ev["stdout"], ev["stdout"]  # the pipeline play
    rec = ev["record"]
    assert rec["status"] == "done" and rec["msg"].startswith("converged (fast path): mlnx_ofed 5.0-2.1.8.0"), rec
    read = rec["fast_path"]["read"]
    assert read["checks"] == ["inputs", "lock", "journal", "bundle", "stack", "drift", "scst"]
    assert read["scst"]["modules"] == ["scst", "iscsi-scst", "isert-scst"] and read["scst"]["crc"].startswith("0x")
    assert rec["stages"]["finalize"] == "done"


def test_real_drift_makes_the_fast_path_run_the_pipeline():
    ev = evidence("fast-path")["drift"]
    assert ev["rc"] == 0, ev["stdout"][-3000:]
    k = host().check_output("ls -1 /lib/modules")
    # The callback may fold long lines: compare with the whitespace normalised.
    out = " ".join(ev["stdout"].split())
    # modules.dep still names it, its file is gone
    assert ("not converged: modinfo -k %s: isert-scst: modinfo: ERROR: could not get modinfo from 'isert_scst': "
            "No such file or directory: the pipeline runs on this host" % k) in out, out[:3000]
    assert "TASK [iser.ofed.iscsi_scst : Build scst and iscsi-scst for the target kernel]" in out
    rec = ev["record"]
    assert rec["status"] == "done" and "fast_path" not in rec, rec  # the pipeline's record
    # iscsi_scst rebuilt and reinstalled the removed module (test_iscsi_scst_built_... reads it as the build made it)
    assert host().file(ev["removed"]).is_file
