# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Parser and matcher tests for ``_release_notes`` over every real OFED release-notes file (1.3 ... 4.17)."""
from __future__ import annotations

import glob
import os

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _release_notes as rn

from conftest import fixture_path, read_fixture

NOTES = sorted(glob.glob(fixture_path("release-notes", "OFED-*_OFED_release_notes.txt")))
RELEASES = [os.path.basename(p)[len("OFED-"):-len("_OFED_release_notes.txt")] for p in NOTES]


def notes(release: str) -> dict:
    return rn.parse_release_notes(read_fixture("release-notes", "OFED-%s_OFED_release_notes.txt" % release))


def rows_by_name(parsed: dict) -> dict:
    return {r["distro_name"]: r for r in parsed["rows"]}


def test_all_release_note_fixtures_are_present():
    assert len(RELEASES) == 24
    assert {"1.3", "1.5", "1.5.4.1", "3.5", "3.12-1", "4.8-2", "4.17"} <= set(RELEASES)


@pytest.mark.parametrize("release", RELEASES)
def test_every_file_yields_rows_archs_and_kernelorg(release):
    parsed = notes(release)
    assert len(parsed["rows"]) >= 4
    assert parsed["archs"][:3] == ["x86_64", "x86", "ppc64"]
    # ia64 is listed until 1.5.x and dropped from 3.x on.
    assert ("ia64" in parsed["archs"]) == release.startswith("1.")
    kernelorg = [r for r in parsed["rows"] if r["kernelorg"]]
    assert len(kernelorg) == 1 and kernelorg[0]["kernelorg"]["kind"] in ("list", "range")
    for row in parsed["rows"]:
        assert row["distro_name"] and row["kernel"][0].isdigit(), row
        assert "*" not in row["kernel"].replace("-*", ""), row  # the minimal-QA mark is never part of the kernel
        assert row["raw_line"].lstrip().startswith("-")
    assert parsed["footnote"] in ("Minimal QA for these versions", "Minimal QA for these versions.",
                                  "OSes that are partially tested")
    assert parsed["version"].split()[0] == release


def test_1_5_rows():
    parsed = notes("1.5")
    rows = rows_by_name(parsed)
    assert rows["RedHat EL5 up4"]["kernel"] == "2.6.18-164.el5"
    assert rows["RedHat EL5 up4"]["minimal_qa"] is False
    assert rows["RedHat EL4 up8"]["kernel"] == "2.6.9-89.ELsmp"
    assert rows["SLES10 SP3"]["kernel"] == "2.6.16.60-0.54-smp"
    assert rows["Fedora Core12"]["minimal_qa"] is True
    org = rows["kernel.org"]
    assert org["kernelorg"] == {"kind": "list", "versions": ["2.6.29", "2.6.30", "2.6.31", "2.6.32"]}
    assert org["minimal_qa"] is True
    assert org["raw_line"].count("\n") == 1  # the list wraps onto a second, space-indented line
    assert parsed["archs"] == ["x86_64", "x86", "ppc64", "ia64"]


def test_1_5_1_beta_row():
    row = rows_by_name(notes("1.5.1"))["RedHat EL5 up5"]
    assert row["kernel"] == "2.6.18-186.el5" and row["beta"] is True and row["notes"] == ["beta"]


def test_1_5_2_star_with_note_and_longer_list():
    rows = rows_by_name(notes("1.5.2"))
    assert rows["RedHat EL4 up7"]["minimal_qa"] is True
    assert rows["RedHat EL4 up7"]["kernel"] == "2.6.9-78.ELsmp"
    assert rows["RedHat EL4 up7"]["notes"] == ["last release of OFED supporting this OS"]
    assert rows["kernel.org"]["kernelorg"]["versions"][-1] == "2.6.33"


@pytest.mark.parametrize("release, low, high", [("1.5.3", "2.6.29", "2.6.36"), ("1.5.4", "2.6.30", "3.0"),
                                                ("1.5.4.1", "2.6.30", "3.1")])
