# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
"""Interlocks: reasons not to unload the IB stack now, each with what holds it and how to release it.

Every check takes the unload ``plan`` (module names) and reads files under a ``root`` prefix (tests point it
at a constructed tree); command output (``ip -j ...``) is passed in as text. A check returns a list of
findings ``{code, msg}`` and only fires when the plan contains a module the finding depends on:

=====================  ==========================================================================================
code                   fires when
=====================  ==========================================================================================
HOLDER_UNKNOWN         a module in the plan is not known (rule in ``_unload_plan``)
NIC_DEFAULT_ROUTE      the interface of a default route (IPv4 or IPv6) is driven by a module in the plan
NIC_MGMT_CONNECTION    the interface holding the Ansible connection's local address is driven by a plan module
ISER_SESSION           ``ib_iser`` is in the plan and an iSCSI session sits on a SCSI host ``iscsi_iser``
SRP_SESSION            ``ib_srp`` is in the plan and an SRP remote port or an ``ib_srp`` SCSI host exists
NFS_RDMA_MOUNT         ``rpcrdma``/``xprtrdma`` is in the plan and an NFS mount uses ``proto=rdma``/``rdma``
NFSD_RDMA_LISTENER     ``rpcrdma``/``svcrdma`` is in the plan and ``/proc/fs/nfsd/portlist`` lists ``rdma``
LUSTRE_O2IBLND         ``ko2iblnd`` is in the plan
GPFS_RDMA              ``mmfs26``/``mmfslinux`` is loaded, ``ib_core`` is in the plan and ``mmfs.cfg`` has
                       ``verbsRdma enable`` (or cannot be read: GPFS is loaded and RDMA cannot be ruled out)
BEEGFS_RDMA            ``beegfs`` is loaded and it is in the plan, or ``ib_core`` is in the plan and
                       ``beegfs-client.conf`` does not set ``connUseRDMA = false`` (BeeGFS's default is true)
DEV_INFINIBAND_OPEN    a process has ``/dev/infiniband/*`` open and ``ib_uverbs``/``ib_umad``/``rdma_ucm``/
                       ``ib_core`` is in the plan
=====================  ==========================================================================================

iSCSI over TCP (SCSI host ``iscsi_tcp``) is not an IB user and never fires ``ISER_SESSION``.
"""
from __future__ import annotations

import glob
import ipaddress
import json
import os
import re
import socket
from collections.abc import Iterable, Mapping

from ansible_collections.iser.ofed.plugins.module_utils._mounts import parse_mountinfo

ARPHRD_INFINIBAND = "32"
UVERBS_MODULES = ("ib_uverbs", "ib_umad", "rdma_ucm", "ib_core")
GPFS_MODULES = ("mmfs26", "mmfslinux")
MMFS_CFG = "var/mmfs/gen/mmfs.cfg"
BEEGFS_CLIENT_CONF = "etc/beegfs/beegfs-client.conf"


def finding(code: str, msg: str) -> dict:
    return {"code": code, "msg": msg}


