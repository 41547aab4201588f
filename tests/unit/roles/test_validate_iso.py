# SPDX-License-Identifier: GPL-3.0-or-later
"""iser.ofed.validate with an ISO image of the fixture MLNX_OFED bundle (xorriso, Rock Ridge + Joliet, the tree
at the image's root as the vendor's), by iser_ofed_bundle_path and by iser_ofed_bundle_url (a local
http.server on 127.0.0.1) with its checksum: real ansible-playbook runs of the whole role on localhost with
this venv's ansible-core. The image is converted once on the controller into the bundle's .tgz, staged and
unpacked like the .tgz itself, with the same validate_bundle facts and the same unpacked tree (modes, symlinks,
content); a second run converts and downloads nothing (changed=0); --check on a fresh host writes nothing
there.

The target kernel is a Debian kernel whose headers package apt knows (not installed): validate's headers
check then finds it installable, as on a host about to install it (this machine has no /lib/modules)."""
from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading

import pytest

from iso_images import build_tgz, make_iso, tree_listing, unpack
from playbook_run import run_playbook

NAME = "MLNX_OFED_LINUX-5.0-2.1.8.0-skip-distro-check-x86_64"

PLAY = """\
- name: validate {case}
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    iser_ofed_target_kernel: {kernel}
    iser_ofed_state_dir: {work}/{case}/state
    validate_controller_cache: {work}/{case}/cache
    validate_allow_unsupported: true   # DKMS without the headers installed: supported once they are
    validate_min_free_mb: 1
{source}
  roles:
    - role: iser.ofed.validate
  post_tasks:
    - name: Keep the facts for the test
      ansible.builtin.copy:
        content: "{{{{ validate_bundle | to_nice_json }}}}"
        dest: {work}/{case}/facts.json
        mode: "0644"
      when: not ansible_check_mode
"""


def debian_kernel() -> str:
    """A Debian 12 kernel release whose linux-headers package is in this machine's apt lists."""
    names = subprocess.run(["apt-cache", "pkgnames", "linux-headers-"], capture_output=True, text=True,
                           check=False).stdout.split()
    releases = sorted(m.group(1) for m in map(re.compile(r"^linux-headers-(\d+\.\d+\.\d+-\d+-amd64)$").match, names)
                      if m)
    assert releases, "no linux-headers-<release>-amd64 in the apt lists: run apt-get update (scripts/host-setup.sh)"
    return releases[-1]


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        self.server.requests.append(self.path)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    work = tmp_path_factory.mktemp("validate-iso")
    tgz = build_tgz(str(work / "src"))
    iso = make_iso(unpack(tgz, str(work / "tree")), str(work / "src" / (NAME + ".iso")))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_Handler, directory=str(work / "src")))
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with open(iso, "rb") as handle:
        checksum = "sha256:" + hashlib.sha256(handle.read()).hexdigest()
    yield {"work": work, "tgz": tgz, "iso": iso, "kernel": debian_kernel(), "server": server, "checksum": checksum,
           "url": "http://127.0.0.1:%d/%s.iso" % (server.server_address[1], NAME)}
    server.shutdown()
    thread.join(10)


def run(setup, cases, *args, interpreter=sys.executable):
    """One ansible-playbook run, one play per case: tgz (path), iso (path), url (ISO by URL + checksum)."""
    sources = {
        "tgz": "    iser_ofed_bundle_path: %s" % setup["tgz"],
        "iso": "    iser_ofed_bundle_path: %s" % setup["iso"],
        "url": "    iser_ofed_bundle_url: %s\n    iser_ofed_bundle_checksum: %s" % (setup["url"], setup["checksum"]),
        "check": "    iser_ofed_bundle_path: %s" % setup["iso"],
    }
    work = setup["work"]
    for case in cases:  # the state directory's parent exists, as /var/lib does for the default state directory
        (work / case).mkdir(exist_ok=True)
    book = work / ("play-%s.yml" % "-".join(cases))
    book.write_text("\n".join(PLAY.format(case=c, kernel=setup["kernel"], work=work, source=sources[c]) for c in cases))
    result = run_playbook(book, *args, timeout=540, interpreter=interpreter)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def facts(setup, case):
    with open(setup["work"] / case / "facts.json", encoding="utf-8") as handle:
        return json.load(handle)


def task_status(stdout, task):
    """``changed`` / ``ok`` / ... lines printed under each run of ``task``."""
    blocks = re.findall(r"TASK \[iser\.ofed\.validate : %s\][^\n]*\n(\w+):" % re.escape(task), stdout)
    return blocks


CONVERT = "Convert the ISO image into the bundle's .tgz in the controller cache (once for the fleet)"