def test_kernelorg_ranges(release, low, high):
    spec = rows_by_name(notes(release))["kernel.org"]["kernelorg"]
    assert (spec["kind"], spec["low"], spec["high"]) == ("range", low, high)


def test_1_3_colon_names_glob_kernel_and_unstarred_kernelorg():
    parsed = notes("1.3")
    rows = rows_by_name(parsed)
    assert rows["RedHat EL4 up4"]["kernel"] == "2.6.9-42.ELsmp"
    assert rows["OpenSuSE 10.3"]["kernel"] == "2.6.22-*-*" and rows["OpenSuSE 10.3"]["minimal_qa"] is True
    assert rows["kernel.org"]["kernelorg"]["versions"] == ["2.6.23", "2.6.24"]
    assert rows["kernel.org"]["minimal_qa"] is False
    assert parsed["footnote"] == "OSes that are partially tested"


def test_1_4_spaces_only_row_and_star_after_tab():
    rows = rows_by_name(notes("1.4"))
    assert rows["CentOS5.2"]["kernel"] == "2.6.18-92.el5"
    assert rows["RedHat EL4 up4"]["minimal_qa"] is True


def test_3_5_and_4_x_rows():
    assert rows_by_name(notes("3.5"))["SLES11 SP2"]["kernel"] == "3.0.13-0.27-default"
    assert rows_by_name(notes("3.5"))["kernel.org"]["kernelorg"]["versions"] == ["3.5"]
    assert rows_by_name(notes("4.8-2"))["RedHat EL7.4"]["kernel"] == "3.10.0-693.el7"
    assert rows_by_name(notes("4.17"))["SLES15"]["kernel"] == "4.12.14-23.1-default"
    assert notes("4.17")["version"] == "4.17 RC1"


def test_missing_section_raises():
    # The real OFED-1.5 README (installation guide) has no supported-platforms section.
    with pytest.raises(rn.ReleaseNotesError, match="no section '1.2 Supported Platforms"):
        rn.parse_release_notes(read_fixture("release-notes", "OFED-1.5_README.txt"))


def test_section_without_rows_raises():
    # constructed: a heading with an empty list
    text = "1.2 Supported Platforms and Operating Systems\n----\n  o   Linux Operating Systems:\n\n1.3 HCAs\n"
    with pytest.raises(rn.ReleaseNotesError, match="lists no operating system"):
        rn.parse_release_notes(text)