def _read(root: str, path: str) -> str | None:
    try:
        with open(os.path.join(root, path.lstrip("/")), encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _link_base(path: str) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


# --- NIC: default route and management connection -------------------------------------------------------

def default_route_devs_from_ip_json(text: str) -> list[str] | None:
    """Devices of ``ip -j route show default`` output; None when the text is not that JSON."""
    try:
        routes = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(routes, list):
        return None
    devs = []
    for route in routes:
        if isinstance(route, dict):
            devs.append(route.get("dev"))
            for hop in route.get("nexthops") or []:
                if isinstance(hop, dict):
                    devs.append(hop.get("dev"))
    return sorted({d for d in devs if d})


def default_route_devs_from_proc(route_text: str | None, ipv6_route_text: str | None) -> list[str]:
    """Default-route interfaces from ``/proc/net/route`` (dest and mask 0) and ``/proc/net/ipv6_route`` (::/0)."""
    devs = set()
    for line in (route_text or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000" and fields[0] != "lo":
            devs.add(fields[0])
    for line in (ipv6_route_text or "").splitlines():
        fields = line.split()
        if (len(fields) >= 10 and fields[0] == "0" * 32 and fields[1] == "00" and fields[9] != "lo"
                and int(fields[8], 16) & 0x0200 == 0):  # skip RTF_REJECT (unreachable) routes
            devs.add(fields[9])
    return sorted(devs)


def ssh_local_address(environ: Mapping[str, str]) -> str | None:
    """Server-side address of ``SSH_CONNECTION`` (``client_ip client_port server_ip server_port``)."""
    fields = (environ.get("SSH_CONNECTION") or "").split()
    return fields[2] if len(fields) == 4 else None


def _hex_to_ip(value: str) -> str | None:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    if len(raw) == 16:
        addr = ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
        return str(addr.ipv4_mapped or addr)
    return None


def ssh_socket_addresses(tcp_texts: Iterable[str | None], port: int = 22) -> list[str]:
    """Local addresses of ESTABLISHED sockets on local ``port`` in ``/proc/net/tcp``/``tcp6``.

    Used when ``SSH_CONNECTION`` is not in the environment (``become`` with ``sudo`` drops it).
    """
    addrs = set()
    for text in tcp_texts:
        for line in (text or "").splitlines()[1:]:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "01" or ":" not in fields[1]:
                continue
            host, _sep, hport = fields[1].rpartition(":")
            try:
                if int(hport, 16) != port:
                    continue
            except ValueError:
                continue
            addr = _hex_to_ip(host)
            if addr:
                addrs.add(addr)
    return sorted(addrs)


def interfaces_for_address(ip_addr_json: str, address: str) -> list[str] | None:
    """Interfaces of ``ip -j addr`` whose ``addr_info`` holds ``address``; None when the JSON is unusable."""
    try:
        links = json.loads(ip_addr_json or "")
        wanted = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if not isinstance(links, list):
        return None
    found = set()
    for link in links:
        if not isinstance(link, dict):
            continue
        for info in link.get("addr_info") or []:
            try:
                if ipaddress.ip_address(str(info.get("local", ""))) == wanted:
                    found.add(link.get("ifname"))
            except ValueError:
                continue
    return sorted(f for f in found if f)


def interface_modules(root: str, ifname: str, _depth: int = 0) -> tuple[list[str], list[str]]:
    """``(modules, evidence)`` that drive ``ifname``: its device's driver module, through ``lower_*`` links
    (bond, VLAN, bridge ports), plus ``ib_ipoib`` for an InfiniBand-type (IPoIB) interface."""
    base = os.path.join(root, "sys/class/net", ifname)
    mods: list[str] = []
    evidence: list[str] = []
    if _depth > 8 or not os.path.isdir(base):
        return mods, evidence
    if (_read(root, "sys/class/net/%s/type" % ifname) or "").strip() == ARPHRD_INFINIBAND:
        mods.append("ib_ipoib")
        evidence.append("%s is an IPoIB interface (type 32)" % ifname)
    driver = _link_base(os.path.join(base, "device/driver"))
    if driver:
        module = _link_base(os.path.join(base, "device/driver/module"))
        if not module:
            for candidate in sorted(glob.glob(os.path.join(root, "sys/bus/*/drivers", driver, "module"))):
                module = _link_base(candidate)
                if module:
                    break
        if module:
            mods.append(module)
            evidence.append("%s: driver %s, module %s" % (ifname, driver, module))
        else:
            evidence.append("%s: driver %s is built into the kernel" % (ifname, driver))
    for entry in sorted(os.listdir(base)):
        if entry.startswith("lower_"):
            lower, more = interface_modules(root, entry[len("lower_"):], _depth + 1)
            mods.extend(lower)
            evidence.extend(more)
    return sorted(set(mods)), evidence


def check_nics(root: str, plan: Iterable[str], route_devs: Iterable[str], mgmt: Mapping[str, Iterable[str]]
               ) -> list[dict]:
    """NIC_DEFAULT_ROUTE / NIC_MGMT_CONNECTION findings.

    ``mgmt`` maps a local address of the management connection to its interfaces.
    """
    plan_set = set(plan)
    found = []
    for dev in sorted(set(route_devs)):
        mods, evidence = interface_modules(root, dev)
        hit = sorted(plan_set.intersection(mods))
        if hit:
            found.append(finding("NIC_DEFAULT_ROUTE", (
                "interface %s carries a default route and is driven by %s, which the plan would unload (%s); "
                "move the default route to another NIC, or unload from the console" % (
                    dev, ", ".join(hit), "; ".join(evidence)))))
    for addr, devs in sorted(mgmt.items()):
        for dev in sorted(set(devs)):
            mods, evidence = interface_modules(root, dev)
            hit = sorted(plan_set.intersection(mods))
            if hit:
                found.append(finding("NIC_MGMT_CONNECTION", (
                    "the management (SSH/Ansible) connection uses %s on interface %s, driven by %s, which the "
                    "plan would unload (%s); connect through another NIC or from the console" % (
                        addr, dev, ", ".join(hit), "; ".join(evidence)))))
    return found


# --- storage sessions ---------------------------------------------------------------------------------------

def _scsi_host_proc_name(root: str, real: str) -> tuple[str | None, str | None]:
    match = re.search(r"/host(\d+)(/|$)", real)
    if not match:
        return None, None
    host = "host%s" % match.group(1)
    name = _read(root, "sys/class/scsi_host/%s/proc_name" % host)
    return host, name.strip() if name else None


def check_iser_srp(root: str, plan: Iterable[str]) -> list[dict]:
    """ISER_SESSION and SRP_SESSION findings (iSCSI over TCP is not an IB user)."""
    plan_set = set(plan)
    found = []
    if "ib_iser" in plan_set:
        for session in sorted(glob.glob(os.path.join(root, "sys/class/iscsi_session/session*"))):
            host, proc_name = _scsi_host_proc_name(root, os.path.realpath(session))
            if proc_name and "iser" in proc_name:
                name = os.path.basename(session)
                target = (_read(root, "sys/class/iscsi_session/%s/targetname" % name) or "?").strip()
                found.append(finding("ISER_SESSION", (
                    "iSER session %s (target %s, SCSI %s, %s) is active; log it out first "
                    "(iscsiadm -m node -T %s -u) after unmounting what uses its disks" % (
                        name, target, host, proc_name, target))))
    if "ib_srp" in plan_set:
        ports = sorted(os.path.basename(p) for p in glob.glob(os.path.join(root, "sys/class/srp_remote_ports/*")))
        hosts = []
        for host_dir in sorted(glob.glob(os.path.join(root, "sys/class/scsi_host/host*"))):
            if (_read(root, os.path.relpath(os.path.join(host_dir, "proc_name"), root)) or "").strip() == "ib_srp":
                hosts.append(os.path.basename(host_dir))
        if ports or hosts:
            found.append(finding("SRP_SESSION", (
                "SRP initiator in use (remote ports: %s; SCSI hosts: %s); stop srp_daemon, unmount and remove "
                "the SRP disks (and their multipath maps) first" % (
                    ", ".join(ports) or "none", ", ".join(hosts) or "none"))))
    return found


def check_nfs_rdma(mountinfo_text: str | None, portlist_text: str | None, plan: Iterable[str]) -> list[dict]:
    """NFS_RDMA_MOUNT (client) and NFSD_RDMA_LISTENER (server) findings."""
    plan_set = set(plan)
    found = []
    if plan_set.intersection(("rpcrdma", "xprtrdma")):
        mounts, _bad = parse_mountinfo(mountinfo_text or "")
        for mount in mounts:
            options = set(mount["options"]) | set(mount["super_options"])
            if mount["fstype"].startswith("nfs") and (
                    "rdma" in options or "proto=rdma" in options or "proto=rdma6" in options):
                found.append(finding("NFS_RDMA_MOUNT", (
                    "%s is an NFS-over-RDMA mount of %s; unmount it first (umount %s)" % (
                        mount["mount"], mount["device"], mount["mount"]))))
    if plan_set.intersection(("rpcrdma", "svcrdma")):
        listeners = [line.strip() for line in (portlist_text or "").splitlines() if line.strip().startswith("rdma")]
        if listeners:
            found.append(finding("NFSD_RDMA_LISTENER", (
                "the NFS server listens on RDMA (%s in /proc/fs/nfsd/portlist); remove it "
                "(echo '-%s' > /proc/fs/nfsd/portlist) or stop nfs-server" % (
                    ", ".join(listeners), listeners[0]))))
    return found


def check_cluster_fs(root: str, loaded: Iterable[str], plan: Iterable[str]) -> list[dict]:
    """LUSTRE_O2IBLND, GPFS_RDMA and BEEGFS_RDMA findings."""
    loaded_set = set(loaded)
    plan_set = set(plan)
    found = []
    if "ko2iblnd" in plan_set:
        found.append(finding("LUSTRE_O2IBLND", (
            "Lustre's ko2iblnd (LNet over InfiniBand) is loaded; unmount Lustre and stop LNet first "
            "(umount -a -t lustre; lustre_rmmod)")))
    gpfs = sorted(loaded_set.intersection(GPFS_MODULES))
    if gpfs and "ib_core" in plan_set:
        cfg = _read(root, MMFS_CFG)
        if cfg is None:
            found.append(finding("GPFS_RDMA", (
                "GPFS is loaded (%s) and /%s cannot be read, so verbsRdma cannot be ruled out; stop GPFS "
                "first (mmshutdown)" % (", ".join(gpfs), MMFS_CFG))))
        elif re.search(r"^\s*verbsRdma\s+enable\b", cfg, re.MULTILINE | re.IGNORECASE):
            found.append(finding("GPFS_RDMA", (
                "GPFS is loaded (%s) with verbsRdma enable in /%s; stop GPFS first (mmshutdown)" % (
                    ", ".join(gpfs), MMFS_CFG))))
    if "beegfs" in loaded_set and ("beegfs" in plan_set or "ib_core" in plan_set):
        conf = _read(root, BEEGFS_CLIENT_CONF)
        rdma_off = conf is not None and re.search(
            r"^\s*connUseRDMA\s*=\s*(false|no|0)\s*$", conf, re.MULTILINE | re.IGNORECASE)
        if "beegfs" in plan_set or not rdma_off:
            why = ("it holds an RDMA module" if "beegfs" in plan_set else
                   "/%s does not set connUseRDMA = false" % BEEGFS_CLIENT_CONF)
            found.append(finding("BEEGFS_RDMA", (
                "the BeeGFS client is loaded and may use RDMA (%s); unmount BeeGFS and stop beegfs-client "
                "first" % why)))
    return found


def open_infiniband_handles(root: str, own_pid: int | None = None) -> list[dict]:
    """``[{pid, comm, paths}]`` of processes with ``/dev/infiniband/*`` open (from ``/proc/<pid>/fd``)."""
    found = []
    for fd_dir in glob.glob(os.path.join(root, "proc/[0-9]*/fd")):
        pid = int(os.path.basename(os.path.dirname(fd_dir)))
        if pid == own_pid:
            continue
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        paths = set()
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith("/dev/infiniband/"):
                paths.add(target)
        if paths:
            comm = (_read(root, "proc/%d/comm" % pid) or "?").strip()
            found.append({"pid": pid, "comm": comm, "paths": sorted(paths)})
    return sorted(found, key=lambda item: item["pid"])


def check_dev_infiniband(handles: list[dict], plan: Iterable[str]) -> list[dict]:
    """DEV_INFINIBAND_OPEN findings, one per process."""
    if not set(plan).intersection(UVERBS_MODULES):
        return []
    return [finding("DEV_INFINIBAND_OPEN", (
        "process %d (%s) holds %s; stop it first (opensm, ibacm, srp_daemon, rdma-ndd, MPI jobs...)" % (
            item["pid"], item["comm"], ", ".join(item["paths"])))) for item in handles]


def check_unknown_holders(unknown: list[dict]) -> list[dict]:
    """HOLDER_UNKNOWN findings from ``_unload_plan.unknown_holders``."""
    found = []
    for item in unknown:
        where = ("modules.dep path %s" % item["path"]) if item["path"] else "no modules.dep entry (out of tree?)"
        holds = ", ".join(item["holds"]) or "a module of the plan"
        found.append(finding("HOLDER_UNKNOWN", (
            "module %s holds %s but is not a known part of the RDMA stack (%s); unload it yourself "
            "(modprobe -r %s), or name it in modules to have it unloaded" % (
                item["name"], holds, where, item["name"]))))
    return found
