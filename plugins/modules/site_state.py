#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: site_state
short_description: Tell in one round trip whether a host is converged for this iser.ofed site run
version_added: "0.3.0"
description:
  - The converged fast path of the C(iser.ofed.site) playbook. Reads the host's real state once and says
    whether a full site run would only re-read it; the playbook then sends only the hosts that are NOT
    converged through the pipeline (preflight, validate, ... finalize). Any doubt is "not converged".
  - "Converged means all of these, checked in this order (the first that fails is RV(reason); reading stops
    there): the inputs name a bundle archive with a known checksum and an SCST source whose identity the
    controller computed, without a forced rebuild; no site lock on the host; the journal's C(site) transaction
    is finished (the rule of the C(iser.ofed.site_transaction) filter) for the bundle validate recorded, and
    that record is this run's bundle name, flavor, wanted version and target kernel, with no pipeline stage
    left started or failed; the staged archive validate recorded is there with the expected checksum;
    C(ofed_info -s) names the recorded flavor and version and C(ofed-scripts), the stack's kernel package and
    the kernel headers validate named are installed (dpkg-query / rpm); C(iser.ofed.drift_facts)' checks find
    no drift (a kernel without the stack's modules, quarantined stock files put back, changed quarantined
    copies) and the target kernel's OFED modules are in place; the journal's iscsi_scst build is for this
    source, kernel, OFED version and install method, every SCST module is found by C(modinfo -k <kernel>)
    under C(/lib/modules/<kernel>/) with that kernel's vermagic, and isert-scst is linked with the
    C(ib_register_client) CRC of the C(Module.symvers) it was built against."
  - No marker file is written or trusted; the module changes nothing.
options:
  state_dir:
    description: The on-host journal directory (C(journal.json), C(site.lock), C(quarantine/)).
    type: path
    default: /var/lib/iser-ofed
  modules_root:
    description: Where the per-kernel module trees live.
    type: path
    default: /lib/modules
  target_kernel:
    description: Kernel release the run targets (C(iser_ofed_target_kernel)); empty for the running kernel.
    type: str
    default: ""
  source:
    description: C(iser_ofed_source). Only C(bundle) can be converged here; C(repository) always takes the pipeline.
    type: str
    default: bundle
  flavor:
    description: The flavor this run installs (C(iser_ofed_flavor)).
    type: str
    default: ""
  version:
    description: The version this run wants (C(iser_ofed_version), the documented match rule); empty for any.
    type: str
    default: ""
  bundle_name:
    description: File name of this run's bundle archive (the basename of C(iser_ofed_bundle_path) or of the URL's path).
    type: str
    default: ""
  bundle_checksum:
    description:
      - C(<algorithm>:<hex>) of this run's bundle archive (C(iser_ofed_bundle_checksum), or computed on the
        controller from the controller's file). Empty means unknown, hence not converged.
    type: str
    default: ""
  scst_source_id:
    description:
      - The SCST source's identity as iscsi_scst computes it (C(<algorithm>:<hex>) of an archive, C(dir:<path>@<version>)
        of a directory). Empty means unknown (a git source), hence not converged.
    type: str
    default: ""
  scst_install_method:
    description: C(iscsi_scst_install_method) of this run.
    type: str
    default: make_install
  scst_modules:
    description: The SCST modules that must be installed for the target kernel (C(iscsi_scst_modules)).
    type: list
    elements: str
    default: [scst, iscsi-scst, isert-scst]
  scst_force_rebuild:
    description: C(iscsi_scst_force_rebuild) of this run (true is never converged).
    type: bool
    default: false
  reboot:
    description:
      - C(finalize_reboot) (C(iser_ofed_site_reboot)) of this run. A reboot finalize recorded as still due, on a
        host that can load modules, makes the host not converged when this is true (the pipeline's finalize
        then reboots).
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - iser.ofed.attributes
attributes:
  check_mode:
    support: full
    details: Reads only; the same answer in check mode.
  diff_mode:
    support: none
notes:
  - Hashes the staged bundle archive (once per run per host, a second or two for a 400 MB MLNX_OFED bundle)
    and, through the drift checks, the quarantined stock files.
seealso:
  - module: iser.ofed.drift_facts
  - module: iser.ofed.journal
author:
  - iser.ofed contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Is this host converged for this run?
  iser.ofed.site_state:
    flavor: mlnx_ofed
    version: 5.8-3.0.7.0
    bundle_name: MLNX_OFED_LINUX-5.8-3.0.7.0-debian12.1-x86_64.tgz
    bundle_checksum: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    scst_source_id: sha1:89abcdef0123456789abcdef0123456789abcdef
  register: state

- name: Put the hosts that are not converged in a group
  ansible.builtin.group_by:
    key: "{{ 'converged' if state.converged else 'pending' }}"
"""

RETURN = r"""
converged:
  description: Whether a site run would change nothing on the host (every check passed).
  returned: always
  type: bool
  sample: true
reason:
  description: Why the host is not converged (the first check that failed); empty when it is.
  returned: always
  type: str
  sample: "drift: 1 quarantined stock file(s) of kernel 6.1.0-56-amd64 are back at their original path"
