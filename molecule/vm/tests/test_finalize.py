# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of iser.ofed.finalize on the VM's real kernel (the end of side_effect.yml).

After ib_unload masked the auto-load and unloaded the stack, a stand-in for ofed_install enabled the openibd
stand-in unit (files/openibd-standin.service) and recorded a finished stage asking for a reboot. Then
finalize ran three times (finalize.yml): run 1 with iser_ofed_site_reboot false, run 2 with it true, run 3
the same again; a fourth run against a journal in which ofed_install finished had to refuse the loaded
in-tree stack. The snapshots (files/snapshot.py) hold the boot id, the journal, /proc/modules and the
probes (systemctl is-enabled/is-active openibd, the /dev/null masks) after each run; the last test reads
the VM's state now, on its own: /proc/modules, modinfo -n, readelf -n of each file, /sys/module/*/notes.
"""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import yaml

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = SCENARIO.parents[1]


def standin_modules() -> list[str]:
    """The modules the openibd stand-in loads (its ExecStart: modprobe -a ...)."""
    text = (SCENARIO / "files" / "openibd-standin.service").read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("ExecStart="))
    return line.split(" -a ", 1)[1].split()


def intended_modules() -> list[str]:
    defaults = yaml.safe_load((PROJECT / "roles" / "finalize" / "defaults" / "main.yml").read_text(encoding="utf-8"))
    return defaults["finalize_intended_modules"]


def stage(snapshot: dict, name: str) -> dict:
    journal = snapshot.get("journal") or {}
    assert name in journal.get("stages", {}), "no %s record in the journal of %s" % (name, snapshot["name"])
    return journal["stages"][name]


def probe(snapshot: dict, label: str) -> str:
    return snapshot["probes"][label]["output"].strip()


def recap_changed(log: str) -> int:
    match = re.search(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0\b", log, re.M)
    assert match, "no recap without failures in the run's output:\n%s" % log[-1500:]
    return int(match.group(1))


def task_result(log: str, task: str) -> str:
    """The first result line (ok/changed/skipping...) of the task whose header contains `task`."""
    for section in log.split("\nTASK [")[1:]:
        header, _sep, body = section.partition("\n")
        if task in header:
            return body.strip().split("\n", 1)[0]
    raise AssertionError("task %r is not in the run's output" % task)


def note_build_id(hexdump: str) -> str:
    """GNU build-id from the hex of /sys/module/<m>/notes/.note.gnu.build-id (an ELF note)."""
    data = bytes.fromhex(hexdump)
    namesz, descsz, ntype = struct.unpack_from("<III", data, 0)
    name = data[12:12 + namesz].rstrip(b"\0")
    assert name == b"GNU" and ntype == 3, (name, ntype)
    start = 12 + ((namesz + 3) & ~3)
    return data[start:start + descsz].hex()


def test_run1_reboot_needed_not_allowed(snap, evidence):
    """Run 1: masks lifted, openibd started and the stack it loads checked; the reboot is refused and
    reported, reboot.pending recorded, and the VM did not reboot."""
    before, run1 = snap("before_finalize"), snap("finalize_run1")
    assert run1["boot_id"] == before["boot_id"], "the VM rebooted although iser_ofed_site_reboot was false"
    data = stage(run1, "finalize")["data"]
    assert data["reboot"]["pending"] is True and data["reboot"]["allowed"] is False, data["reboot"]
    assert any(r.startswith("vm_install_standin reported reboot_required") for r in data["reboot"]["reasons"]), data
    assert data["reboot"]["rebooted_for"] == []
    assert "REBOOT NEEDED, NOT DONE: vm_install_standin reported reboot_required" in evidence("finalize_run1.log")
    # The masks ib_unload created (units, udev rules) are gone: each was a link to /dev/null before.
    unload = stage(before, "ib_unload")["data"]
    assert unload["masked_units"], "ib_unload masked nothing: nothing to prove"
    masks = {"/etc/systemd/system/" + u for u in unload["masked_units"]}
    masks |= {"/etc/udev/rules.d/" + r for r in unload.get("masked_udev_rules", [])}
    links_before, links_after = probe(before, "devnull_links").split(), probe(run1, "devnull_links").split()
    assert masks <= set(links_before), links_before
    assert not masks & set(links_after), links_after
    assert sorted(data["unmasked_units"]) == sorted(unload["masked_units"])
    assert sorted(data["unmasked_udev_rules"]) == sorted(unload.get("masked_udev_rules", []))
    # openibd: enabled, not running, stack unloaded before; running and its modules loaded after.
    assert (probe(before, "openibd_enabled"), probe(before, "openibd_active")) == ("enabled", "inactive")
    assert probe(run1, "openibd_active") == "active"
    standin = set(standin_modules())
    assert not standin & set(before["loaded"]), "already loaded before finalize: %s" % (standin & set(before["loaded"]))
    assert standin <= set(run1["loaded"]), "openibd did not load %s" % (standin - set(run1["loaded"]))
    assert data["services"] == ["openibd"] and data["services_skipped"] is None
    modules = data["modules"]
    assert modules["ok"] is True and modules["expected"] == "in_tree" and modules["mismatches"] == [], modules
    assert sorted(modules["loaded"]) == sorted(set(intended_modules()) & set(run1["loaded"]))


def test_run2_reboots_and_checks_what_loads_at_boot(snap, evidence):
    """Run 2: allowed, the VM really rebooted (new boot id), openibd came up at boot, and the modules that
    loaded after the boot are the in-tree files."""
    run1, run2 = snap("finalize_run1"), snap("finalize_run2")
    assert run2["boot_id"] != run1["boot_id"], "no reboot happened in run 2"
    assert task_result(evidence("finalize_run2.log"), "Reboot the host").startswith("changed:")
    data = stage(run2, "finalize")["data"]
    reboot = data["reboot"]
    assert reboot["pending"] is False and reboot["allowed"] is True and reboot["reasons"] == [], reboot
    assert any(r.startswith("vm_install_standin reported reboot_required") for r in reboot["rebooted_for"]), reboot
    assert reboot["btime"] > stage(run1, "finalize")["data"]["reboot"]["btime"]
    assert (probe(run2, "openibd_enabled"), probe(run2, "openibd_active")) == ("enabled", "active")
    assert set(standin_modules()) <= set(run2["loaded"])
    modules = data["modules"]
    assert modules["ok"] is True and modules["expected"] == "in_tree" and modules["mismatches"] == [], modules
    assert sorted(modules["loaded"]) == sorted(set(intended_modules()) & set(run2["loaded"]))


def test_run3_changes_nothing(snap, evidence):
    run2, run3 = snap("finalize_run2"), snap("finalize_run3")
    assert recap_changed(evidence("finalize_run3.log")) == 0
    assert run3["boot_id"] == run2["boot_id"]
    assert stage(run3, "finalize") == stage(run2, "finalize"), "run 3 rewrote the final record"
    assert sorted(run3["loaded"]) == sorted(run2["loaded"])


def test_loaded_modules_are_the_in_tree_files_now(host, snap):
    """The VM now, read without the collection: each loaded module of the intended list resolves to
    kernel/ of the running kernel, and the GNU build-id in memory equals the file's."""
    kver = host.check_output("uname -r")
    assert host.file("/proc/sys/kernel/random/boot_id").content_string.strip() == snap("finalize_run3")["boot_id"]
    loaded = {line.split()[0] for line in host.file("/proc/modules").content_string.splitlines()}
    mine = sorted(loaded & set(intended_modules()))
    assert set(standin_modules()) <= set(mine)
    out = host.check_output(
        "for m in %s; do p=$(modinfo -n $m); printf '%%s %%s %%s %%s\\n' $m $p "
        "$(readelf -n $p | sed -n 's/.*Build ID: *//p') "
        "$(od -An -v -tx1 /sys/module/$m/notes/.note.gnu.build-id | tr -d ' \\n')" "; done" % " ".join(mine))
    rows = [line.split() for line in out.splitlines()]
    assert [r[0] for r in rows] == mine
    for name, path, file_id, notes in rows:
        assert path.startswith("/lib/modules/%s/kernel/" % kver), (name, path)
        assert note_build_id(notes) == file_id, "%s in memory is not %s" % (name, path)
    final = json.loads(host.file("/var/lib/iser-ofed/journal.json").content_string)["stages"]["finalize"]
    assert final["status"] == "done" and sorted(final["data"]["modules"]["loaded"]) == mine
    assert host.run("systemctl is-active openibd.service").stdout.strip() == "active"
    assert host.run("systemctl is-enabled openibd.service").stdout.strip() == "enabled"
    for unit in final["data"]["unmasked_units"]:
        assert host.run("systemctl is-enabled %s", unit).stdout.strip() != "masked", unit


def test_a_loaded_stack_that_is_not_the_intended_one_fails(host, snap, evidence):
    """Against a journal in which ofed_install finished (intended: updates/), the loaded in-tree kernel/
    modules fail the check with the reason and the fix; nothing changed on the VM."""
    result = json.loads(evidence("finalize_negative.json"))
    assert result.get("failed") is True, result
    msg = result["msg"]
    assert "The loaded modules are not the intended ofed stack's" in msg, msg
    assert re.search(r"ib_core resolves to /lib/modules/\S+/kernel/drivers/infiniband/core/ib_core\.ko \(in_tree\), "
                     r"not to the ofed stack's directory \(updates/extra/weak-updates\)", msg), msg
    assert "Run depmod -a, unload the stack (iser.ofed.ib_unload) and start the services again, or roll back. " \
           "Fix the cause and run the role again" in msg, msg
    negative = json.loads(host.file("/root/iser-ofed-negative/journal.json").content_string)["stages"]["finalize"]
    assert negative["status"] == "failed"
    loaded = {line.split()[0] for line in host.file("/proc/modules").content_string.splitlines()}
    assert loaded == set(snap("finalize_run3")["loaded"])
