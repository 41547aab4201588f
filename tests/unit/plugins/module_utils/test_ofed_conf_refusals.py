# SPDX-License-Identifier: GPL-3.0-or-later
"""_ofed_conf: an unknown key is refused with the role variable that lists it and the fix (issue 4: "bad input
gets a clear error"); the same refusal runs for real in molecule/validate (case unknown_package)."""
from __future__ import annotations

import pytest

from ansible_collections.iser.ofed.plugins.module_utils import _ofed_conf as oc

from conftest import read_fixture

MLNX_ALL = ("mlnx-ofed", "MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64", "bundle", "docs", "conf", "ofed-all.conf")


@pytest.mark.parametrize("direction,variable", [("add", "ofed_install_packages_add"),
                                                ("remove", "ofed_install_packages_remove")])
def test_unknown_mlnx_key_names_the_variable_and_the_fix(direction, variable):
    keys = oc.parse_conf(read_fixture(*MLNX_ALL))
    with pytest.raises(oc.OfedConfError) as exc:
        oc.package_set("mlnx_ofed", "5.0-2.1.8.0", extra_known_keys=keys, **{direction: ["bogus-pkg"]})
    msg = str(exc.value)
    assert msg.startswith("%s: unknown ofed.conf key 'bogus-pkg' for MLNX_OFED 5.0-2.1.8.0; no close match" % variable)
    assert msg.endswith("Correct the key or drop it from %s." % variable)


def test_unknown_classic_key_names_add_with_close_matches():
    text = read_fixture("classic-ofed", "OFED-3.5", "ofed-all.conf")
    with pytest.raises(oc.OfedConfError, match=r"^ofed_install_packages_add: unknown ofed.conf key 'libibverb' "
                                               r"for OFED 3\.5; close matches: libibverbs.*drop it from "
                                               r"ofed_install_packages_add\.$"):
        oc.package_set("ofed", "3.5", base_text=text, add=["libibverb"])


def test_known_key_is_not_refused():
    keys = oc.parse_conf(read_fixture(*MLNX_ALL))
    result = oc.package_set("mlnx_ofed", "5.0-2.1.8.0", extra_known_keys=keys, add=["iser"])
    assert ["iser", "y"] in result["packages"]
