# SPDX-License-Identifier: GPL-3.0-or-later
"""_ofed_conf: package sets from every real ofed.conf-example / ofed-all.conf / MLNX docs/conf file."""
from __future__ import annotations

import glob
import os

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _ofed_conf as oc

from conftest import fixture_path, read_fixture

EXAMPLES = sorted(glob.glob(fixture_path("release-notes", "OFED-*_ofed.conf-example")))
CLASSIC_ALL = sorted(glob.glob(fixture_path("classic-ofed", "OFED-*", "ofed-all.conf")))
CLASSIC_DOCS = sorted(glob.glob(fixture_path("classic-ofed", "OFED-*", "docs", "ofed.conf-example")))
MLNX_CONFS = sorted(glob.glob(fixture_path("mlnx-ofed", "*", "bundle", "docs", "conf", "*.conf")))


def _release_of(path: str) -> str:
    name = os.path.basename(path)
    if name.endswith("_ofed.conf-example"):
        return name[len("OFED-"):-len("_ofed.conf-example")]
    for part in path.split(os.sep):
        if part.startswith("OFED-"):
            return part[len("OFED-"):]
        if part.startswith("MLNX_OFED_LINUX-"):
            return "-".join(part[len("MLNX_OFED_LINUX-"):].split("-")[:2])
    raise AssertionError(path)


def test_fixture_sets_are_complete():
    assert len(EXAMPLES) == 24 and len(CLASSIC_ALL) == 2 and len(CLASSIC_DOCS) == 2 and len(MLNX_CONFS) == 12


@pytest.mark.parametrize("path", EXAMPLES + CLASSIC_ALL + CLASSIC_DOCS, ids=os.path.basename)
def test_classic_package_set_from_real_conf(path):
    release = _release_of(path)
    text = open(path, encoding="utf-8").read()
    parsed = oc.parse_conf(text, path)
    assert parsed, path
    result = oc.package_set("ofed", release, base_text=text, base_source=path)
    packages = dict(result["packages"])
    kpkg, kdevel = oc.kernel_packages(release)
    assert packages[kpkg] == "y" and packages[kdevel] == "y"
    assert packages["ofed-scripts"] == "y" and packages["srpt"] == "n"
    # the bundle's order is kept: its keys come first, in file order
    assert [key for key, _value in result["packages"]][:len(parsed)] == list(parsed)
    assert result["source"] == path
    # every key of the file is known for that release (a user may add it back after removing it)
    known = oc.known_keys("ofed", release, parsed)
    for key in parsed:
        assert key in known or oc.is_special_key(key, "ofed", release)


@pytest.mark.parametrize("release,kernel", [("1.3", "kernel-ib"), ("1.5", "kernel-ib"), ("1.5.4.1", "kernel-ib"),
                                            ("3.5", "compat-rdma"), ("3.18-2", "compat-rdma"),
                                            ("4.8", "compat-rdma"), ("4.17", "compat-rdma")])
def test_release_examples_use_the_kernel_package_of_their_generation(release, kernel):
    text = read_fixture("release-notes", "OFED-%s_ofed.conf-example" % release)
    assert oc.parse_conf(text)[kernel] == "y"
    assert oc.kernel_packages(release)[0] == kernel


def test_srpt_y_of_the_1_5_example_becomes_n_with_a_warning():
    text = read_fixture("release-notes", "OFED-1.5_ofed.conf-example")
    assert oc.parse_conf(text)["srpt"] == "y"
    result = oc.package_set("ofed", "1.5", base_text=text)
    assert dict(result["packages"])["srpt"] == "n"
    assert "srpt=n" in result["forced"]
    assert any("SCST brings its own SRP target" in w for w in result["warnings"])


