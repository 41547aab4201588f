#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Build the test bed base images from Debian's packages (no container registry needed):
#
#   localhost/iser-ofed-debian12:latest         debootstrap minbase + scripts/images/debian12.packages,
#                                               systemd as PID 1 (podman run --systemd=always ... /sbin/init)
#   localhost/iser-ofed-debian12-kernel:latest  the above + linux-image-amd64 and the matching
#                                               linux-headers-<kver> (real /lib/modules tree, IB modules)
#
# Each image carries the label iser.ofed.recipe=<sha256 of this script + its recipe files>; an image whose
# label matches the current recipe is not rebuilt. FORCE=1 rebuilds anyway. VERIFY=0 skips the boot check.
#
# Usage: scripts/build-images.sh [base|kernel|all]   (default: all; "kernel" builds base first if needed)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RECIPES=$HERE/images
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}
WORK=${IMAGE_BUILD_DIR:-/var/tmp/iser-ofed-images}
BASE_IMAGE=localhost/iser-ofed-debian12:latest
KERNEL_IMAGE=localhost/iser-ofed-debian12-kernel:latest
LABEL=iser.ofed.recipe

log() { printf '[build-images %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { printf '[build-images] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, chroot, podman import)"
for tool in debootstrap podman sha256sum tar chroot; do
    command -v "$tool" >/dev/null || die "$tool not found: run scripts/host-setup.sh first"
done

packages() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$1"; }

recipe_hash() {  # recipe_hash <files...>: hash of this script + the given recipe files
    cat "${BASH_SOURCE[0]}" "$@" | sha256sum | cut -c1-16
}
BASE_HASH=$(recipe_hash "$RECIPES/debian12.packages" "$RECIPES/sources.list")
KERNEL_HASH=$(recipe_hash "$RECIPES/debian12.packages" "$RECIPES/sources.list" \
    "$RECIPES/debian12-kernel.packages")

image_current() {  # image_current <name> <hash>
    local have
    have=$(podman image inspect --format "{{ index .Labels \"$LABEL\" }}" "$1" 2>/dev/null || true)
    [[ $have == "$2" ]]
}

MOUNTS=()
cleanup() {
    local m
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        m=${MOUNTS[i]}
        if mountpoint -q "$m"; then
            umount -l "$m" || true
        fi
    done
    MOUNTS=()
}
trap cleanup EXIT

chroot_mounts() {  # chroot_mounts <rootfs>
    local root=$1
    mount -t proc proc "$root/proc" && MOUNTS+=("$root/proc")
    mount -t sysfs sysfs "$root/sys" && MOUNTS+=("$root/sys")
    mount --bind /dev "$root/dev" && MOUNTS+=("$root/dev")
    mount --bind /dev/pts "$root/dev/pts" && MOUNTS+=("$root/dev/pts")
}

in_chroot() {  # in_chroot <rootfs> <command...>
    local root=$1
    shift
    DEBIAN_FRONTEND=noninteractive LC_ALL=C chroot "$root" "$@"
}

configure_rootfs() {  # configure_rootfs <rootfs>: make it a systemd container image
    local root=$1
    install -m 0644 "$RECIPES/sources.list" "$root/etc/apt/sources.list"
    # systemd creates a fresh machine-id at boot when the file is empty.
    : >"$root/etc/machine-id"
    rm -f "$root/var/lib/dbus/machine-id"
    echo iser-ofed >"$root/etc/hostname"
    # Units that only make sense on real hardware or fail without privileges in a container.
    local unit
    for unit in getty.target console-getty.service systemd-udevd.service systemd-udevd-control.socket \
        systemd-udevd-kernel.socket systemd-udev-trigger.service systemd-udev-settle.service \
        systemd-modules-load.service sys-kernel-config.mount sys-kernel-debug.mount \
        sys-kernel-tracing.mount systemd-remount-fs.service systemd-firstboot.service \
        apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
        ln -sf /dev/null "$root/etc/systemd/system/$unit"
    done
    # Keep images small; apt lists stay so apt works without a first `apt-get update`.
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        >"$root/etc/apt/apt.conf.d/90iser-ofed-no-recommends"
}

import_rootfs() {  # import_rootfs <rootfs> <image> <hash> <description>
    local root=$1 image=$2 hash=$3 desc=$4 old
    old=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
    rm -rf "$root/var/cache/apt/archives/"*.deb "$root/tmp/"* "$root/var/tmp/"* 2>/dev/null || true
    log "importing $root as $image"
    tar --numeric-owner --xattrs -C "$root" -cf - . | podman import --quiet \
        --change 'CMD ["/sbin/init"]' \
        --change 'STOPSIGNAL SIGRTMIN+3' \
        --change 'ENV container=podman' \
        --change "LABEL $LABEL=$hash" \
        --change "LABEL org.opencontainers.image.description=\"$desc\"" \
        - "$image" >/dev/null
    # The previous build of this tag is now dangling: drop it unless a container still uses it.
    if [[ -n $old && $old != "$(podman image inspect --format '{{.Id}}' "$image")" ]]; then
        podman rmi "$old" >/dev/null 2>&1 || true
    fi
}

