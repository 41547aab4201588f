#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Build the real-kernel test bed: a QEMU disk image made from the SAME Debian rootfs as the container
# images (localhost/iser-ofed-debian12-kernel: Debian 12 + linux-image-amd64 + headers, built by
# scripts/build-images.sh), plus what a VM needs (scripts/vm/): openssh-server with a generated key,
# DHCP on eth0 (systemd-networkd), udev, rdma-core, gcc/make for the out-of-tree holder module.
#
# No registry and no `podman build`: the kernel image is exported to a directory, completed with
# `chroot apt-get install`, and turned into an ext4 image with `mke2fs -d`. The kernel and initramfs are
# copied out next to it for `qemu-system-x86_64 -kernel/-initrd` (scripts/vm.sh boots it).
#
# Cache: /var/tmp/iser-ofed-vm/disk-<hash>/ where <hash> covers this script, scripts/vm/* and the
# recipe label of the kernel image; /var/tmp/iser-ofed-vm/current points to the newest complete build.
# A second run with the same recipe does nothing. FORCE=1 rebuilds; VERIFY=0 skips the boot check
# (boot, SSH, soft-RoCE up) that runs after a fresh build.
#
# Usage: scripts/build-vm.sh            build (or reuse) the disk, print its directory
#        scripts/build-vm.sh --dir      print the directory of the current recipe's build, build nothing
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECIPE=$HERE/vm
HOLDER=$HERE/../tests/vm/holder_module
CACHE=${VM_CACHE_DIR:-/var/tmp/iser-ofed-vm}
KERNEL_IMAGE=localhost/iser-ofed-debian12-kernel:latest
DISK_SIZE=${VM_DISK_SIZE:-4G}

log() { printf '[build-vm %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { printf '[build-vm] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (podman, chroot, mke2fs with root-owned files)"
for tool in podman mke2fs ssh-keygen sha256sum tar chroot qemu-system-x86_64 qemu-img; do
    command -v "$tool" >/dev/null || die "$tool not found: run scripts/host-setup.sh first"
done

packages() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$1"; }

image_label=$(podman image inspect --format '{{ index .Labels "iser.ofed.recipe" }}' "$KERNEL_IMAGE" \
    2>/dev/null || true)
[[ -n $image_label ]] || die "$KERNEL_IMAGE not found: run 'make images' (scripts/build-images.sh kernel)"
HASH=$( { cat "${BASH_SOURCE[0]}"; find "$RECIPE" "$HOLDER" -type f | LC_ALL=C sort | xargs cat; \
    echo "$image_label"; } | sha256sum | cut -c1-16)
OUT=$CACHE/disk-$HASH

if [[ ${1:-} == --dir ]]; then
    echo "$OUT"
    exit 0
fi

if [[ ${FORCE:-0} != 1 && -f $OUT/complete ]]; then
    log "VM disk is current (recipe $HASH): $OUT"
    ln -sfn "$(basename "$OUT")" "$CACHE/current"
    echo "$OUT"
    exit 0
fi

MOUNTS=()
ROOT=$CACHE/rootfs-$HASH
cleanup() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        if mountpoint -q "${MOUNTS[i]}"; then
            umount -l "${MOUNTS[i]}" || true
        fi
    done
    MOUNTS=()
}
trap 'cleanup; rm -rf "$ROOT"' EXIT

in_chroot() { DEBIAN_FRONTEND=noninteractive LC_ALL=C chroot "$ROOT" "$@"; }

start=$SECONDS
mkdir -p "$CACHE"
rm -rf "$OUT" "$ROOT"
mkdir -p "$OUT" "$ROOT"

log "unpacking $KERNEL_IMAGE (recipe $image_label) into $ROOT"
ctr=$(podman create "$KERNEL_IMAGE" /bin/true)
podman export "$ctr" | tar --numeric-owner -C "$ROOT" -xf -
podman rm "$ctr" >/dev/null

# podman export leaves the container's resolv.conf/hosts stubs: use the host's resolver for apt.
rm -f "$ROOT/etc/resolv.conf"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
for m in proc sys dev dev/pts; do
    case $m in
        proc) mount -t proc proc "$ROOT/proc" ;;
        sys) mount -t sysfs sysfs "$ROOT/sys" ;;
        *) mount --bind "/$m" "$ROOT/$m" ;;
    esac
    MOUNTS+=("$ROOT/$m")
done
in_chroot apt-get update -q >"$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; die "apt-get update failed"; }
log "chroot apt-get install $(packages "$RECIPE/vm.packages" | paste -sd' ' -)"
# shellcheck disable=SC2046
in_chroot apt-get install -y -q $(packages "$RECIPE/vm.packages") >>"$OUT/build.log" 2>&1 \
    || { tail -30 "$OUT/build.log"; die "apt-get install failed (log: $OUT/build.log)"; }
