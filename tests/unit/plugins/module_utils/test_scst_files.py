# SPDX-License-Identifier: GPL-3.0-or-later
"""_scst_files: the make install manifest (staged paths, what each file replaced, the rollback plan)."""
from __future__ import annotations

from ansible_collections.iser.ofed.plugins.module_utils import _scst_files as sf

K = "6.1.0-57-amd64"
A, B, C = "a" * 64, "b" * 64, "c" * 64


def test_staged_paths_leave_out_depmod_output_and_split_dirs():
    files, dirs = sf.staged_paths([
        ("lib", "dir"), ("lib/modules", "dir"), ("lib/modules/%s" % K, "dir"),
        ("lib/modules/%s/extra" % K, "dir"), ("lib/modules/%s/extra/scst.ko" % K, "file"),
        ("lib/modules/%s/modules.dep" % K, "file"), ("lib/modules/%s/modules.dep.bin" % K, "file"),
        ("lib/modules/%s/modules.symbols" % K, "file"),
        ("usr/local/sbin/iscsi-scstd", "file"), ("usr/local/lib/libx.so", "link"), ("", "dir")])
    assert files == ["/lib/modules/%s/extra/scst.ko" % K, "/usr/local/lib/libx.so", "/usr/local/sbin/iscsi-scstd"]
    assert dirs == ["/lib", "/lib/modules", "/lib/modules/%s" % K, "/lib/modules/%s/extra" % K]


def test_with_previous_backs_up_foreign_files_and_carries_own_earlier_install():
    files = ["/x/new", "/x/foreign", "/x/ours", "/x/ours-first"]
    host = {"/x/new": None, "/x/foreign": A, "/x/ours": B, "/x/ours-first": C}
    prior = [{"path": "/x/ours", "sha256": B, "previous": {"sha256": A, "backup": "/bk/x/ours"}},
             {"path": "/x/ours-first", "sha256": C, "previous": None}]
    entries, backup = sf.with_previous(files, host, prior, "/bk/")
    assert entries == [
        {"path": "/x/new", "previous": None},
        {"path": "/x/foreign", "previous": {"sha256": A, "backup": "/bk/x/foreign"}},
        {"path": "/x/ours", "previous": {"sha256": A, "backup": "/bk/x/ours"}},
        {"path": "/x/ours-first", "previous": None}]
    assert backup == ["/x/foreign"]
    # a file the prior manifest names but that changed since (someone else's now) is backed up again
    entries, backup = sf.with_previous(["/x/ours"], {"/x/ours": C}, prior, "/bk")
    assert entries[0]["previous"] == {"sha256": C, "backup": "/bk/x/ours"} and backup == ["/x/ours"]


def test_created_dirs():
    dirs = ["/lib/modules/%s/extra" % K, "/usr/local/include/scst", "/usr/local/sbin"]
    host = {"/lib/modules/%s/extra" % K: False, "/usr/local/include/scst": True, "/usr/local/sbin": True}
    assert sf.created_dirs(dirs, host, []) == ["/lib/modules/%s/extra" % K]
    assert sf.created_dirs(dirs, host, ["/usr/local/include/scst", "/gone"]) == [
        "/lib/modules/%s/extra" % K, "/usr/local/include/scst"]


def test_rollback_plan_every_case():
    manifest = [
        {"path": "/new", "sha256": A, "previous": None},
        {"path": "/new-gone", "sha256": A, "previous": None},
        {"path": "/new-changed", "sha256": A, "previous": None},
        {"path": "/old", "sha256": A, "previous": {"sha256": B, "backup": "/bk/old"}},
        {"path": "/old-restored", "sha256": A, "previous": {"sha256": B, "backup": "/bk/old-restored"}},
        {"path": "/old-gone", "sha256": A, "previous": {"sha256": B, "backup": "/bk/old-gone"}},
        {"path": "/old-changed", "sha256": A, "previous": {"sha256": B, "backup": "/bk/old-changed"}},
        {"path": "/old-nobackup", "sha256": A, "previous": {"sha256": B, "backup": "/bk/old-nobackup"}},
        {"path": "/old-badbackup", "sha256": A, "previous": {"sha256": B, "backup": "/bk/old-badbackup"}},
    ]
    host = {"/new": A, "/new-gone": None, "/new-changed": C, "/old": A, "/old-restored": B, "/old-gone": None,
            "/old-changed": C, "/old-nobackup": A, "/old-badbackup": A}
    backups = {"/bk/old": B, "/bk/old-restored": B, "/bk/old-gone": B, "/bk/old-changed": B,
               "/bk/old-nobackup": None, "/bk/old-badbackup": C}
    plan = {e["path"]: (e["action"], e["reason"]) for e in sf.rollback_plan(manifest, host, backups)}
    assert plan["/new"] == ("remove", None)
    assert plan["/new-gone"] == ("none", None)
    assert plan["/new-changed"][0] == "keep" and "changed since the install" in plan["/new-changed"][1]
    assert plan["/old"] == ("restore", None)
    assert plan["/old-restored"] == ("none", None)
    assert plan["/old-gone"] == ("restore", None)
    assert plan["/old-changed"][0] == "keep" and "changed since" in plan["/old-changed"][1]
    assert plan["/old-nobackup"] == ("keep", "its backup /bk/old-nobackup is missing")
    assert plan["/old-badbackup"][0] == "keep" and "not the saved file" in plan["/old-badbackup"][1]


def test_dirs_to_remove_deepest_first_and_only_empty():
    created = ["/a", "/a/b", "/a/b/c", "/d"]
    remaining = {"/a": ["b"], "/a/b": ["c"], "/a/b/c": [], "/d": ["someone-elses"]}
    assert sf.dirs_to_remove(created, remaining) == ["/a/b/c", "/a/b", "/a"]
    remaining["/a/b/c"] = ["kept.ko"]
    assert sf.dirs_to_remove(created, remaining) == []
    # a created directory that is gone already is not listed
    assert sf.dirs_to_remove(["/gone"], {}) == []