def test_4_8_example_lists_ofed_scripts_first_and_no_srpt():
    text = read_fixture("release-notes", "OFED-4.8_ofed.conf-example")
    result = oc.package_set("ofed", "4.8", base_text=text)
    keys = [key for key, _value in result["packages"]]
    assert keys[0] == "ofed-scripts" and keys[-1] == "srpt"
    assert result["forced"] == ["srpt=n"]


@pytest.mark.parametrize("release,expected", [
    ("1.5", ["kernel-ib", "kernel-ib-devel", "ofed-scripts", "core", "mthca", "mlx4", "mlx4_en", "ipoib", "srpt"]),
    ("3.5", ["compat-rdma", "compat-rdma-devel", "ofed-scripts", "core", "mthca", "mlx4", "mlx4_en", "ipoib",
             "srpt"]),
])
def test_release_default_without_bundle_conf(release, expected):
    result = oc.package_set("ofed", release)
    assert [key for key, _value in result["packages"]] == expected
    assert dict(result["packages"])["srpt"] == "n"
    assert result["source"] == "release default (OFED %s)" % release


def test_user_additions_and_removals():
    text = read_fixture("classic-ofed", "OFED-3.5", "docs", "ofed.conf-example")
    result = oc.package_set("ofed", "3.5", base_text=text, add=["iser", "prefix=/opt/ofed", "mlx5"],
                            remove=["opensm", "libmthca"])
    packages = dict(result["packages"])
    assert packages["opensm"] == "n" and packages["libmthca"] == "n"
    assert packages["iser"] == "y" and packages["prefix"] == "/opt/ofed" and packages["mlx5"] == "y"


@pytest.mark.parametrize("release,key,close", [
    ("1.5", "kernel-ib-dev", "kernel-ib-devel"),
    ("3.5", "libibverb", "libibverbs"),
    ("3.5", "kernel-ib", "compat-rdma"),  # 3.x renamed the kernel package
    ("1.5", "mlx5", None),  # 1.5 has no mlx5 module
    ("4.8", "rdma-cor", "rdma-core"),
])
def test_unknown_key_refused_with_release_and_close_matches(release, key, close):
    text = read_fixture("release-notes", "OFED-%s_ofed.conf-example" % release)
    with pytest.raises(oc.OfedConfError, match=r"unknown ofed.conf key '%s' for OFED %s" % (key, release)) as exc:
        oc.package_set("ofed", release, base_text=text, add=[key])
    if close and close != "compat-rdma":
        assert close in str(exc.value).split("close matches:")[1]
    assert "Unsupported package" in str(exc.value)


def test_unknown_key_in_removals_refused():
    with pytest.raises(oc.OfedConfError, match="unknown ofed.conf key 'opensmm' for OFED 3.5; close matches: opensm"):
        oc.package_set("ofed", "3.5", base_text=read_fixture("classic-ofed", "OFED-3.5", "ofed-all.conf"),
                       remove=["opensmm"])


@pytest.mark.parametrize("change,match", [
    ({"remove": ["ofed-scripts"]}, "ofed-scripts cannot be removed.*ofed_info"),
    ({"remove": ["kernel-ib-devel"]}, "kernel-ib-devel cannot be removed.*headers"),
    ({"add": ["srpt"]}, "srpt cannot be selected.*SCST brings its own"),
    ({"add": ["prefix"]}, "prefix is a setting"),
    ({"add": ["opensm=maybe"]}, "opensm=maybe: a package or module key takes y or n"),
    ({"remove": ["opensm=n"]}, "key names only"),
])
def test_changes_that_break_the_scst_build_are_refused(change, match):
    text = read_fixture("release-notes", "OFED-1.5_ofed.conf-example")
    with pytest.raises(oc.OfedConfError, match=match):
        oc.package_set("ofed", "1.5", base_text=text, **change)


