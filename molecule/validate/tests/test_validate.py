# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify of the validate scenario: each case of converge.yml was refused in the task that owns the check, with a
message that names the variable or reason and the fix, and the container shows that nothing changed (read from
the container itself: state directories, journal.json, dpkg-query, /usr/bin/ofed_info, installer log
directories), except what the good case staged. The per-case results (failed, task, message) were written by
converge.yml on the controller; everything else is read independently here."""
from __future__ import annotations

import hashlib
import json
import os
import re

import pytest
import testinfra

HOST = "iser-ofed-val-1"
EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
STATE = "/var/lib/iser-ofed-val"
MLNX = "MLNX_OFED_LINUX-5.0-2.1.8.0-debian12-x86_64.tgz"
RELEASE_CHECK = "Refuse a bundle that cannot be read or does not support the target"
SPACE_CHECK = "Refuse when the staging, tmp or build directory is short of space"
SMALL_TMP = "/var/tmp/iser-small"

# case -> (task that refused, substrings the message must contain). Cases run in this order.
REFUSED = {
    "url_and_path": ("Check that exactly one bundle source is given",
                     ["iser_ofed_bundle_url is 'file://", "iser_ofed_bundle_path is '/", "set exactly one of them"]),
    "url_without_checksum": ("Check the bundle checksum",
                             ["iser_ofed_bundle_checksum (role variable validate_bundle_checksum) is ''",
                              "a bundle URL needs it", "give it as <algorithm>:<hex digest>"]),
    "url_wrong_checksum": ("Refuse a bundle URL that cannot be fetched with its checksum",
                           ["iser_ofed_bundle_url 'file://", "/OFED-1.5.tgz' could not be fetched",
                            "iser_ofed_bundle_checksum 'sha256:" + "0" * 64, "did not match",
                            "correct iser_ofed_bundle_url or iser_ofed_bundle_checksum"]),
    "truncated": (RELEASE_CHECK, ["/truncated/" + MLNX + " is truncated or corrupt", "download it again"]),
    "truncated_checksum": ("Refuse a controller bundle whose checksum differs",
                           ["/truncated/" + MLNX + " on the controller has sha256",
                            "(iser_ofed_bundle_checksum): the file is not the bundle you meant",
                            "correct iser_ofed_bundle_checksum"]),
    "flavor_mismatch": ("Check that the bundle is the wanted flavor",
                        ["is MLNX_OFED_LINUX-5.0-2.1.8.0 (mlnx_ofed, from its .mlnx)",
                         "iser_ofed_flavor (role variable validate_flavor) is 'ofed'",
                         "set iser_ofed_flavor to mlnx_ofed"]),
    "version_mismatch": ("Check that the bundle is the wanted version",
                         ["is version 5.0-2.1.8.0 (from its .mlnx)",
                          "iser_ofed_version (role variable validate_version) '5.8' does not match",
                          "correct iser_ofed_version"]),
    "distro_mismatch": (RELEASE_CHECK,
                        ["the bundle is intended for ubuntu20.04, the host runs debian12",
                         "Use the MLNX_OFED bundle built for debian12", "set validate_allow_unsupported: true"]),
    "arch_mismatch": (RELEASE_CHECK,
                      ["the bundle is built for aarch64, the host is x86_64",
                       "Use the MLNX_OFED bundle built for x86_64", "set validate_allow_unsupported: true"]),
    "unsupported_kernel": (RELEASE_CHECK,
                           ["is not supported by OFED-1.5", "is not listed in section 1.2 of docs/OFED_release_notes.txt",
                            "Nearest supported kernels: kernel.org 2.6.29", "set validate_allow_unsupported: true"]),
    "headers_missing": ("Refuse when no headers package for the target kernel is installed or installable",
                        ["headers of kernel 6.1.0-999-amd64", "tried: linux-headers-6.1.0-999-amd64",
                         "Check iser_ofed_target_kernel"]),
    "no_space": (SPACE_CHECK,
                 ["not enough free space for MLNX_OFED_LINUX-5.0-2.1.8.0", "1073741824 MiB needed",
                  "set validate_min_free_mb"]),
    # iser_ofed_tmp_dir on the 8 MiB tmpfs: only that directory is short (the staging directory is not).
    "tmp_dir_short": (SPACE_CHECK,
                      ["not enough free space for MLNX_OFED_LINUX-5.0-2.1.8.0: /var/tmp/iser-small (on "
                       "/var/tmp/iser-small): ", " MiB free, 3072 MiB needed; (the threshold",
                       "iser_ofed_tmp_dir (role variables validate_tmp_dir and ofed_install_tmpdir)"]),
    "build_dir_short": (SPACE_CHECK,
                        ["not enough free space for OFED-3.5: /var/tmp/iser-small/ofed-build (on /var/tmp/iser-small): ",
                         " MiB free, 2048 MiB needed; (the threshold", "iser_ofed_build_dir elsewhere"]),
    "build_dir_mlnx": ("Refuse a build directory the installer cannot use",
                       ["iser_ofed_build_dir (role variable validate_build_dir) is '/var/tmp/ofed-build'",
                        "MLNX_OFED_LINUX-5.0-2.1.8.0 has no --builddir option", "unset iser_ofed_build_dir",
                        "set iser_ofed_tmp_dir"]),
    "secure_boot": ("Refuse Secure Boot without a way to sign and enroll the modules",
                    ["Secure Boot is on (/sys/firmware/efi/efivars/SecureBoot-8be4df61",
                     "Set validate_secure_boot_key and validate_secure_boot_cert", "turn Secure Boot off"]),
}
UNKNOWN_PACKAGE = ("Refuse the package set before ofed.conf is written",
                   ["ofed_install_packages_add: unknown ofed.conf key 'bogus-pkg' for MLNX_OFED 5.0-2.1.8.0",
                    "Unsupported package: bogus-pkg", "drop it from ofed_install_packages_add",
                    "no ofed.conf written, no installer run"])
ORDER = list(REFUSED) + ["fresh_parent", "good", "unknown_package", "installer_fails"]
STACK_PACKAGES = ("ofed-scripts", "mlnx-ofed-kernel-utils", "mlnx-ofed-kernel-dkms", "linux-headers-6.1.0-999-amd64")


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host("podman://" + HOST)


@pytest.fixture(scope="module")
def results():
    with open(os.path.join(EPHEMERAL, "validate-cases.json"), encoding="utf-8") as handle:
        return {r["case"]: r for r in json.load(handle)}


@pytest.fixture(scope="module")
def state(host):
    """Every case's state directory in one read: {case: {"entries": [...], "journal": {...} or None}}."""
    script = ("import json, os, sys\n"
              "top = sys.argv[1]\n"
              "out = {}\n"
              "for case in sorted(os.listdir(top)):\n"
              "    d = os.path.join(top, case)\n"
              "    j = os.path.join(d, 'journal.json')\n"
              "    out[case] = {'entries': sorted(os.listdir(d)),\n"
              "                 'journal': json.load(open(j)) if os.path.isfile(j) else None}\n"
              "print(json.dumps(out))\n")
    return json.loads(host.check_output("python3 -c %s %s", script, STATE))


