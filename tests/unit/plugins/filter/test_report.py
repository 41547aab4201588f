# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the report filters (plugins/filter/report.py).

The ``iser_ofed`` facts below are constructed (hand-written after the schema in docs/facts.md), with values
taken from real captures where one exists: the Debian 12 kernel 6.1.0-50-amd64 and its stock module tree
(captured/debian12-kernel: 24 files under kernel/drivers/infiniband, 4 under .../ethernet/mellanox), and
MLNX_OFED 5.0's ``ofed_info -s`` line and ofed-scripts version (captured/ofed_info, captured/pkg-query).
"""
from __future__ import annotations

import copy
import re
from html.parser import HTMLParser

import pytest

from ansible_collections.iser.ofed.plugins.filter import report

GARBAGE = '<script>alert("x")</script> | `rm` & <b>bold</b>\n| injected | row |'

# constructed: a Debian 12 host (VM) with the stock kernel, no OFED, no headers, nothing loaded.
DEBIAN_KERNEL = {
    "running": "6.1.0-50-amd64",
    "target": "6.1.0-50-amd64",
    "target_is_running": True,
    "arch": "x86_64",
    "distribution": {"id": "debian", "version": "12", "major_version": "12", "codename": "bookworm",
                     "family": "debian", "pretty_name": "Debian GNU/Linux 12 (bookworm)"},
    "modules_dir": "/lib/modules/6.1.0-50-amd64",
    "modules_dir_exists": True,
    "build_dir": "/lib/modules/6.1.0-50-amd64/build",
    "build_dir_exists": False,
    "config": {"path": "/boot/config-6.1.0-50-amd64", "infiniband": "m"},
    "ib_register_client_in_modules_symbols": True,
    "stock_dirs": [
        {"rel": "kernel/drivers/infiniband", "layout": "infiniband", "exists": True, "files": 24, "bytes": 4000000},
        {"rel": "kernel/drivers/net/mlx4", "layout": "mlx4_old", "exists": False, "files": 0, "bytes": 0},
        {"rel": "kernel/drivers/net/ethernet/mellanox/mlx4", "layout": "mellanox", "exists": True, "files": 2,
         "bytes": 900000},
        {"rel": "kernel/drivers/net/ethernet/mellanox/mlx5", "layout": "mellanox", "exists": True, "files": 1,
         "bytes": 2000000},
    ],
    "modules": {"readable": True, "manageable": True, "reason": "", "loaded_ib": []},
    "virtualization": {"container": None, "vm": "kvm"},
    "secure_boot": {"state": "disabled", "source": "mokutil --sb-state"},
    "root_fs": {"mount": "/", "device": "/dev/vda1", "fstype": "ext4", "read_only": False, "rdma": False},
    "boot_fs": {"mount": "/", "device": "/dev/vda1", "fstype": "ext4", "read_only": False, "rdma": False},
    "errors": [],
}

NO_OFED = {
    "installed": False,
    "flavor": None,
    "version": None,
    "ofed_info": {"path": "/usr/bin/ofed_info", "present": False, "first_line": None, "kind": None},
    "ofed_scripts": {"installed": False, "version": None, "manager": None},
    "packages": [],
    "hardware": [],
    "services": {},
    "scst_build_flavor": "in-tree",
    "errors": [],
}

# constructed: MLNX_OFED 5.0 installed with ofed-scripts (versions from the captures).
MLNX_50 = {
    "installed": True,
    "flavor": "mlnx_ofed",
    "version": "5.0-2.1.8",
    "ofed_info": {"path": "/usr/bin/ofed_info", "present": True, "first_line": "OFED-internal-5.0-2.1.8:",
                  "kind": "ofed_internal"},
    "ofed_scripts": {"installed": True, "version": "5.0-OFED.5.0.2.1.8", "manager": "dpkg"},
    "packages": [],
    "hardware": [{"slot": "0000:03:00.0", "vendor": "15b3", "device": "1017", "name": "ConnectX-5",
                  "driver": "mlx5_core", "firmware": "16.28.1002", "dropped_after": None}],
    "services": {},
    "scst_build_flavor": "MOFED",
    "errors": [],
}

INPUTS = {"target_kernel": "", "flavor": "mlnx_ofed", "version": "5.8-3.0.7.0", "bundle_url": "",
          "bundle_path": "/srv/bundles/MLNX_OFED_LINUX-5.8-3.0.7.0-debian12.1-x86_64", "state_dir": "/var/lib/iser-ofed"}
SUPPORTED = {"changed": False, "supported": True, "reason": "debian12.1 x86_64 row matches"}


def facts(kernel=None, ofed=None, **changes):
    data = {"kernel": copy.deepcopy(DEBIAN_KERNEL if kernel is None else kernel),
            "ofed": copy.deepcopy(NO_OFED if ofed is None else ofed)}
    for dotted, value in changes.items():
        node = data
        keys = dotted.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return data


def codes(items):
    return [i["code"] for i in items]


# --- version matching -----------------------------------------------------------------------------------

@pytest.mark.parametrize("wanted, actual, expected", [
    ("5.8", "5.8-3.0.7.0", True),
    ("5.8-3", "5.8-3.0.7.0", True),
    ("5.8-3.0.7.0", "5.8-3.0.7.0", True),
    ("5.80", "5.8-3.0.7.0", False),
    ("5.8.3", "5.8-3.0.7.0", False),
    ("5.8-3.0.7.0.1", "5.8-3.0.7.0", False),
    ("5", "5.0-2.1.8", True),
    ("", "5.0-2.1.8", False),
    ("5.0", None, False),
])
def test_version_matches(wanted, actual, expected):
    assert report.version_matches(wanted, actual) is expected


# --- blockers, warnings, next ---------------------------------------------------------------------------

def test_clean_vm_is_ready_with_full_plan():
    record = report.preflight_record(facts(kernel__build_dir_exists=True), INPUTS, SUPPORTED, "vm1")
    assert record["status"] == "ready"
    assert record["blockers"] == []
    assert record["supported"]["verdict"] == "supported"
    assert record["next"] == ("install MLNX_OFED 5.8-3.0.7.0; quarantine 3 stock IB module dirs (27 files); "
                              "build iscsi-scst")
    assert "NO_IB_HARDWARE" in codes(record["warnings"])


def test_missing_headers_names_the_debian_package():
    record = report.preflight_record(facts(), INPUTS, SUPPORTED, "vm1")
    assert record["status"] == "blocked"
    assert codes(record["blockers"]) == ["HEADERS_MISSING"]
    assert "install linux-headers-6.1.0-50-amd64" in record["blockers"][0]["msg"]
    assert record["next"].startswith("blocked by HEADERS_MISSING; then: install MLNX_OFED 5.8-3.0.7.0")


def test_headers_package_by_family():
    kernel = dict(DEBIAN_KERNEL, distribution={"family": "redhat"}, target="4.18.0-305.el8.x86_64")
    assert report.headers_package(kernel) == "kernel-devel-4.18.0-305.el8.x86_64"


def test_container_without_proc_modules():
    kernel = copy.deepcopy(DEBIAN_KERNEL)
    kernel["modules"] = {"readable": False, "manageable": False, "loaded_ib": [],
                         "reason": "running in a container: /proc/modules and uname -r belong to the host"}
    kernel["virtualization"] = {"container": "podman", "vm": None}
    kernel["errors"] = [{"code": "PROC_MODULES_UNREADABLE", "msg": "/proc/modules is absent"}]
    record = report.preflight_record(facts(kernel=kernel), dict(INPUTS, bundle_path=""), None, "c1")
    assert codes(record["blockers"]) == ["MODULES_NOT_MANAGEABLE", "HEADERS_MISSING"]
    assert "running in a container" in record["blockers"][0]["msg"]
    # the facts error stays in "errors" but is not repeated as a warning under the blocker
    assert "PROC_MODULES_UNREADABLE" not in codes(record["warnings"])
    assert record["errors"] == [{"source": "kernel", "code": "PROC_MODULES_UNREADABLE", "msg": "/proc/modules is absent"}]
    assert record["supported"]["verdict"] == "not_checked"
    assert "BUNDLE_NOT_SET" in codes(record["warnings"])


def test_garbage_ofed_info_is_a_named_blocker():
    ofed = dict(NO_OFED, installed=True, flavor=None, version=None,
                ofed_info={"path": "/usr/bin/ofed_info", "present": True, "first_line": GARBAGE, "kind": None},
                errors=[{"code": "OFED_INFO_UNPARSEABLE", "msg": "first line of ofed_info is not known: %s" % GARBAGE}])
    record = report.preflight_record(facts(ofed=ofed, kernel__build_dir_exists=True), INPUTS, SUPPORTED, "g1")
    assert record["status"] == "blocked"
    assert "OFED_INFO_UNPARSEABLE" in codes(record["blockers"])
    assert "OFED_SCRIPTS_MISSING" in codes(record["blockers"])
    assert record["errors"][0]["code"] == "OFED_INFO_UNPARSEABLE"
    assert record["next"].startswith("blocked by OFED_INFO_UNPARSEABLE, OFED_SCRIPTS_MISSING; then: replace an unknown OFED")


def test_flavor_mismatch_and_replace():
    record = report.preflight_record(facts(ofed=MLNX_50, kernel__build_dir_exists=True),
                                     dict(INPUTS, flavor="ofed", version="4.8-2"), SUPPORTED, "h")
    assert codes(record["blockers"]) == ["FLAVOR_MISMATCH"]
    assert "set iser_ofed_flavor: mlnx_ofed" in record["blockers"][0]["msg"]
    assert "replace MLNX_OFED 5.0-2.1.8 with OFED 4.8-2" in record["next"]


def test_installed_matching_version_is_kept():
    kernel = copy.deepcopy(DEBIAN_KERNEL)
    kernel["build_dir_exists"] = True
    kernel["modules"]["loaded_ib"] = [{"name": "ib_core"}, {"name": "mlx5_ib"}]
    record = report.preflight_record(facts(kernel=kernel, ofed=MLNX_50), dict(INPUTS, version="5.0"), SUPPORTED, "h")
    assert record["status"] == "ready"
    assert record["next"] == "keep MLNX_OFED 5.0-2.1.8 (already installed); build iscsi-scst against it"
    assert record["loaded_ib_modules"] == ["ib_core", "mlx5_ib"]
    assert record["hardware"][0]["name"] == "ConnectX-5"


def test_loaded_modules_counted_in_next():
    kernel = copy.deepcopy(DEBIAN_KERNEL)
    kernel["build_dir_exists"] = True
    kernel["modules"]["loaded_ib"] = [{"name": n} for n in ("mlx5_ib", "ib_uverbs", "ib_core", "mlx5_core",
                                                            "mlxfw", "ib_ipoib", "rdma_cm")]
    record = report.preflight_record(facts(kernel=kernel, ofed=MLNX_50), INPUTS, SUPPORTED, "h")
    assert record["next"] == ("replace MLNX_OFED 5.0-2.1.8 with MLNX_OFED 5.8-3.0.7.0; unload 7 IB modules; "
                              "quarantine 3 stock IB module dirs (27 files); build iscsi-scst")


def test_ofed_without_ofed_scripts_is_blocked():
    ofed = dict(MLNX_50, ofed_scripts={"installed": False, "version": None, "manager": None})
    record = report.preflight_record(facts(ofed=ofed, kernel__build_dir_exists=True), INPUTS, SUPPORTED, "h")
    assert codes(record["blockers"]) == ["OFED_SCRIPTS_MISSING"]


@pytest.mark.parametrize("key, code", [("root_fs", "ROOT_ON_RDMA"), ("boot_fs", "BOOT_ON_RDMA")])
def test_root_or_boot_on_rdma(key, code):
    data = facts(kernel__build_dir_exists=True)
    data["kernel"][key] = {"mount": "/", "device": "/dev/sda1", "fstype": "ext4", "rdma": True}
    assert code in codes(report.preflight_record(data, INPUTS, SUPPORTED)["blockers"])


@pytest.mark.parametrize("state, blocker, warning", [
    ("enabled", ["SECURE_BOOT_ENABLED"], False),
    ("unknown", [], True),
    ("disabled", [], False),
])
def test_secure_boot(state, blocker, warning):
    record = report.preflight_record(facts(kernel__build_dir_exists=True, kernel__secure_boot={"state": state}),
                                     INPUTS, SUPPORTED)
    assert codes(record["blockers"]) == blocker
    assert ("SECURE_BOOT_UNKNOWN" in codes(record["warnings"])) is warning


def test_target_kernel_not_installed():
    data = facts(kernel__target="6.1.0-99-amd64", kernel__target_is_running=False, kernel__modules_dir_exists=False,
                 kernel__modules_dir="/lib/modules/6.1.0-99-amd64")
    record = report.preflight_record(data, INPUTS, SUPPORTED)
    assert codes(record["blockers"])[0] == "TARGET_KERNEL_MISSING"
    assert "TARGET_NOT_RUNNING" in codes(record["warnings"])


@pytest.mark.parametrize("check, verdict, blocked", [
    ({"supported": True, "reason": "row"}, "supported", False),
    ({"supported": False, "reason": "kernel 6.1 not in the release notes"}, "unsupported", True),
    ({"supported": None}, "unknown", False),
    ({"skipped": True}, "not_checked", False),
    ({"failed": True, "msg": "bundle not found"}, "unknown", False),
])
def test_release_verdict(check, verdict, blocked):
    record = report.preflight_record(facts(kernel__build_dir_exists=True), INPUTS, check)
    assert record["supported"]["verdict"] == verdict
    assert ("KERNEL_UNSUPPORTED" in codes(record["blockers"])) is blocked
    if blocked:
        assert "kernel 6.1 not in the release notes" in record["blockers"][0]["msg"]


def test_bundle_url_is_not_checked_by_preflight():
    inputs = dict(INPUTS, bundle_path="", bundle_url="https://mirror.example/MLNX.tgz")
    verdict = report.release_verdict(None, inputs)
    assert verdict["verdict"] == "not_checked" and "validate stage" in verdict["reason"]


def test_missing_facts_are_blockers():
    record = report.preflight_record({}, INPUTS, None, "h")
    assert codes(record["blockers"]) == ["KERNEL_FACTS_MISSING", "OFED_FACTS_MISSING"]


def test_state_dir_present_warns():
    record = report.preflight_record(facts(), dict(INPUTS, state_dir_exists=True), SUPPORTED)
    assert "STATE_DIR_PRESENT" in codes(record["warnings"])


def test_error_record_rejects_unknown_status():
    with pytest.raises(ValueError, match="failed or unreachable"):
        report.preflight_error_record("h", "ready", "x")


def test_fleet_records_fill_missing_hosts():
    ok = report.preflight_record(facts(), INPUTS, SUPPORTED, "a")
    out = report.fleet_records([ok, None, {"weird": 1}], ["a", "b", "c"])
    assert [r["host"] for r in out] == ["a", "b", "c"]
    assert [r["status"] for r in out] == ["blocked", "failed", "failed"]
    assert "no preflight record" in out[1]["error"]["msg"]


# --- fleet report ---------------------------------------------------------------------------------------

def fleet():
    garbage_ofed = dict(NO_OFED, installed=True,
                        ofed_info={"path": "/usr/bin/ofed_info", "present": True, "first_line": GARBAGE, "kind": None},
                        errors=[{"code": "OFED_INFO_UNPARSEABLE", "msg": "unknown first line: %s" % GARBAGE}])
    return [
        report.preflight_record(facts(ofed=garbage_ofed), INPUTS, SUPPORTED, "zeta<i>"),
        report.preflight_record(facts(kernel__build_dir_exists=True), INPUTS, SUPPORTED, "alpha"),
        report.preflight_error_record("down", "unreachable", "Failed to connect to the host via ssh: <timeout>",
                                      "Ping the host"),
    ]


def test_fleet_summary():
    summary = report.fleet_summary(fleet())
    assert summary["hosts"] == 3
    assert summary["ready"] == ["alpha"]
    assert summary["blocked"] == ["zeta<i>"]
    assert summary["unreachable"] == ["down"]
    assert summary["failed"] == []
    assert summary["blockers"]["zeta<i>"][:2] == ["HEADERS_MISSING", "OFED_INFO_UNPARSEABLE"]
    assert summary["errors"] == {"down": "Failed to connect to the host via ssh: <timeout>"}


def _split_row(line):
    """Cells of a Markdown table row, honouring backslash-escaped pipes."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def test_markdown_table_shape_and_escaping():
    text = report.fleet_markdown(fleet())
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 3  # header, separator, one row per host
    assert all(len(_split_row(r)) == len(report.COLUMNS) for r in rows)
    hosts = [_split_row(r)[0].split("<br>")[0] for r in rows[2:]]
    assert hosts == ["alpha", "down", "zeta&lt;i&gt;"]  # sorted by host name, escaped
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "\\| injected \\| row \\|" in text
    assert "1 ready, 1 blocked, 0 failed, 1 unreachable" in text


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_html_escapes_garbage_and_is_self_contained():
    page = report.fleet_html(fleet())
    parser = _Collector()
    parser.feed(page)
    assert "script" not in parser.tags and "b" not in parser.tags and "i" not in parser.tags
    assert parser.tags.count("tr") == 1 + 3
    assert parser.tags.count("th") == len(report.COLUMNS)
    text = "".join(parser.text)
    assert '<script>alert("x")</script>' in text  # shown as text, not markup
    assert "OFED_INFO_UNPARSEABLE" in text
    assert "UNREACHABLE: [Ping the host] Failed to connect to the host via ssh: <timeout>" in text
    assert not re.search(r"""(src|href)\s*=""", page)  # no external assets
    assert "<style>" in page


