# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""``_iso`` and ``_bundle.read_bundle`` on real ISO 9660 images (xorriso, Rock Ridge + Joliet) of the fixture
MLNX_OFED bundle: the metadata read straight from the image equals the .tgz's, the converted .tgz has the
.tgz's members (modes, symlinks, content), a second conversion writes nothing, and damaged or wrong images
are refused with the reason."""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _bundle
from ansible_collections.iser.ofed.plugins.module_utils import _iso

from conftest import REPO
from iso_images import build_tgz, make_iso, tar_listing, unpack
from ofed_bundle_builders import truncate

NAME = "MLNX_OFED_LINUX-5.0-2.1.8.0-skip-distro-check-x86_64"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The fixture .tgz, its unpacked tree and the ISO image of that tree."""
    work = tmp_path_factory.mktemp("iso")
    tgz = build_tgz(str(work / "tgz"))
    tree = unpack(tgz, str(work / "tree"))
    iso = make_iso(tree, str(work / (NAME + ".iso")))
    return {"tgz": tgz, "tree": tree, "iso": iso, "work": work}


def copy_iso(bundle, tmp_path, name=NAME + ".iso"):
    path = str(tmp_path / name)
    shutil.copy(bundle["iso"], path)
    return path


# --- reading the image --------------------------------------------------------------------------------

def test_the_image_is_iso9660_with_rock_ridge_and_joliet(bundle):
    assert _iso.is_iso_image(bundle["iso"])
    assert not _iso.is_iso_image(bundle["tgz"])
    assert _iso.declared_size(bundle["iso"]) == os.path.getsize(bundle["iso"])
    import pycdlib  # pylint: disable=import-outside-toplevel
    image = pycdlib.PyCdlib()
    image.open(bundle["iso"])
    try:
        assert image.has_rock_ridge() and image.has_joliet()
    finally:
        image.close()


def test_read_bundle_reads_the_images_metadata_like_the_tgz(bundle):
    from_iso = _bundle.read_bundle(bundle["iso"])
    from_tgz = _bundle.read_bundle(bundle["tgz"])
    assert (from_iso.kind, from_iso.root) == ("iso", "")  # the vendor layout: the tree at the image's root
    assert from_tgz.root == NAME
    assert from_iso.files == from_tgz.files
    assert from_iso.texts == from_tgz.texts
    assert from_iso.text(".mlnx").strip() == "5.0-2.1.8.0"
    assert from_iso.text("distro").strip() == "skip-distro-check"
    assert "DEBS/COMMON/Packages" not in from_iso.files and "DEBS/MLNX_LIBS/Packages" in from_iso.texts
    assert from_iso.describe(".mlnx") == bundle["iso"] + ":.mlnx"


def test_entries_keep_modes_and_symlinks(bundle):
    with _iso.IsoImage(bundle["iso"]) as image:
        entries = {e.path: e for e in image.entries()}
    assert entries["mlnxofedinstall"].kind == "file" and entries["mlnxofedinstall"].mode == 0o755
    assert entries["uninstall.sh"].mode == 0o755
    assert entries[".mlnx"].mode == 0o644 and entries["DEBS"].kind == "dir"
    link = entries["DEBS/MLNX_LIBS/mlnx-ofed-kernel-dkms_5.0-OFED.5.0.2.1.8.1.g5f67178_all.deb"]
    assert link.kind == "symlink"
    assert link.target == "../COMMON/mlnx-ofed-kernel-dkms_5.0-OFED.5.0.2.1.8.1.g5f67178_all.deb"
    assert entries[".mlnx"].mtime == 1588769085  # the fixture builder's time, kept by the image


# --- conversion ---------------------------------------------------------------------------------------

def test_convert_gives_the_tgz_members_under_the_bundle_name(bundle, tmp_path):
    result = _iso.convert(bundle["iso"], str(tmp_path / "cache"), _bundle.find_root)
    digest = _iso.sha256_file(bundle["iso"])
    assert result["changed"] is True and result["root"] == NAME and result["iso_sha256"] == digest
    assert result["archive"] == str(tmp_path / "cache" / ("iso-" + digest) / (NAME + ".tgz"))
    assert result["sha256"] == _iso.sha256_file(result["archive"])
    converted = tar_listing(result["archive"])
    original = tar_listing(bundle["tgz"])
    assert result["members"] == len(converted)
    # same names, types, modes, link targets and content; owners root
    assert {k: v[:2] + v[4:] for k, v in converted.items()} == {k: v[:2] + v[4:] for k, v in original.items()}
    assert {v[2:4] for v in converted.values()} == {(0, 0)}
    assert oct(converted["mlnxofedinstall"][1]) == "0o755"
    # what the release check then reads is the .tgz path's
    again = _bundle.read_bundle(result["archive"])
    assert (again.kind, again.root) == ("archive", NAME)
    assert again.files == _bundle.read_bundle(bundle["tgz"]).files
    # nothing half-written is left next to it
    assert os.listdir(os.path.dirname(result["archive"])) == [NAME + ".tgz"]


def test_a_second_conversion_writes_nothing_and_a_new_one_is_byte_identical(bundle, tmp_path):
    first = _iso.convert(bundle["iso"], str(tmp_path / "cache"), _bundle.find_root)
    stamp = os.stat(first["archive"]).st_mtime_ns
    second = _iso.convert(bundle["iso"], str(tmp_path / "cache"), _bundle.find_root)
    assert second["changed"] is False and second["members"] is None
    assert second["archive"] == first["archive"] and second["sha256"] == first["sha256"]
    assert os.stat(first["archive"]).st_mtime_ns == stamp
    other = _iso.convert(bundle["iso"], str(tmp_path / "other"), _bundle.find_root)
    assert other["changed"] is True and other["sha256"] == first["sha256"]