def journal(state, case):
    return state[case]["journal"]


def listing(state, case):
    return state[case]["entries"]


def refused_in(result):
    """The roles' rescues re-fail with "<role> refused in '<task>': <msg>"."""
    match = re.match(r"(?:validate|ofed_install) refused in '([^']*)': (.*)$", result["msg"] or "", re.S)
    return (match.group(1), match.group(2)) if match else (result["task"], result["msg"])


def test_every_case_ran(results, state):
    assert sorted(results) == sorted(ORDER)
    # one state directory per case; unknown_package shares the good case's
    assert sorted(state) == sorted(c for c in ORDER if c != "unknown_package")


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_in_its_task_naming_the_variable_and_the_fix(results, case):
    task, pieces = REFUSED[case]
    result = results[case]
    assert result["failed"], "%s was not refused" % case
    where, msg = refused_in(result)
    assert where == task, "%s refused in %r: %s" % (case, where, msg)
    for piece in pieces:
        assert piece in msg, "%s: %r not in %s" % (case, piece, msg)


def test_release_check_message_names_the_role_variable_once(results):
    _where, msg = refused_in(results["unsupported_kernel"])
    assert "set allow_unsupported" not in msg
    assert msg.count("validate_allow_unsupported") == 1, msg


@pytest.mark.parametrize("case", list(REFUSED))
def test_refusal_journaled_and_nothing_staged(state, results, case):
    # "Nothing changed" for a refused case: its state directory holds the journal and nothing else (no
    # bundles/ staging directory, no copied or unpacked bundle, no ofed.conf, no logs/).
    assert listing(state, case) == ["journal.json"]
    record = journal(state, case)
    assert sorted(record["stages"]) == ["validate"]
    assert record["stages"]["validate"]["status"] == "failed"
    where, _msg = refused_in(results[case])
    assert record["stages"]["validate"]["data"]["error"].startswith("%s: " % where)


def test_good_case_passes_and_stages_the_bundle(host, state, results):
    assert results["good"]["failed"] is False, results["good"]["msg"]
    record = journal(state, "good")["stages"]["validate"]
    assert record["status"] == "done"
    assert (record["data"]["flavor"], record["data"]["version"]) == ("mlnx_ofed", "5.0-2.1.8.0")
    staged = "%s/good/bundles/%s" % (STATE, MLNX)
    with open(os.path.join(EPHEMERAL, "bundles", "good", MLNX), "rb") as handle:
        assert host.file(staged).sha256sum == hashlib.sha256(handle.read()).hexdigest()
    unpacked = host.file("%s/good/bundles/MLNX_OFED_LINUX-5.0-2.1.8.0-debian12-x86_64/.mlnx" % STATE)
    assert unpacked.content_string.strip() == "5.0-2.1.8.0"