def test_html_row_classes_follow_status():
    page = report.fleet_html(fleet())
    assert re.findall(r'<tr class="(\w+)">', page) == ["ready", "unreachable", "blocked"]


def test_empty_fleet():
    assert "0 hosts" in report.fleet_markdown([])
    assert "<tbody></tbody>" in report.fleet_html([]).replace("\n", "")


# constructed: shaped like the RETURN of iser.ofed.ofed_release_check (allow_unsupported=true)
UNSUPPORTED_MLNX = {"changed": False, "supported": False, "match": "none",
                    "reason": "no mlnx-ofed-kernel-modules package for 6.1.0-50-amd64 and no DKMS package",
                    "release": {"flavor": "mlnx_ofed", "version": "5.0-2.1.8.0", "source": ".mlnx",
                                "name": "MLNX_OFED_LINUX-5.0-2.1.8.0"},
                    "nearest": ["5.4.0-26-generic"]}


def test_unsupported_bundle_names_nearest_and_mismatches():
    record = report.preflight_record(facts(kernel__build_dir_exists=True), INPUTS, UNSUPPORTED_MLNX, "h")
    assert codes(record["blockers"]) == ["KERNEL_UNSUPPORTED", "BUNDLE_VERSION_MISMATCH"]
    assert "nearest supported: 5.4.0-26-generic" in record["blockers"][0]["msg"]
    assert "iser_ofed_version is 5.8-3.0.7.0" in record["blockers"][1]["msg"]
    assert record["supported"]["release"]["version"] == "5.0-2.1.8.0"
    # the plan names the bundle's full version
    assert "install MLNX_OFED 5.0-2.1.8.0" in record["next"]


