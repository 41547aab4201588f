# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: iser.ofed contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The attribute values every iser.ofed module shares, on top of ansible.builtin.action_common_attributes
(which gives each attribute its description). A module's own ``attributes`` entries win over these."""

from __future__ import annotations


class ModuleDocFragment:
    # Every module: runs on POSIX hosts (Linux: /proc, /sys, /lib/modules, dpkg/rpm).
    DOCUMENTATION = r"""
attributes:
  platform:
    platforms: posix
"""

    # Read-only modules that return facts (kernel_facts, ofed_facts, drift_facts, scst_build_facts).
    FACTS = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
"""