def test_check_mode_writes_nothing(bundle, tmp_path):
    result = _iso.convert(bundle["iso"], str(tmp_path / "cache"), _bundle.find_root, check_mode=True)
    assert result["changed"] is True and result["sha256"] is None
    assert not (tmp_path / "cache").exists()


def test_a_renamed_image_names_the_top_directory_after_the_file(bundle, tmp_path):
    iso = copy_iso(bundle, tmp_path, "ofed.ISO")
    result = _iso.convert(iso, str(tmp_path / "cache"), _bundle.find_root)
    assert result["root"] == "ofed" and os.path.basename(result["archive"]) == "ofed.tgz"
    assert _bundle.read_bundle(result["archive"]).root == "ofed"


def test_a_bundle_one_directory_down_keeps_its_directory_name(bundle, tmp_path):
    iso = make_iso(os.path.dirname(bundle["tree"]), str(tmp_path / "wrapped.iso"))
    assert _bundle.read_bundle(iso).root == NAME
    result = _iso.convert(iso, str(tmp_path / "cache"), _bundle.find_root)
    assert result["root"] == NAME and os.path.basename(result["archive"]) == NAME + ".tgz"
    assert set(tar_listing(result["archive"])) == set(tar_listing(bundle["tgz"]))


# --- refusals -----------------------------------------------------------------------------------------

def test_a_truncated_image_is_refused(bundle, tmp_path):
    iso = truncate(copy_iso(bundle, tmp_path), 0.5)
    message = r"is truncated: the ISO image declares %d bytes but the file has %d; download it again" % (
        os.path.getsize(bundle["iso"]), os.path.getsize(iso))
    with pytest.raises(_bundle.BundleError, match=message):
        _bundle.read_bundle(iso)
    with pytest.raises(_iso.IsoError, match=message):
        _iso.convert(iso, str(tmp_path / "cache"), _bundle.find_root)
    assert not (tmp_path / "cache").exists()


def test_a_corrupt_image_is_refused(bundle, tmp_path):
    iso = copy_iso(bundle, tmp_path)
    with open(iso, "r+b") as handle:  # overwrite the root directory's sector
        handle.seek(16 * 2048 + 156 + 2)
        extent = struct.unpack("<I", handle.read(4))[0]
        handle.seek(extent * 2048)
        handle.write(b"\xff" * 2048)
    with pytest.raises(_bundle.BundleError, match="is not a readable ISO 9660 image \\(it is corrupt\\)"):
        _bundle.read_bundle(iso)
    with pytest.raises(_iso.IsoError, match="download it again and compare its checksum"):
        _iso.convert(iso, str(tmp_path / "cache"), _bundle.find_root)


def test_a_file_named_iso_that_is_not_an_image_is_refused(bundle, tmp_path):
    fake = tmp_path / (NAME + ".iso")
    shutil.copy(bundle["tgz"], fake)
    with pytest.raises(_bundle.BundleError, match="is not an ISO 9660 image \\(no volume descriptor at sector 16\\)"):
        _bundle.read_bundle(str(fake))


def test_an_image_without_rock_ridge_is_refused(bundle, tmp_path):
    iso = make_iso(bundle["tree"], str(tmp_path / "joliet-only.iso"), rock_ridge=False)
    with pytest.raises(_bundle.BundleError, match="has no Rock Ridge extensions: .*use the .tgz bundle"):
        _bundle.read_bundle(iso)


def test_an_image_without_a_bundle_is_refused(tmp_path):
    tree = tmp_path / "tree"
    (tree / "docs").mkdir(parents=True)
    (tree / "README").write_text("install media\n")
    (tree / "docs" / "guide.txt").write_text("a guide\n")
    iso = make_iso(str(tree), str(tmp_path / "other.iso"))
    with pytest.raises(_iso.IsoError, match="other.iso holds no OFED or MLNX_OFED bundle: none of .mlnx, BUILD_ID"):
        _iso.convert(iso, str(tmp_path / "cache"), _bundle.find_root)
    assert not (tmp_path / "cache").exists()
    # the release check reads it and says it is no OFED bundle (as for any other directory or archive)
    from ansible_collections.iser.ofed.plugins.module_utils import _release_check  # pylint: disable=import-outside-toplevel
    with pytest.raises(_release_check.CheckError, match="is not an OFED bundle"):
        _release_check.check(_bundle.read_bundle(iso), "6.1.0-28-amd64", "debian12.0", "x86_64", True)


def test_without_pycdlib_the_message_names_the_package_and_the_fix(bundle):
    """A real import failure: a Python where ``import pycdlib`` fails."""
    code = ("import sys; sys.modules['pycdlib'] = None; sys.path.insert(0, %r)\n"
            "from ansible_collections.iser.ofed.plugins.module_utils import _bundle\n"
            "try:\n    _bundle.read_bundle(%r)\nexcept _bundle.BundleError as exc:\n    print(exc)\n"
            % (os.path.join(REPO, ".collections"), bundle["iso"]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "reading an ISO image needs the Python package pycdlib on the controller" in out
    assert "pip install pycdlib==1.22.0" in out and "use the .tgz bundle of the same release" in out