def test_bundle_flavor_mismatch():
    record = report.preflight_record(facts(kernel__build_dir_exists=True), dict(INPUTS, flavor="ofed", version=""),
                                     dict(UNSUPPORTED_MLNX, supported=True), "h")
    assert codes(record["blockers"]) == ["BUNDLE_FLAVOR_MISMATCH"]


def test_verdict_keys_are_stable():
    keys = {"verdict", "reason", "bundle", "match", "release", "nearest"}
    for check in (None, {"skipped": True}, {"failed": True}, SUPPORTED, UNSUPPORTED_MLNX):
        assert set(report.release_verdict(check, INPUTS)) == keys
    assert set(report.release_verdict(None, dict(INPUTS, bundle_path=""))) == keys
    assert set(report.preflight_error_record("h", "failed", "x")["supported"]) == keys
    assert set(report.preflight_error_record("h", "failed", "x")) == set(report.preflight_record(facts(), INPUTS, SUPPORTED))


def test_facts_errors_explained_by_a_blocker_are_not_repeated():
    data = facts(kernel__target="6.1.0-99-amd64", kernel__modules_dir_exists=False,
                 kernel__config={"path": None, "infiniband": None}, kernel__ib_register_client_in_modules_symbols=False,
                 kernel__errors=[{"code": "TARGET_KERNEL_NOT_INSTALLED", "msg": "not installed"},
                                 {"code": "FILE_UNREADABLE", "msg": "/boot/config: permission denied"}])
    record = report.preflight_record(data, INPUTS, SUPPORTED)
    warnings = codes(record["warnings"])
    assert "TARGET_KERNEL_NOT_INSTALLED" not in warnings and "FILE_UNREADABLE" in warnings
    assert "KERNEL_IB_DISABLED" not in warnings  # nothing to say about a kernel that is not there
    assert [e["code"] for e in record["errors"]] == ["TARGET_KERNEL_NOT_INSTALLED", "FILE_UNREADABLE"]