@pytest.mark.parametrize("path", MLNX_CONFS, ids=lambda p: "/".join(p.split(os.sep)[-5:]))
def test_mlnx_real_confs_keep_ofed_scripts(path):
    text = open(path, encoding="utf-8").read()
    parsed = oc.parse_conf(text, path)
    assert parsed["ofed-scripts"] == "y"
    result = oc.package_set("mlnx_ofed", _release_of(path), base_text=text)
    assert dict(result["packages"])["ofed-scripts"] == "y"
    assert result["warnings"] == [] and result["forced"] == []


def test_mlnx_manual_selection_gets_ofed_scripts_with_a_warning():
    bundle_keys = oc.parse_conf(read_fixture("mlnx-ofed", "MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64",
                                             "bundle", "docs", "conf", "ofed-all.conf"))
    result = oc.package_set("mlnx_ofed", "5.0-2.1.8.0", add=["mlnx-ofa_kernel", "mlnx-ofa_kernel-devel", "iser"],
                            extra_known_keys=bundle_keys)
    assert result["packages"] == [["mlnx-ofa_kernel", "y"], ["mlnx-ofa_kernel-devel", "y"], ["iser", "y"],
                                  ["ofed-scripts", "y"]]
    assert len(result["warnings"]) == 1 and "/usr/bin/ofed_info" in result["warnings"][0]
    with pytest.raises(oc.OfedConfError, match="unknown ofed.conf key 'mlnx-ofa-kernel' for MLNX_OFED 5.0-2.1.8.0; "
                                               "close matches: mlnx-ofa_kernel"):
        oc.package_set("mlnx_ofed", "5.0-2.1.8.0", add=["mlnx-ofa-kernel"], extra_known_keys=bundle_keys)


# The user's own selection (role variable ofed_install_conf), as `mlnxofedinstall -p` of the 5.0 DEB installer
# writes it: DEB package names, one per line (constructed; the keys are the fixture bundle's DEB names).
USER_CONF = "mlnx-ofed-kernel-utils=y\nmlnx-ofed-kernel-dkms=y\n"


@pytest.mark.parametrize("text,said", [(USER_CONF, "did not select it"),
                                       ("ofed-scripts=n\n" + USER_CONF, "set ofed-scripts=n")])
def test_mlnx_user_conf_gets_ofed_scripts_whatever_it_lists(text, said):
    result = oc.package_set("mlnx_ofed", "5.0-2.1.8.0", base_text=text, base_source="ofed_install_conf /root/my.conf",
                            manual=True)
    packages = dict(result["packages"])
    assert packages["ofed-scripts"] == "y"
    assert packages["mlnx-ofed-kernel-utils"] == packages["mlnx-ofed-kernel-dkms"] == "y"
    assert result["forced"] == ["ofed-scripts=y"] and result["source"] == "ofed_install_conf /root/my.conf"
    assert result["warnings"] == ["ofed-scripts was added to the manual package selection (ofed_install_conf "
                                  "/root/my.conf %s): %s" % (said, oc.OFED_SCRIPTS_WHY)]
    assert "/usr/bin/ofed_info" in oc.OFED_SCRIPTS_WHY


def test_mlnx_user_conf_that_selects_ofed_scripts_is_kept_as_is():
    text = "ofed-scripts=y\n" + USER_CONF
    result = oc.package_set("mlnx_ofed", "5.0-2.1.8.0", base_text=text, base_source="ofed_install_conf x",
                            manual=True)
    assert oc.render(result) == text
    assert result["warnings"] == [] and result["forced"] == []


def test_classic_user_conf_warns_only_when_it_is_the_users():
    text = read_fixture("release-notes", "OFED-1.5_ofed.conf-example").replace("ofed-scripts=y", "ofed-scripts=n")
    mine = oc.package_set("ofed", "1.5", base_text=text, base_source="ofed_install_conf /root/ofed.conf", manual=True)
    bundle = oc.package_set("ofed", "1.5", base_text=text, base_source="docs/ofed.conf-example")
    assert dict(mine["packages"])["ofed-scripts"] == dict(bundle["packages"])["ofed-scripts"] == "y"
    assert [w for w in mine["warnings"] if w.startswith("ofed-scripts was added")] == [
        "ofed-scripts was added to the manual package selection (ofed_install_conf /root/ofed.conf set "
        "ofed-scripts=n): " + oc.OFED_SCRIPTS_WHY]
    assert not [w for w in bundle["warnings"] if w.startswith("ofed-scripts")]