verify_image() {  # verify_image <image> [kernel]
    local image=$1 kind=${2:-base} ctr state
    [[ ${VERIFY:-1} == 1 ]] || return 0
    ctr=iser-ofed-verify-$$
    podman rm -f "$ctr" >/dev/null 2>&1 || true
    log "verify: booting $image with systemd"
    podman run -d --name "$ctr" --systemd=always "$image" /sbin/init >/dev/null
    state=$(timeout 120 podman exec "$ctr" systemctl is-system-running --wait 2>/dev/null || true)
    if [[ $state != running && $state != degraded ]]; then
        podman exec "$ctr" systemctl --failed --no-pager 2>&1 || true
        podman logs "$ctr" 2>&1 | tail -40
        podman rm -f "$ctr" >/dev/null
        die "$image: systemd state '${state:-<none>}' (want running or degraded)"
    fi
    [[ $state == running ]] || podman exec "$ctr" systemctl --failed --no-pager --plain || true
    podman exec "$ctr" python3 -c 'import apt, sys; print("python", sys.version.split()[0], "+ apt OK")'
    if [[ $kind == kernel ]]; then
        podman exec "$ctr" sh -euc '
            for d in /lib/modules/*/; do kver=$(basename "$d"); done
            test -s "/lib/modules/$kver/modules.dep"
            test -d "/lib/modules/$kver/kernel/drivers/infiniband"
            grep -q "infiniband/core/ib_core.ko" "/lib/modules/$kver/modules.dep"
            test -e "/lib/modules/$kver/build/Makefile"
            echo "kernel $kver: modules.dep, drivers/infiniband, headers OK"'
    fi
    podman rm -f "$ctr" >/dev/null
    log "verify: $image systemd=$state"
}

build_base() {
    local root=$WORK/debian12 start=$SECONDS includes
    if [[ ${FORCE:-0} != 1 ]] && image_current "$BASE_IMAGE" "$BASE_HASH"; then
        log "$BASE_IMAGE is current (recipe $BASE_HASH): skipped"
        return 0
    fi
    rm -rf "$root"
    mkdir -p "$root"
    includes=$(packages "$RECIPES/debian12.packages" | paste -sd, -)
    log "debootstrap $SUITE ($MIRROR) minbase + $includes"
    debootstrap --variant=minbase --include="$includes" "$SUITE" "$root" "$MIRROR" \
        >"$WORK/debootstrap.log" 2>&1 || { tail -30 "$WORK/debootstrap.log"; die "debootstrap failed"; }
    configure_rootfs "$root"
    chroot_mounts "$root"
    in_chroot "$root" apt-get update -q >/dev/null
    cleanup
    import_rootfs "$root" "$BASE_IMAGE" "$BASE_HASH" "Debian 12 + systemd test bed for iser.ofed"
    rm -rf "$root"
    log "built $BASE_IMAGE in $((SECONDS - start))s"
    echo "$(date -Is) $BASE_IMAGE $BASE_HASH $((SECONDS - start))s" >>"$WORK/timings.log"
    verify_image "$BASE_IMAGE"
}

build_kernel() {
    local root=$WORK/debian12-kernel start=$SECONDS ctr kver
    if [[ ${FORCE:-0} != 1 ]] && image_current "$KERNEL_IMAGE" "$KERNEL_HASH"; then
        log "$KERNEL_IMAGE is current (recipe $KERNEL_HASH): skipped"
        return 0
    fi
    build_base
    rm -rf "$root"
    mkdir -p "$root"
    log "unpacking $BASE_IMAGE into $root"
    ctr=$(podman create "$BASE_IMAGE" /bin/true)
    podman export "$ctr" | tar --numeric-owner -C "$root" -xf -
    podman rm "$ctr" >/dev/null
    # podman export leaves the container's own resolv.conf/hosts/hostname stubs: use the host's resolver.
    rm -f "$root/etc/resolv.conf"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    chroot_mounts "$root"
    in_chroot "$root" apt-get update -q >/dev/null
    log "chroot apt-get install $(packages "$RECIPES/debian12-kernel.packages" | paste -sd' ' -)"
    # shellcheck disable=SC2046
    in_chroot "$root" apt-get install -y -q $(packages "$RECIPES/debian12-kernel.packages") \
        >"$WORK/kernel-install.log" 2>&1 || { tail -30 "$WORK/kernel-install.log"; die "kernel install failed"; }
    kver=$(find "$root/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -1)
    [[ -n $kver ]] || die "no /lib/modules/<kver> after installing the kernel"
    log "chroot apt-get install linux-headers-$kver"
    in_chroot "$root" apt-get install -y -q "linux-headers-$kver" \
        >>"$WORK/kernel-install.log" 2>&1 || { tail -30 "$WORK/kernel-install.log"; die "headers install failed"; }
    cleanup
    rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
    import_rootfs "$root" "$KERNEL_IMAGE" "$KERNEL_HASH" "Debian 12 + systemd + linux-image $kver + headers"
    rm -rf "$root"
    log "built $KERNEL_IMAGE (kernel $kver) in $((SECONDS - start))s"
    echo "$(date -Is) $KERNEL_IMAGE $KERNEL_HASH $((SECONDS - start))s" >>"$WORK/timings.log"
    verify_image "$KERNEL_IMAGE" kernel
}

mkdir -p "$WORK"
case ${1:-all} in
    base) build_base ;;
    kernel) build_kernel ;;
    all) build_base && build_kernel ;;
    *) die "usage: $0 [base|kernel|all]" ;;
esac
podman images --filter "label=$LABEL" --format '{{.Repository}}:{{.Tag}} {{.Size}}'
