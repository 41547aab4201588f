# SPDX-License-Identifier: GPL-3.0-or-later
"""Container/VM detection on constructed trees under tmp_path."""
from __future__ import annotations

import pytest

from ansible_collections.iser.ofed.plugins.module_utils._virt import detect_container, detect_vm
from kernel_tree_builder import write

CPUINFO_GUEST = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr hypervisor lahf_lm\n"
CPUINFO_METAL = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr lahf_lm\n"


def test_bare_metal_host_is_neither(tmp_path):
    write(tmp_path, "/proc/1/cgroup", "0::/init.scope\n")
    write(tmp_path, "/proc/cpuinfo", CPUINFO_METAL)
    write(tmp_path, "/sys/class/dmi/id/sys_vendor", "Dell Inc.\n")
    assert detect_container(str(tmp_path), (1, "none\n")) == {"container": None, "evidence": []}
    assert detect_vm(str(tmp_path), (1, "none\n")) == {"vm": None, "evidence": []}


@pytest.mark.parametrize("files, expected", [
    ({"/run/.containerenv": ""}, "podman"),
    ({"/.dockerenv": ""}, "docker"),
    ({"/proc/1/environ": b"PATH=/bin\0container=lxc\0HOME=/\0"}, "lxc"),
    ({"/run/systemd/container": "systemd-nspawn\n"}, "systemd-nspawn"),
    ({"/proc/1/cgroup": "0::/system.slice/docker-3f2a.scope\n12:pids:/docker/3f2a\n"}, "docker"),
    ({"/proc/1/cgroup": "0::/machine.slice/libpod-abc.scope/container\n"}, "podman"),
])
def test_container_markers(tmp_path, files, expected):
    for path, content in files.items():
        write(tmp_path, path, content)
    found = detect_container(str(tmp_path))
    assert found["container"] == expected
    assert len(found["evidence"]) == 1


def test_systemd_detect_virt_wins_and_all_evidence_is_kept(tmp_path):
    write(tmp_path, "/.dockerenv", "")
    write(tmp_path, "/proc/1/environ", b"container=podman\0")
    found = detect_container(str(tmp_path), (0, "podman\n"))
    assert found["container"] == "podman"
    assert found["evidence"] == ["systemd-detect-virt --container: podman", "/.dockerenv exists",
                                 "container=podman in /proc/1/environ"]


def test_this_machine_shape(tmp_path):
    # constructed after this build host: /.dockerenv inside a KVM guest, no DMI, hypervisor flag
    write(tmp_path, "/.dockerenv", "")
    write(tmp_path, "/proc/cpuinfo", CPUINFO_GUEST)
    assert detect_container(str(tmp_path), (0, "docker\n"))["container"] == "docker"
    assert detect_vm(str(tmp_path), (0, "kvm\n")) == {
        "vm": "kvm", "evidence": ["systemd-detect-virt --vm: kvm", "cpu flag hypervisor"]}


@pytest.mark.parametrize("vendor, product, expected", [
    ("QEMU", "Standard PC (Q35 + ICH9, 2009)", "qemu"),
    ("Red Hat", "KVM", "kvm"),
    ("VMware, Inc.", "VMware Virtual Platform", "vmware"),
    ("innotek GmbH", "VirtualBox", "oracle"),
    ("Microsoft Corporation", "Virtual Machine", "microsoft"),
    ("Amazon EC2", "m5.large", "amazon"),
])
def test_vm_from_dmi_without_systemd_detect_virt(tmp_path, vendor, product, expected):
    write(tmp_path, "/sys/class/dmi/id/sys_vendor", vendor + "\n")
    write(tmp_path, "/sys/class/dmi/id/product_name", product + "\n")
    found = detect_vm(str(tmp_path), None)
    assert found["vm"] == expected
    assert found["evidence"][0].startswith("DMI ")


def test_hypervisor_flag_alone_gives_unknown(tmp_path):
    write(tmp_path, "/proc/cpuinfo", CPUINFO_GUEST)
    assert detect_vm(str(tmp_path), (127, ""))["vm"] == "unknown"


def test_nothing_readable(tmp_path):
    assert detect_container(str(tmp_path / "missing")) == {"container": None, "evidence": []}
    assert detect_vm(str(tmp_path / "missing")) == {"vm": None, "evidence": []}