@pytest.mark.parametrize("text,match", [("core=y\nnot a line\n", "line 2 is not key=value"),
                                        ("=y\n", "line 1 has no usable key")])
def test_parse_conf_refuses_garbage(text, match):  # constructed inputs
    with pytest.raises(oc.OfedConfError, match=match):
        oc.parse_conf(text)


def test_parse_conf_skips_comments_and_blanks():  # constructed input
    assert list(oc.parse_conf("# x\n\n  \ncore=y\ncore=n\n").items()) == [("core", "n")]


@pytest.mark.parametrize("release", ["2.0", "5.0", "garbage"])
def test_unknown_classic_release_refused(release):
    with pytest.raises(oc.OfedConfError, match="not a classic OFED release"):
        oc.package_set("ofed", release)


def test_user_conf_keys_the_bundle_does_not_list_are_named_in_a_warning():
    """ofed_install_conf (the user's file) is taken as given, but a key neither the bundle's conf (here the real
    OFED-3.5 docs/ofed.conf-example) nor the release lists is named, with the close match: install.pl would
    only print 'Unsupported package' and skip it."""
    example = read_fixture("release-notes", "OFED-3.5_ofed.conf-example")
    bundle_keys = [k for k, _v in oc.parse_conf(example).items()]
    mine = "ofed-scripts=y\ncompat-rdma=y\ncompat-rdma-devel=y\nlibibverb=y\nipoib=y\nprefix=/usr\nmy-own-tool=y\n"
    result = oc.package_set("ofed", "3.5", base_text=mine, base_source="ofed_install_conf /root/ofed.conf",
                            extra_known_keys=bundle_keys, manual=True)
    strays = [w for w in result["warnings"] if "does not" in w]
    assert len(strays) == 1
    assert strays[0].startswith("ofed_install_conf /root/ofed.conf lists key(s) the bundle does not: libibverb, "
                                "my-own-tool.")
    assert "libibverb: did you mean libibverbs" in strays[0]
    # taken as given: the strays stay in ofed.conf (prefix is a special setting, not a stray)
    assert dict(result["packages"])["libibverb"] == "y" and dict(result["packages"])["my-own-tool"] == "y"
    # the bundle's own conf as the base, or no bundle key list to compare with: no such warning
    assert not [w for w in oc.package_set("ofed", "3.5", base_text=example, base_source="docs/ofed.conf-example",
                                          extra_known_keys=bundle_keys)["warnings"] if "does not" in w]
    assert not [w for w in oc.package_set("ofed", "3.5", base_text=mine, base_source="ofed_install_conf x",
                                          manual=True)["warnings"] if "does not" in w]


def test_mlnx_user_conf_with_deb_names_is_not_compared_with_the_bundles_rpm_names():
    """MLNX_OFED's DEB installer writes DEB names (mlnxofedinstall -p) while the real 5.0 DEB bundle's
    docs/conf/ofed-all.conf names RPM packages: no 'does not list' warning there, only ofed-scripts'."""
    bundle_keys = list(oc.parse_conf(read_fixture("mlnx-ofed", "MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64",
                                                  "bundle", "docs", "conf", "ofed-all.conf")))
    assert "mlnx-ofed-kernel-dkms" not in bundle_keys
    result = oc.package_set("mlnx_ofed", "5.0-2.1.8.0", base_text=USER_CONF, base_source="ofed_install_conf x",
                            extra_known_keys=bundle_keys, manual=True)
    assert len(result["warnings"]) == 1 and result["warnings"][0].startswith("ofed-scripts was added")