def test_state_dir_under_missing_parents_passes_and_stages(host, state, results):
    # /var/lib/iser-ofed-val/fresh_parent/new/state: none of new/state existed before validate.
    assert results["fresh_parent"]["failed"] is False, results["fresh_parent"]["msg"]
    assert listing(state, "fresh_parent") == ["new"]
    staged = "%s/fresh_parent/new/state/bundles/%s" % (STATE, MLNX)
    assert host.file(staged).is_file
    assert host.file(staged).sha256sum == host.file("%s/good/bundles/%s" % (STATE, MLNX)).sha256sum


def test_unknown_package_refused_before_ofed_conf(state, results):
    result = results["unknown_package"]
    assert result["failed"]
    where, msg = refused_in(result)
    assert where == UNKNOWN_PACKAGE[0], "refused in %r: %s" % (where, msg)
    for piece in UNKNOWN_PACKAGE[1]:
        assert piece in msg, "%r not in %s" % (piece, msg)
    # The good case's state directory: its staged bundle and the journal, no ofed.conf, no logs/.
    assert listing(state, "good") == ["bundles", "journal.json"]
    stages = journal(state, "good")["stages"]
    assert stages["validate"]["status"] == "done"
    assert stages["ofed_install"]["status"] == "failed"
    assert "bogus-pkg" in stages["ofed_install"]["data"]["error"]


def test_controller_cache_holds_only_the_good_download():
    # The wrong-checksum URL (OFED-1.5.tgz) left nothing in the controller cache; the good URL is there once.
    assert sorted(os.listdir(os.path.join(EPHEMERAL, "cache"))) == [MLNX]


def test_nothing_installed_and_only_the_failing_installer_ran(host):
    assert not host.file("/usr/bin/ofed_info").exists
    assert not host.file("/etc/infiniband").exists
    for pkg in STACK_PACKAGES:
        status = host.run("dpkg-query -W -f '${db:Status-Abbrev}' %s", pkg)
        assert status.rc != 0 or not status.stdout.startswith("ii"), "%s is installed" % pkg
    # install.pl makes /tmp/OFED.<pid>.logs, mlnxofedinstall <tmpdir>/MLNX_OFED_LINUX.<pid>.logs: only the
    # installer_fails case ran one, with its --tmpdir on the small file system; nothing under the other state
    # directories is an ofed.conf or an installer log directory.
    assert host.check_output("find /tmp -maxdepth 1 -name '*.logs'") == ""
    assert len(host.check_output("find %s -maxdepth 1 -name 'MLNX_OFED_LINUX.*.logs'", SMALL_TMP).split()) == 1
    assert host.check_output("find %s -path %s/installer_fails -prune -o \\( -name ofed.conf -o -name logs \\) -print",
                             STATE, STATE) == ""
    assert not host.file("/var/lib/iser-ofed").exists
    assert not host.file(SMALL_TMP + "/ofed-build").exists  # build_dir_short was refused before it was made


def test_installer_failure_shows_its_tail_and_the_exit_codes_meaning(host, state, results):
    result = results["installer_fails"]
    assert result["failed"], "installer_fails was not refused"
    match = re.match(r"ofed_install failed in '([^']*)': (.*)$", result["msg"] or "", re.S)
    assert match, result["msg"]
    task, msg = match.groups()
    assert task.startswith("Wait for the installer"), task
    # the module's explanation of exit 28, then the installer's own last lines (colour codes stripped)
    assert "./mlnxofedinstall exited 28: not enough free space. What to do: free space in the tmp directory" in msg
    assert "The installer (exit 28: not enough free space) printed last: " in msg
    assert "Logs dir: %s/MLNX_OFED_LINUX." % SMALL_TMP in msg
    assert re.search(r"Error: Not enough free space in %s: \d+ MB available, 200 MB required\." % SMALL_TMP, msg), msg
    assert "\x1b[" not in msg
    # validate passed, the failure is journaled with the tail, the exit code and its meaning
    stages = journal(state, "installer_fails")["stages"]
    assert stages["validate"]["status"] == "done"
    record = stages["ofed_install"]
    assert record["status"] == "failed"
    data = record["data"]
    assert (data["rc"], data["meaning"]) == (28, "not enough free space")
    assert any(re.match(r"Error: Not enough free space in %s: " % SMALL_TMP, line) for line in data["log_tail"])
    assert data["error"].startswith("Wait for the installer")
    # the full output is kept under the state directory, and is what the tail was cut from
    log = host.file(data["log"])
    assert data["log"].startswith("%s/installer_fails/logs/installer-" % STATE) and log.is_file
    assert data["log_tail"][-1] in log.content_string


def test_headerless_kernel_and_secure_boot_left_as_they_were(host):
    assert host.file("/lib/modules/6.1.0-999-amd64").is_directory
    assert not host.file("/lib/modules/6.1.0-999-amd64/build").exists
    assert not host.file("/sys/firmware/efi").exists