# --- next: what the plan says without a flavor, and other wordings ---------------------------------------

NO_FLAVOR = dict(INPUTS, flavor="", version="", bundle_path="")
# constructed: the MLNX_OFED 5.0 bundle's release check, supported this time.
SUPPORTED_MLNX_50 = dict(UNSUPPORTED_MLNX, supported=True, match="exact")


def test_no_flavor_keeps_the_installed_stack():
    record = report.preflight_record(facts(ofed=MLNX_50, kernel__build_dir_exists=True), NO_FLAVOR, None, "h")
    assert record["next"] == "keep MLNX_OFED 5.0-2.1.8 (iser_ofed_flavor not set: nothing to install)"
    assert "FLAVOR_NOT_SET" in codes(record["warnings"])


def test_no_flavor_with_a_bundle_names_the_bundle_but_installs_nothing():
    inputs = dict(NO_FLAVOR, bundle_path="/srv/bundles/MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64")
    record = report.preflight_record(facts(ofed=MLNX_50, kernel__build_dir_exists=True), inputs, SUPPORTED_MLNX_50, "h")
    assert record["next"] == ("keep MLNX_OFED 5.0-2.1.8 (iser_ofed_flavor not set: nothing to install; "
                              "the bundle is MLNX_OFED 5.0-2.1.8.0)")
    record = report.preflight_record(facts(kernel__build_dir_exists=True), inputs, SUPPORTED_MLNX_50, "h")
    assert record["next"] == ("no OFED installed; nothing to install "
                              "(iser_ofed_flavor not set; the bundle is MLNX_OFED 5.0-2.1.8.0)")