# --- matching ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("release, kernel, kind, distro_name, minimal_qa", [
    ("1.5", "2.6.18-164.el5", "exact", "RedHat EL5 up4", False),
    ("1.5", "2.6.9-89.EL", "exact", "RedHat EL4 up8", False),            # same build, non-smp flavour
    ("1.5", "2.6.16.60-0.54-default", "exact", "SLES10 SP3", False),     # -smp vs -default
    ("1.5", "2.6.18-164.11.1.el5", "series", "RedHat EL5 up4", False),    # errata kernel of EL5.4
    ("1.5", "2.6.31.12", "kernelorg_range", "kernel.org", True),
    ("1.5", "2.6.32", "kernelorg_range", "kernel.org", True),
    ("1.5", "2.6.33", "none", None, False),
    ("1.5", "2.6.18-194.el5", "none", None, False),                      # EL5.5 is not in 1.5
    ("1.5.4", "3.0.4", "kernelorg_range", "kernel.org", True),
    ("1.5.4", "3.1.0", "none", None, False),
    ("1.5.4.1", "3.1.10", "kernelorg_range", "kernel.org", True),
    ("1.5.4", "2.6.32-220.4.1.el6.x86_64", "series", "RedHat EL6.2", False),
    ("1.5.4", "2.6.32-279.el6.x86_64", "kernelorg_range", "kernel.org", True),  # upstream 2.6.32 is in range
    ("3.5", "2.6.32-220.4.1.el6", "series", "RedHat EL6.2", False),
    ("3.5", "3.0.13-0.27-default", "exact", "SLES11 SP2", False),
    ("3.5", "3.0.13-0.28-default", "none", None, False),                 # a different SUSE build
    ("3.5", "3.5.7", "kernelorg_range", "kernel.org", True),
    ("3.5", "3.6.0", "none", None, False),
    ("4.8-2", "3.10.0-693.el7.x86_64", "exact", "RedHat EL7.4", False),
    ("4.8-2", "3.10.0-693.21.1.el7.x86_64", "series", "RedHat EL7.4", False),
    ("4.8-2", "3.10.0-862.el7.x86_64", "none", None, False),
    ("4.17", "3.10.0-862.el7.x86_64", "exact", "RedHat EL7.5", False),
    ("1.3", "2.6.22.5-31-default", "series", "OpenSuSE 10.3", True),     # glob row 2.6.22-*-*
    ("3.5", "5.4.0-26-generic", "none", None, False),
])
def test_match_kernel(release, kernel, kind, distro_name, minimal_qa):
    result = rn.match_kernel(notes(release)["rows"], kernel)
    assert result["kind"] == kind
    assert (result["row"] or {}).get("distro_name") == distro_name
    assert result["minimal_qa"] is minimal_qa


def test_distro_breaks_ties_between_rows_with_the_same_kernel():
    rows = notes("1.5")["rows"]
    assert rn.match_kernel(rows, "2.6.18-164.el5")["row"]["distro_name"] == "RedHat EL5 up4"
    assert rn.match_kernel(rows, "2.6.18-164.el5", "centos5.4")["row"]["distro_name"] in ("RedHat EL5 up4", "CentOS5.4")
    assert rn.match_kernel(rows, "2.6.9-89.ELsmp", "ol4.8")["row"]["distro_name"] == "OEL 4 up8"


@pytest.mark.parametrize("name, expected", [
    ("RedHat EL5 up4", "rhel5.4"), ("RedHat EL6.2", "rhel6.2"), ("RedHat EL6", "rhel6.0"),
    ("SLES11 SP2", "sles11sp2"), ("SLES12.1", "sles12sp1"), ("SLES15", "sles15sp0"),
    ("CentOS5.4", "centos5.4"), ("OEL 4 up7", "ol4.7"), ("Fedora Core12", "fc12"), ("Fedora C9", "fc9"),
    ("OpenSuSE 11.2", "opensuse11.2"), ("Scientific Linux 6.1", "scientific6.1"), ("kernel.org", None),
])
def test_row_distro_id(name, expected):
    assert rn.row_distro_id(name) == expected


def test_nearest_kernels_are_sorted_by_closeness():
    nearest = rn.nearest_kernels(notes("1.5")["rows"], "2.6.18-194.el5")
    assert nearest[0] in ("2.6.18-164.el5", "2.6.18-128.el5")
    assert set(nearest[:2]) == {"2.6.18-164.el5", "2.6.18-128.el5"}
    assert nearest[0] == "2.6.18-164.el5"  # 164 is closer to 194 than 128
    nearest_new = rn.nearest_kernels(notes("4.8-2")["rows"], "3.10.0-862.el7")
    assert nearest_new[0] == "3.10.0-693.el7"


def test_nearest_kernels_group_the_kernelorg_row():
    nearest = rn.nearest_kernels(notes("1.5")["rows"], "6.1.0-50-amd64")  # a newer kernel than any row
    assert nearest[0] == "kernel.org 2.6.29, 2.6.30, 2.6.31 and 2.6.32"
    assert len(nearest) == 5 and len(set(nearest)) == 5
    assert rn.nearest_kernels(notes("1.5.4")["rows"], "3.2.0")[0] == "kernel.org 2.6.30 - 3.0"
