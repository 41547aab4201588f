#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# TEST FIXTURE: emulates uninstall.sh of MLNX_OFED_LINUX 5.0 DEB bundles (also shipped by the fixture
# ofed-scripts as /usr/sbin/ofed_uninstall.sh, as the vendor package does). Not NVIDIA software.
# Options as the vendor's: --unload-modules, --force, --keep-mft, -v, --dry-run, -q.
# Exit codes: 0 done (or nothing to do), 1 failure or answer other than y, 22 bad option,
# 172 not root, 174 other packages depend on MLNX_OFED and --force was not given.

PACKAGE=MLNX_OFED_LINUX
force=0; quiet=0; dry_run=0; verbose=0; unload=0; keep_mft=0
usage() {
	echo "Usage: $0 [--unload-modules] [--force] [--keep-mft] [-v] [--dry-run] [-q]"
}
while [ $# -gt 0 ]; do
	case "$1" in
		--force) force=1 ;;
		-q) quiet=1 ;;
		--dry-run) dry_run=1 ;;
		-v) verbose=1 ;;
		--unload-modules) unload=1 ;;
		--keep-mft) keep_mft=1 ;;
		-h|--help) usage; exit 0 ;;
		*) echo "Unsupported option: '$1'"; usage; exit 22 ;;
	esac
	shift
done
if [ "$(id -u)" -ne 0 ]; then
	echo "Only root can run $0"
	exit 172
fi

ofed_pkgs="mlnx-ofed-kernel-only mlnx-ofed-kernel-dkms mlnx-ofed-kernel-modules mlnx-ofed-kernel-utils ofed-scripts"
installed=""
for p in $ofed_pkgs; do
	if dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^.[^nc]'; then
		installed="$installed $p"
	fi
done
if [ -z "$installed" ]; then
	[ $quiet -eq 1 ] || echo "$PACKAGE is not installed."
	exit 0
fi

# Installed packages outside the stack that depend on it.
dependants=""
while IFS=$'\t' read -r name abbrev deps; do
	case "$abbrev" in ?[nc]*) continue ;; esac
	case " $ofed_pkgs " in *" $name "*) continue ;; esac
	for p in $installed; do
		if echo ", $deps," | grep -Eq "[ ,|]$p([ ,:(]|\$)"; then
			dependants="$dependants $name"; break
		fi
	done
done < <(dpkg-query -W -f='${Package}\t${db:Status-Abbrev}\t${Depends}, ${Pre-Depends}\n')

if [ -n "$dependants" ] && [ $force -eq 0 ]; then
	echo
	echo "Error: One or more packages depends on MLNX_OFED."
	echo "Those packages should be removed before uninstalling MLNX_OFED:"
	echo
	echo $dependants
	echo
	echo "To force uninstallation use '--force' flag."
	exit 174
fi

if [ $quiet -eq 0 ] && [ $force -eq 0 ] && [ $dry_run -eq 0 ]; then
	echo "This program will uninstall all $PACKAGE packages on your machine."
	read -r -n 1 -p "Do you want to continue?[y/N]:" ans
	echo
	case "$ans" in y|Y) ;; *) exit 1 ;; esac
fi

if [ $unload -eq 1 ] && [ $dry_run -eq 0 ] && [ -x /etc/init.d/openibd ]; then
	/etc/init.d/openibd stop || { echo "Failed to unload kernel modules"; exit 1; }
fi

[ $quiet -eq 1 ] || echo "The following packages will be removed:"
[ $quiet -eq 1 ] || echo $dependants $installed
[ $dry_run -eq 1 ] && exit 0
log=/tmp/ofed_uninstall.$$.log
if ! dpkg --purge $dependants $installed > "$log" 2>&1; then
	echo "Failed to uninstall the previous installation"
	echo "See $log"
	exit 1
fi
[ $quiet -eq 1 ] || echo "Uninstall finished successfully"
exit 0