def test_no_flavor_and_no_ofed_installs_nothing():
    record = report.preflight_record(facts(kernel__build_dir_exists=True), NO_FLAVOR, None, "h")
    # nothing is installed, so nothing is unloaded, quarantined or built either
    assert record["next"] == "no OFED installed; nothing to install (iser_ofed_flavor not set)"


def test_no_flavor_and_no_ofed_facts():
    record = report.preflight_record({"kernel": copy.deepcopy(DEBIAN_KERNEL)}, NO_FLAVOR, None, "h")
    assert record["next"].endswith("; then: nothing to install (iser_ofed_flavor not set; installed OFED unknown)")


def test_unknown_installed_stack_is_not_called_absent():
    record = report.preflight_record({"kernel": copy.deepcopy(DEBIAN_KERNEL)}, INPUTS, SUPPORTED, "h")
    assert codes(record["blockers"]) == ["OFED_FACTS_MISSING", "HEADERS_MISSING"]
    assert "then: install MLNX_OFED 5.8-3.0.7.0 (installed OFED unknown);" in record["next"]


def test_same_flavor_and_no_version_keeps_the_installed_stack():
    inputs = dict(INPUTS, version="", bundle_path="")
    record = report.preflight_record(facts(ofed=MLNX_50, kernel__build_dir_exists=True), inputs, None, "h")
    assert record["next"] == ("keep MLNX_OFED 5.0-2.1.8 (already installed; iser_ofed_version not set and no bundle "
                              "version: any version will do); build iscsi-scst against it")


