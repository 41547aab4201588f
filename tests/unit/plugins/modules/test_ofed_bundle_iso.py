# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""``iser.ofed.ofed_bundle_iso`` ``main()`` on a real ISO image of the fixture MLNX_OFED bundle (xorriso, Rock
Ridge + Joliet), and ``iser.ofed.ofed_release_check`` reading the same image directly."""
from __future__ import annotations

import pytest

from ansible_collections.iser.ofed.plugins.modules import ofed_bundle_iso as mod
from ansible_collections.iser.ofed.plugins.modules import ofed_release_check

from conftest import run_module
from iso_images import build_tgz, make_iso, tar_listing, unpack
from ofed_bundle_builders import truncate

NAME = "MLNX_OFED_LINUX-5.0-2.1.8.0-skip-distro-check-x86_64"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    work = tmp_path_factory.mktemp("iso-module")
    tgz = build_tgz(str(work / "tgz"))
    iso = make_iso(unpack(tgz, str(work / "tree")), str(work / (NAME + ".iso")))
    return {"tgz": tgz, "iso": iso}


def test_convert_then_nothing_to_do(bundle, tmp_path):
    cache = str(tmp_path / "cache")
    first = run_module(mod.main, {"src": bundle["iso"], "dest": cache, "_ansible_diff": True})
    assert first["_exit_code"] == 0 and first["changed"] is True, first
    assert first["archive"].endswith("/" + NAME + ".tgz") and first["root"] == NAME
    assert first["diff"] == {"before": {"path": first["archive"], "state": "absent"},
                             "after": {"path": first["archive"], "state": "file"}}
    assert set(tar_listing(first["archive"])) == set(tar_listing(bundle["tgz"]))
    second = run_module(mod.main, {"src": bundle["iso"], "dest": cache})
    assert second["changed"] is False and "diff" not in second
    assert (second["archive"], second["sha256"]) == (first["archive"], first["sha256"])


def test_check_mode_predicts_and_writes_nothing(bundle, tmp_path):
    result = run_module(mod.main, {"src": bundle["iso"], "dest": str(tmp_path / "cache"), "_ansible_check_mode": True})
    assert result["changed"] is True and result["archive"].endswith(NAME + ".tgz")
    assert not (tmp_path / "cache").exists()


def test_refusals_name_the_file_and_the_fix(bundle, tmp_path):
    missing = run_module(mod.main, {"src": str(tmp_path / "no.iso"), "dest": str(tmp_path / "cache")})
    assert missing["failed"] and "ISO image %s does not exist" % (tmp_path / "no.iso") in missing["msg"]
    short = str(tmp_path / "short.iso")
    with open(bundle["iso"], "rb") as src, open(short, "wb") as dst:
        dst.write(src.read())
    truncate(short, 0.3)
    result = run_module(mod.main, {"src": short, "dest": str(tmp_path / "cache")})
    assert result["failed"] and "short.iso is truncated: the ISO image declares" in result["msg"]
    assert not (tmp_path / "cache").exists()


def test_release_check_reads_the_image_directly(bundle):
    result = run_module(ofed_release_check.main, {"bundle": bundle["iso"], "kernel": "6.1.0-28-amd64",
                                                  "distro": "debian12", "arch": "x86_64", "headers_present": True})
    assert result["_exit_code"] == 0, result
    assert result["bundle"] == {"path": bundle["iso"], "kind": "iso", "root": ""}
    assert result["release"]["flavor"] == "mlnx_ofed" and result["release"]["version"] == "5.0-2.1.8.0"
    assert result["supported"] is True and result["match"] == "dkms"
    assert result["bundle_distro"] == "skip-distro-check"
    from_tgz = run_module(ofed_release_check.main, {"bundle": bundle["tgz"], "kernel": "6.1.0-28-amd64",
                                                    "distro": "debian12", "arch": "x86_64", "headers_present": True})
    same = {k: v for k, v in result.items() if k not in ("bundle", "invocation")}
    assert same == {k: v for k, v in from_tgz.items() if k not in ("bundle", "invocation")}
