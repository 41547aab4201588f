# SPDX-License-Identifier: GPL-3.0-or-later
"""main() of iser.ofed.ofed_facts on DOCA-era hosts: ``iser_ofed.ofed.doca`` reaches the facts.

No DOCA host was captured. The ``ofed_info`` replies follow the real DOCA format (``-s`` prints
``OFED-internal-<ofed>:``; see test_ofed_info_doca.py for the public sources); the listing after its first
line and the dpkg-query rows (vendor names and versions, see tests/fixture_builders/doca_repo/README.md)
are constructed.
"""
from __future__ import annotations

from ansible_collections.iser.ofed.plugins.modules import ofed_facts
from conftest import run_module
from test_ofed_facts import _ofed, dpkg_result, host, write  # noqa: F401  pylint: disable=unused-import

# constructed in the real format (see module docstring)
REPLY = {"-s": "OFED-internal-24.10-1.1.4:\n", "-n": "24.10-1.1.4\n",
         None: "OFED-internal-24.10-1.1.4:\n\nInstalled Packages:\n-------------------\n\n"}
DPKG_ROWS = (
    "doca-ofed\t2.9.1-018000\tii \n"
    "doca-ofed-userspace\t2.9.1-018000\tii \n"
    "mlnx-ofed-kernel-dkms\t24.10.OFED.24.10.1.1.4.1-1\tii \n"
    "mlnx-ofed-kernel-utils\t24.10.OFED.24.10.1.1.4.1-1\tii \n"
    "ofed-scripts\t24.10.OFED.24.10.1.1.4-1\tii \n"
)


def test_doca_host_facts(host):  # pylint: disable=redefined-outer-name
    root = host["root"]
    write(root, "/usr/bin/ofed_info", "#!/bin/bash\n", 0o755)
    write(root, "/usr/src/ofa_kernel/default/include/linux/compat-2.6.h", "/* constructed */\n")
    write(root, "/usr/src/ofa_kernel/default/Module.symvers", "")
    host["tools"]["ofed_info"] = lambda argv: (0, REPLY[argv[1] if len(argv) > 1 else None], "")
    host["tools"]["dpkg-query"] = lambda argv: dpkg_result(DPKG_ROWS)
    facts = _ofed(run_module(ofed_facts.main, {}))
    assert (facts["installed"], facts["flavor"], facts["version"], facts["version_source"]) == (
        True, "mlnx_ofed", "24.10-1.1.4", "ofed_info -s")
    assert facts["ofed_info"]["kind"] == "ofed_internal" and facts["ofed_info"]["numeric"] == "24.10-1.1.4"
    assert facts["doca"] == {"detected": True, "version": "2.9.1", "version_source": "dpkg package doca-ofed",
                             "packages": ["doca-ofed", "doca-ofed-userspace"], "mlnx_release": None}
    assert facts["scst_build_flavor"] == "MOFED"
    assert facts["scst_build"]["ready"] is True and facts["scst_build"]["mofed_major"] == 24
    assert facts["errors"] == []


def test_bluefield_mlnx_release_reaches_the_facts(host):  # pylint: disable=redefined-outer-name
    line = "bf-bundle-2.7.0-33_24.04_ubuntu-22.04_prod"  # quoted from NVIDIA/doca-platform
    write(host["root"], "/etc/mlnx-release", line + "\n")
    host["tools"]["dpkg-query"] = lambda argv: dpkg_result("")
    facts = _ofed(run_module(ofed_facts.main, {}))
    assert facts["mlnx_release"] == line
    assert facts["doca"]["mlnx_release"]["kind"] == "bf_bundle"
    assert (facts["doca"]["detected"], facts["doca"]["version"]) == (True, "2.7.0")
    assert facts["flavor"] == "mlnx_ofed" and facts["scst_build_flavor"] == "in-tree"