def test_other_flavor_bundle_version_is_not_lent_to_the_wanted_flavor():
    # the bundle is MLNX_OFED 5.0-2.1.8.0 but OFED is wanted: the plan must not say "install OFED 5.0-2.1.8.0"
    record = report.preflight_record(facts(kernel__build_dir_exists=True), dict(INPUTS, flavor="ofed", version="4.8-2"),
                                     SUPPORTED_MLNX_50, "h")
    assert codes(record["blockers"]) == ["BUNDLE_FLAVOR_MISMATCH", "BUNDLE_VERSION_MISMATCH"]
    assert "then: install OFED 4.8-2;" in record["next"]
    record = report.preflight_record(facts(kernel__build_dir_exists=True), dict(INPUTS, flavor="ofed", version=""),
                                     SUPPORTED_MLNX_50, "h")
    assert "then: install OFED;" in record["next"]


@pytest.mark.parametrize("ofed", [NO_OFED, MLNX_50, None], ids=["no-ofed", "mlnx-5.0", "no-ofed-facts"])
@pytest.mark.parametrize("check, bundle", [(None, ""), (SUPPORTED_MLNX_50, "/srv/b"), (UNSUPPORTED_MLNX, "/srv/b")],
                         ids=["no-bundle", "bundle-ok", "bundle-unsupported"])