@pytest.fixture(scope="module")
def first(setup):
    return run(setup, ["tgz", "iso", "url"])


def test_an_iso_by_path_is_converted_staged_and_unpacked_like_the_tgz(setup, first):
    work = setup["work"]
    assert task_status(first, CONVERT) == ["skipping", "changed", "changed"]  # tgz; the path's and the URL's caches
    by_tgz, by_iso = facts(setup, "tgz"), facts(setup, "iso")
    assert by_iso["name"] == NAME + ".iso" and by_tgz["name"] == NAME + ".tgz"
    for key in ("flavor", "version", "release", "kernel", "supported", "match", "headers_package"):
        assert by_iso[key] == by_tgz[key], key
    assert (by_iso["flavor"], by_iso["version"], by_iso["kernel"]) == ("mlnx_ofed", "5.0-2.1.8.0", setup["kernel"])
    assert by_iso["archive"] == "%s/iso/state/bundles/%s.tgz" % (work, NAME)
    assert by_iso["dir"] == "%s/iso/state/bundles/%s" % (work, NAME)
    assert by_tgz["dir"] == "%s/tgz/state/bundles/%s" % (work, NAME)
    # the unpacked trees are the same: names, modes (mlnxofedinstall 0755), symlinks, content
    from_iso, from_tgz = tree_listing(by_iso["dir"]), tree_listing(by_tgz["dir"])
    assert from_iso == from_tgz
    assert from_iso["mlnxofedinstall"][:2] == ("file", 0o755)
    link = from_iso["DEBS/UPSTREAM_LIBS/mlnx-ofed-kernel-dkms_5.0-OFED.5.0.2.1.8.1.g5f67178_all.deb"]
    assert link == ("link", "../COMMON/mlnx-ofed-kernel-dkms_5.0-OFED.5.0.2.1.8.1.g5f67178_all.deb")
    # the controller cache holds the converted archive under the image's sha256, and the staged copy is it
    digest = setup["checksum"].split(":")[1]
    cached = work / "iso" / "cache" / ("iso-" + digest) / (NAME + ".tgz")
    assert cached.read_bytes() == (work / "iso" / "state" / "bundles" / (NAME + ".tgz")).read_bytes()
    with open(work / "iso" / "state" / "journal.json", encoding="utf-8") as handle:
        record = json.load(handle)["stages"]["validate"]
    assert record["status"] == "done" and record["data"]["name"] == NAME + ".iso"


def test_an_iso_by_url_is_fetched_once_and_converted_in_the_cache(setup, first):
    work = setup["work"]
    by_url, by_iso = facts(setup, "url"), facts(setup, "iso")
    assert by_url["archive"] == "%s/url/state/bundles/%s.tgz" % (work, NAME)
    assert {k: v for k, v in by_url.items() if k not in ("archive", "dir")} == \
        {k: v for k, v in by_iso.items() if k not in ("archive", "dir")}
    digest = setup["checksum"].split(":")[1]
    assert sorted(os.listdir(work / "url" / "cache")) == sorted([NAME + ".iso", "iso-" + digest])
    assert tree_listing(by_url["dir"]) == tree_listing(by_iso["dir"])


def test_a_second_run_converts_and_downloads_nothing(setup, first):
    work = setup["work"]
    archive = work / "iso" / "cache" / ("iso-" + setup["checksum"].split(":")[1]) / (NAME + ".tgz")
    stamp = archive.stat().st_mtime_ns
    gets = [p for p in setup["server"].requests if p.endswith(".iso")]
    again = run(setup, ["iso", "url"])
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s", again), again[-1500:]
    assert task_status(again, CONVERT) == ["ok", "ok"]
    assert archive.stat().st_mtime_ns == stamp
    assert [p for p in setup["server"].requests if p.endswith(".iso")] == gets == ["/%s.iso" % NAME]


def test_check_mode_on_a_fresh_host_writes_nothing_there(setup, first):
    """Also with a Python for the hosts (and localhost) that has no pycdlib: the conversion runs in the
    controller's own Python (action plugin), as in an EE whose inventory names /usr/bin/python3."""
    work = setup["work"]
    system = "/usr/bin/python3"
    probe = subprocess.run([system, "-c", "import pycdlib"], capture_output=True, text=True, check=False)
    assert probe.returncode != 0, "this test needs a Python without pycdlib at %s" % system
    out = run(setup, ["check"], "--check", interpreter=system)
    assert task_status(out, CONVERT) == ["changed"]  # the controller cache is filled in check mode too
    assert not (work / "check" / "state").exists()
    assert (work / "check" / "cache" / ("iso-" + setup["checksum"].split(":")[1]) / (NAME + ".tgz")).is_file()
