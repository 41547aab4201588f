# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/ofed_install/templates/ofed.conf.j2 rendered with Jinja2 and the iser.ofed.ofed_conf filters."""
from __future__ import annotations

import os

import jinja2
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.iser.ofed.plugins.filter.ofed_conf import FilterModule
from ansible_collections.iser.ofed.plugins.module_utils._ofed_conf import parse_conf

from conftest import REPO, read_fixture

TEMPLATES = os.path.join(REPO, "roles", "ofed_install", "templates")


def render(**variables) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, keep_trailing_newline=True)  # Ansible's template defaults
    for name, func in FilterModule().filters().items():
        env.filters["iser.ofed." + name] = func
    return env.get_template("ofed.conf.j2").render(**variables)


def classic(release, text, source, **extra):
    return render(__ofed_install_flavor="ofed", __ofed_install_release=release, __ofed_install_base_conf=text,
                  __ofed_install_base_source=source, **extra)


def body(rendered: str):
    return [ln for ln in rendered.splitlines() if ln and not ln.startswith("#")]


def test_ofed_1_5_example():
    text = read_fixture("classic-ofed", "OFED-1.5", "docs", "ofed.conf-example")
    out = classic("1.5", text, "OFED-1.5/docs/ofed.conf-example")
    for line in ("kernel-ib=y", "kernel-ib-devel=y", "ofed-scripts=y", "srpt=n"):
        assert line in out.splitlines()
    assert "srpt=y" not in out
    assert out.startswith("# ofed.conf for OFED 1.5, written by iser.ofed")
    assert "# package set from: OFED-1.5/docs/ofed.conf-example\n" in out
    assert "# forced here: srpt=n\n" in out
    # every body line is key=value in the example's order, and the installer's own parser reads it back
    parsed = parse_conf(out)
    assert list(parsed)[:3] == ["core", "mthca", "mlx4"] and len(body(out)) == len(parsed)


def test_ofed_3_5_all_conf():
    text = read_fixture("classic-ofed", "OFED-3.5", "ofed-all.conf")
    out = classic("3.5", text, "OFED-3.5/ofed-all.conf")
    lines = out.splitlines()
    for line in ("compat-rdma=y", "compat-rdma-devel=y", "ofed-scripts=y", "srpt=n"):
        assert line in lines
    assert not any(ln.startswith("kernel-ib") for ln in lines)


def test_release_default_and_user_changes():
    out = classic("3.5", "", None, ofed_install_packages_add=["iser"], ofed_install_packages_remove=["mthca"])
    assert body(out) == ["compat-rdma=y", "compat-rdma-devel=y", "ofed-scripts=y", "core=y", "mthca=n", "mlx4=y",
                         "mlx4_en=y", "ipoib=y", "iser=y", "srpt=n"]
    assert "# package set from: release default (OFED 3.5)" in out


def test_deterministic():
    text = read_fixture("release-notes", "OFED-4.8_ofed.conf-example")
    assert classic("4.8", text, "x") == classic("4.8", text, "x")


def test_unknown_key_fails_the_template():
    text = read_fixture("release-notes", "OFED-1.5_ofed.conf-example")
    with pytest.raises(AnsibleFilterError, match="unknown ofed.conf key 'opensmm' for OFED 1.5; close matches: opensm"):
        classic("1.5", text, "x", ofed_install_packages_add=["opensmm"])


def test_mlnx_manual_selection():
    text = read_fixture("mlnx-ofed", "MLNX_OFED_LINUX-5.0-2.1.8.0-ubuntu20.04-x86_64", "bundle", "docs", "conf",
                        "ofed-all.conf")
    keys = list(parse_conf(text))
    out = render(__ofed_install_flavor="mlnx_ofed", __ofed_install_release="5.0-2.1.8.0",
                 __ofed_install_base_conf="", __ofed_install_known_keys=keys,
                 ofed_install_packages_add=["mlnx-ofa_kernel", "mlnx-ofa_kernel-devel"])
    assert body(out) == ["mlnx-ofa_kernel=y", "mlnx-ofa_kernel-devel=y", "ofed-scripts=y"]
    assert out.startswith("# ofed.conf for MLNX_OFED 5.0-2.1.8.0")


@pytest.mark.parametrize("manual,warned", [(True, True), ("True", True), (False, False), ("False", False)])
def test_users_own_selection_renders_ofed_scripts_and_warns_only_when_manual(manual, warned):
    # ansible-core 2.18 hands a fact set from "{{ ... | bool }}" over as a bool, a plain var as the string
    # "True"/"False": both mean what they say (bool("False") would be true).
    mine = "mlnx-ofed-kernel-utils=y\nmlnx-ofed-kernel-dkms=y\n"  # constructed: what mlnxofedinstall -p writes
    out = render(__ofed_install_flavor="mlnx_ofed", __ofed_install_release="5.0-2.1.8.0",
                 __ofed_install_base_conf=mine, __ofed_install_base_source="ofed_install_conf /root/my.conf",
                 __ofed_install_manual=manual)
    assert body(out) == ["mlnx-ofed-kernel-utils=y", "mlnx-ofed-kernel-dkms=y", "ofed-scripts=y"]
    assert "# package set from: ofed_install_conf /root/my.conf" in out and "# forced here: ofed-scripts=y" in out
    classic_text = read_fixture("classic-ofed", "OFED-1.5", "docs", "ofed.conf-example").replace(
        "ofed-scripts=y", "ofed-scripts=n")
    result = FilterModule().filters()["ofed_conf_package_set"](classic_text, "ofed", "1.5", manual=manual,
                                                               base_source="ofed_install_conf /root/ofed.conf")
    assert any(w.startswith("ofed-scripts was added") for w in result["warnings"]) is warned