def test_without_a_flavor_the_plan_never_installs_or_replaces(ofed, check, bundle):
    data = {"kernel": copy.deepcopy(DEBIAN_KERNEL)}
    if ofed is not None:
        data["ofed"] = copy.deepcopy(ofed)
    next_text = report.preflight_record(data, dict(NO_FLAVOR, bundle_path=bundle), check, "h")["next"]
    assert "iser_ofed_flavor not set" in next_text
    assert not re.search(r"\b(replace|unload|quarantine|build)\b|\binstall [A-Z]", next_text), next_text
    if ofed is MLNX_50:
        assert "keep MLNX_OFED 5.0-2.1.8 " in next_text


# --- drift (iser_ofed.drift from iser.ofed.drift_facts) ---------------------------------------------------

def drift_facts(tmp_path, garbage_version=False):
    """Real drift facts: _drift.gather_drift over the captured Debian 12 tree with MLNX_OFED's DKMS modules
    (constructed placeholders) and a second kernel installed after them."""
    from ansible_collections.iser.ofed.plugins.module_utils._drift import gather_drift
    from kernel_tree_builder import build_debian12_modules, write

    root = tmp_path / "root"
    old = build_debian12_modules(root, "6.1.0-50-amd64")
    write(old, "updates/dkms/ib_core.ko", "constructed\n")
    write(old, "modules.dep", "updates/dkms/ib_core.ko:\n")
    build_debian12_modules(root, "6.1.0-57-amd64")
    return gather_drift(str(root / "lib/modules"), str(tmp_path / "state"), "6.1.0-50-amd64",
                        flavor="mlnx_ofed", version=GARBAGE if garbage_version else "5.0-2.1.8",
                        packages=["mlnx-ofed-kernel-dkms"])