in_chroot apt-get clean
[[ -f $HOLDER/iser_ofed_holder.c ]] || die "holder module source missing: $HOLDER"
kver=$(find "$ROOT/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -1)
[[ -n $kver ]] || die "no /lib/modules/<kver> in $KERNEL_IMAGE"
in_chroot test -e "/lib/modules/$kver/build/Makefile" || die "no headers (/lib/modules/$kver/build) in the image"
# The out-of-tree holder module, built against the VM kernel's headers, kept OUTSIDE the modules tree
# (/root/holder_module: loaded with insmod, unknown to modules.dep and to the distro's packages).
log "building the holder module (tests/vm/holder_module) for $kver"
install -d "$ROOT/root/holder_module"
install -m 0644 "$HOLDER/iser_ofed_holder.c" "$HOLDER/Makefile" "$ROOT/root/holder_module/"
in_chroot make -C /root/holder_module KVER="$kver" >>"$OUT/build.log" 2>&1 \
    || { tail -20 "$OUT/build.log"; die "holder module build failed"; }
in_chroot modinfo -F vermagic /root/holder_module/iser_ofed_holder.ko | grep -q "^$kver " \
    || die "iser_ofed_holder.ko was not built for $kver"
cleanup
rm -f "$ROOT/usr/sbin/policy-rc.d" "$ROOT/etc/resolv.conf"

[[ -f $ROOT/boot/vmlinuz-$kver && -f $ROOT/boot/initrd.img-$kver ]] || die "no kernel/initramfs for $kver"

log "configuring the rootfs for a VM (kernel $kver)"
# The container image masks units that need a real kernel/hardware: a VM has both.
for unit in getty.target systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
    systemd-udev-trigger.service systemd-modules-load.service sys-kernel-config.mount \
    sys-kernel-debug.mount sys-kernel-tracing.mount systemd-remount-fs.service; do
    rm -f "$ROOT/etc/systemd/system/$unit"
done
# Kept masked: console-getty (serial-getty@ttyS0 serves the console), systemd-firstboot (would prompt on
# the console), apt timers. networkd's wait-online only slows the boot (nothing waits for it).
ln -sfn /dev/null "$ROOT/etc/systemd/system/systemd-networkd-wait-online.service"
echo iser-ofed-vm >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tiser-ofed-vm\n' >"$ROOT/etc/hosts"
# A fixed machine-id: every run boots a fresh overlay of the same disk; without one systemd would treat
# each boot as a first boot.
head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$ROOT/etc/machine-id"
echo >>"$ROOT/etc/machine-id"
printf '/dev/vda\t/\text4\trw,errors=remount-ro\t0\t1\n' >"$ROOT/etc/fstab"
install -D -m 0644 "$RECIPE/eth0.network" "$ROOT/etc/systemd/network/20-eth0.network"
install -D -m 0644 "$RECIPE/sshd.conf" "$ROOT/etc/ssh/sshd_config.d/iser-ofed-vm.conf"
in_chroot systemctl enable systemd-networkd.service ssh.service >>"$OUT/build.log" 2>&1
# DNS is not needed inside (no apt at test time); an empty resolv.conf keeps tools from waiting.
: >"$ROOT/etc/resolv.conf"

log "generating the test-bed SSH key (root login by key only)"
ssh-keygen -q -t ed25519 -N '' -C "iser-ofed-vm-$HASH" -f "$OUT/id_ed25519"
install -d -m 0700 "$ROOT/root/.ssh"
install -m 0600 "$OUT/id_ed25519.pub" "$ROOT/root/.ssh/authorized_keys"

# The initramfs from linux-image-amd64 (MODULES=most) must carry the root device's drivers.
initrd_list=$(in_chroot lsinitramfs "/boot/initrd.img-$kver") || die "lsinitramfs failed"
for mod in virtio_blk virtio_net virtio_pci ext4; do
    grep -q "/$mod.ko" <<<"$initrd_list" || die "initrd.img-$kver lacks $mod.ko"
done
cp "$ROOT/boot/vmlinuz-$kver" "$OUT/vmlinuz"
cp "$ROOT/boot/initrd.img-$kver" "$OUT/initrd.img"
echo "$kver" >"$OUT/kver"

log "mke2fs -t ext4 -d $ROOT disk.img $DISK_SIZE"
rm -rf "${ROOT:?}/tmp/"* "${ROOT:?}/var/tmp/"*
mke2fs -q -t ext4 -L iser-ofed-root -E root_owner=0:0 -d "$ROOT" "$OUT/disk.img" "$DISK_SIZE" \
    >>"$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; die "mke2fs failed"; }
rm -rf "$ROOT"

touch "$OUT/complete"
ln -sfn "$(basename "$OUT")" "$CACHE/current"
# Older builds are dead weight (each disk is several GB once used).
find "$CACHE" -mindepth 1 -maxdepth 1 -name 'disk-*' ! -name "disk-$HASH" -exec rm -rf {} +
log "built $OUT (kernel $kver) in $((SECONDS - start))s"
echo "$(date -Is) disk-$HASH $((SECONDS - start))s" >>"$CACHE/timings.log"

if [[ ${VERIFY:-1} == 1 ]]; then
    name=iser-ofed-vm-verify-$$
    log "verify: boot, SSH, soft-RoCE (scripts/vm.sh, instance $name)"
    trap 'bash "$HERE/vm.sh" stop "$name" >/dev/null 2>&1 || true' EXIT
    bash "$HERE/vm.sh" start "$name"
    bash "$HERE/vm.sh" ssh "$name" sh -eu <<'EOF'
modprobe -a rdma_rxe ib_isert ib_ipoib mlx4_ib mlx5_ib
rdma link add rxe0 type rxe netdev eth0
rdma link show rxe0/1 | tee /dev/stderr | grep -q "state ACTIVE"
echo "soft-RoCE rxe0 ACTIVE on $(uname -r)"
EOF
    bash "$HERE/vm.sh" stop "$name"
    trap - EXIT
fi
echo "$OUT"