read:
  description: What was read (the checks that ran, the target kernel, the stack, the SCST modules).
  returned: always
  type: dict
  sample:
    kernel: 6.1.0-56-amd64
    running_kernel: 6.1.0-56-amd64
    checks: [inputs, lock, journal, bundle, stack, drift, scst]
    bundle: {archive: /var/lib/iser-ofed/bundles/MLNX_OFED_LINUX-5.0-2.1.8.0-debian12-x86_64.tgz, checksum: "sha256:3f5c..."}
    stack: {flavor: mlnx_ofed, version: 5.0-2.1.8.0, kernel_packages: [mlnx-ofed-kernel-dkms], ofed_scripts: 5.0-OFED.5.0.2.1.8}
    scst: {source_id: "sha1:1b2c...", modules: [scst, iscsi-scst, isert-scst], crc: "0x1a2b3c4d"}
journal:
  description: The host's journal as read (the report's record is built from it).
  returned: always
  type: dict
  sample: {version: 1, stages: {}}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.iser.ofed.plugins.module_utils import _site_state as ss
from ansible_collections.iser.ofed.plugins.module_utils._drift import gather_drift
from ansible_collections.iser.ofed.plugins.module_utils._journal import JournalError, load_journal
from ansible_collections.iser.ofed.plugins.module_utils._run_lock import lock_path
from ansible_collections.iser.ofed.plugins.module_utils._scst import USR_OFED_INFO
from ansible_collections.iser.ofed.plugins.module_utils._scst_build import query_packages

ENV = {"LC_ALL": "C"}


def run(module, argv):
    try:
        return module.run_command(argv, environ_update=ENV, handle_exceptions=False)
    except OSError as exc:
        return None, "", str(exc)


def assess(module, want, read):
    """Run the checks in order; returns the journal read (raises ss.NotConverged at the first doubt)."""
    state_dir = module.params["state_dir"]
    ss.check_inputs(want)
    read["checks"].append("inputs")
    lock = lock_path(state_dir)
    ss.check_lock(os.path.lexists(lock), lock)
    read["checks"].append("lock")
    try:
        journal = load_journal(state_dir)
    except JournalError as exc:
        raise ss.NotConverged("the journal cannot be read: %s" % exc)
    read["journal"] = journal
    vdata = ss.check_journal(journal, want)
    read["checks"].append("journal")
    algo = (ss.parse_checksum(want["bundle_checksum"]) or ("sha256", ""))[0]
    archive = vdata.get("archive")
    ss.check_bundle(vdata, want, ss.file_digest(archive, algo) if archive else None)
    read["bundle"] = {"archive": archive, "checksum": want["bundle_checksum"]}
    read["checks"].append("bundle")
    headers = (vdata["headers_package"],) if vdata.get("headers_package") else ()
    errors = []
    pkgs = query_packages(lambda argv: run(module, argv), module.get_bin_path, errors, headers)[0]
    if errors:
        raise ss.NotConverged("the package query failed: %s" % "; ".join(e["msg"] for e in errors))
    rc, out, _err = run(module, [USR_OFED_INFO, "-s"]) if os.path.exists(USR_OFED_INFO) else (None, "", "")
    stack = ss.check_stack(vdata, rc, out, pkgs)
    read["stack"] = stack
    read["checks"].append("stack")
    drift = gather_drift(module.params["modules_root"], state_dir, want["running"], target=want["kernel"],
                         flavor=stack["flavor"], version=stack["version"],
                         packages=sorted(ss.installed_packages(pkgs)))
    ss.check_drift(drift)
    read["checks"].append("drift")
    data = ss.scst_record(journal, want, stack)
    mods = ss.modules_of(want)
    rc, out, err = run(module, ["modinfo", "-k", want["kernel"]] + mods)
    found = ss.parse_modinfo(out or "")
    ss.check_scst_modules(found, mods, want["kernel"], err or "")
    symvers = str(ss._dict(data.get("headers")).get("module_symvers") or "")
    linked = expected = None
    if ss.ISERT in [m.replace("_", "-") for m in mods]:
        rc, out, _err = run(module, ["modprobe", "--dump-modversions", found[ss.ISERT]["filename"]])
        linked = ss.crc_from_modversions(out) if rc == 0 else None
        try:
            with open(symvers, encoding="utf-8", errors="replace") as handle:
                expected = ss.crc_from_symvers(handle.read())
        except OSError:
            expected = None
        ss.check_scst_crc(linked, expected, symvers)
    read["scst"] = {"source_id": want["scst_source_id"], "modules": mods, "crc": linked}
    read["checks"].append("scst")
    return journal


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state_dir=dict(type="path", default="/var/lib/iser-ofed"),
            modules_root=dict(type="path", default="/lib/modules"),
            target_kernel=dict(type="str", default=""),
            source=dict(type="str", default="bundle"),
            flavor=dict(type="str", default=""),
            version=dict(type="str", default=""),
            bundle_name=dict(type="str", default=""),
            bundle_checksum=dict(type="str", default=""),
            scst_source_id=dict(type="str", default=""),
            scst_install_method=dict(type="str", default="make_install"),
            scst_modules=dict(type="list", elements="str", default=["scst", "iscsi-scst", "isert-scst"]),
            scst_force_rebuild=dict(type="bool", default=False),
            reboot=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    running = os.uname().release
    want = dict(p, running=running, kernel=p["target_kernel"] or running)
    read = {"kernel": want["kernel"], "running_kernel": running, "checks": []}
    try:
        journal = assess(module, want, read)
    except ss.NotConverged as exc:
        journal = read.pop("journal", {})
        module.exit_json(changed=False, **ss.result(False, str(exc), read, journal))
    read.pop("journal", None)
    module.exit_json(changed=False, **ss.result(True, "", read, journal))


if __name__ == "__main__":
    main()