def test_record_shows_drift_as_items_with_fixes_and_a_warning(tmp_path):
    data = facts(ofed=MLNX_50, kernel__build_dir_exists=True)
    data["drift"] = drift_facts(tmp_path)
    record = report.preflight_record(data, dict(INPUTS, version="5.0"), SUPPORTED, "h")
    drift = record["drift"]
    assert drift["checked"] is True and drift["detected"] is True
    assert [(i["code"], i["kernel"]) for i in drift["findings"]] == [("OFED_MODULES_MISSING", "6.1.0-57-amd64")]
    assert "dkms autoinstall -k 6.1.0-57-amd64" in drift["findings"][0]["fix"]
    assert [(k["kernel"], k["status"], k["running"]) for k in drift["kernels"]] == [
        ("6.1.0-50-amd64", "ok", True), ("6.1.0-57-amd64", "missing", False)]
    assert drift["quarantines"] == []
    warning = next(w for w in record["warnings"] if w["code"] == "DRIFT_DETECTED")
    assert "OFED_MODULES_MISSING 6.1.0-57-amd64" in warning["msg"]
    # drift is reported, it does not block (preflight_fail_on_drift decides in the role)
    assert record["status"] == "ready" and record["blockers"] == []
    assert record["next"].endswith("; fix the drift (OFED_MODULES_MISSING 6.1.0-57-amd64)")


def test_record_without_drift_facts_says_not_checked():
    record = report.preflight_record(facts(), INPUTS, SUPPORTED, "h")
    assert record["drift"] == {"checked": False, "detected": None, "findings": [], "kernels": [], "quarantines": []}
    assert "DRIFT_DETECTED" not in codes(record["warnings"])
    assert report._cells(record)["drift"] == ["not checked"]
    assert report.preflight_error_record("h", "failed", "x")["drift"] == record["drift"]


def test_drift_facts_errors_are_reported(tmp_path):
    data = facts()
    data["drift"] = dict(drift_facts(tmp_path), errors=[{"code": "JOURNAL_UNREADABLE", "msg": "not JSON"}])
    record = report.preflight_record(data, INPUTS, SUPPORTED, "h")
    assert {"source": "drift", "code": "JOURNAL_UNREADABLE", "msg": "not JSON"} in record["errors"]
    assert "JOURNAL_UNREADABLE" in codes(record["warnings"])


def test_fleet_report_has_a_drift_column_and_count(tmp_path):
    data = facts(ofed=MLNX_50, kernel__build_dir_exists=True)
    data["drift"] = drift_facts(tmp_path, garbage_version=True)
    clean = facts(kernel__build_dir_exists=True)
    clean["drift"] = {"findings": [], "kernels": [], "quarantines": []}
    records = [report.preflight_record(data, INPUTS, SUPPORTED, "drifted"),
               report.preflight_record(clean, INPUTS, SUPPORTED, "clean")] + fleet()
    summary = report.fleet_summary(records)
    assert summary["drift"] == {"drifted": ["OFED_MODULES_MISSING"]}
    text = report.fleet_markdown(records)
    rows = {_split_row(r)[0].split("<br>")[0]: _split_row(r) for r in text.splitlines() if r.startswith("| ")}
    column = report.COLUMNS.index("drift")
    cell = rows["drifted"][column]
    assert cell.startswith("OFED_MODULES_MISSING (6.1.0-57-amd64): kernel 6.1.0-57-amd64 (installed) has no MLNX_OFED")
    assert "; fix: install linux-headers-6.1.0-57-amd64 and run \\`dkms autoinstall" in cell  # backticks escaped
    assert "dkms autoinstall -k 6.1.0-57-amd64" in cell and "<script>" not in cell
    assert rows["clean"][column] == "none" and rows["alpha"][column] == "not checked"
    assert "5 hosts: 3 ready, 1 blocked, 0 failed, 1 unreachable; 1 with drift." in text
    page = report.fleet_html(records)
    assert page.count('<td class="drift">') == 1
    assert "OFED_MODULES_MISSING (6.1.0-57-amd64)" in page and '<script>alert' not in page
