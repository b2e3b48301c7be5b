#!/usr/bin/env bash
# Builds the Romulus Debian guest: a Debian 12 (bookworm) disk image made with mmdebstrap from
# Debian's packages, booting by itself (extlinux) or directly (-kernel/-initrd), running
# PostgreSQL 15, Redis and nginx unmodified, configured through their config files only.
#
#   native/debian/build.sh OUTDIR
#
# Produces in OUTDIR:
#   debian.img       raw sparse disk image (2 GiB virtual), MBR, one ext4 root partition (vda1),
#                    extlinux in the partition and syslinux's mbr.bin in the MBR
#   vmlinuz, initrd.img   the image's kernel and initrd, for direct kernel boot (root=/dev/vda1)
#   debian-info.txt  versions of the kernel, PostgreSQL, Redis, nginx; the root fs UUID
#   big.sha256       SHA-256 of /var/www/html/big.bin (256 MiB of AES-128-CTR keystream)
# Does nothing when all outputs are newer than the inputs (this script, customize.sh, files/).
#
# Packages come from the host's configured apt sources (the bookworm, bookworm-updates and
# bookworm-security entries of `apt-get indextargets`) and are cached between builds in
# $ROMULUS_DEBIAN_CACHE (default OUTDIR/../debian-cache).
#
# Environment: ROMULUS_DEBIAN_CACHE  the .deb cache directory
#              ROMULUS_DEBIAN_SIZE   virtual size of the image (default 2G)
#              ROMULUS_DEBIAN_VERBOSE=1  mmdebstrap --verbose (default: --quiet)
# Needs root and the Debian packages: mmdebstrap, extlinux, syslinux-common (mbr.bin), fdisk
# (sfdisk), mount (losetup), e2fsprogs, openssl, util-linux (fstrim).
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
CACHE=${ROMULUS_DEBIAN_CACHE:-$(dirname "$OUT")/debian-cache}
SIZE=${ROMULUS_DEBIAN_SIZE:-2G}
SUITE=bookworm
# fixed, so that builds are alike and the extlinux config and fstab need no lookup
FS_UUID=8f1c2d3e-5a6b-4c7d-9e0f-526f6d756c75
DISK_ID=0x526f6d75
BIG_MIB=256
BIG_KEY=526f6d756c75732d44656269616e2d31   # "Romulus-Debian-1"
BIG_IV=00000000000000000000000000000000
MBR_BIN=/usr/lib/syslinux/mbr/mbr.bin
OUTPUTS=(debian.img vmlinuz initrd.img debian-info.txt big.sha256)

log() { echo "[romulus-debian] $*" >&2; }
die() { echo "[romulus-debian] ERROR: $*" >&2; exit 1; }

# Up to date? Every output newer than every input.
up_to_date() {
    local o i
    for o in "${OUTPUTS[@]}"; do
        [ -f "$OUT/$o" ] || return 1
        while IFS= read -r -d '' i; do
            [ "$OUT/$o" -nt "$i" ] || return 1
        done < <(find "$SRC/build.sh" "$SRC/customize.sh" "$SRC/files" -print0)
    done
}
if up_to_date; then
    log "up to date: $OUT/debian.img"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (mmdebstrap --mode=root, loop devices, mount); skip it with -Dromulus.debian.skip=true"
for tool in mmdebstrap extlinux sfdisk losetup partx flock mkfs.ext4 openssl fstrim sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (see scripts/prerequisites.sh)"
done
[ -f "$MBR_BIN" ] || die "no $MBR_BIN (package syslinux-common)"

# The host's Debian sources for bookworm, as one-line entries for the image's sources.list
host_sources() {
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT) $(TARGET_OF) $(IDENTIFIER)' 2>/dev/null \
        | awk -v s="$SUITE" '$4 == "deb" && $5 == "Packages" && ($2 == s || $2 == s "-updates" || $2 == s "-security") {
              k = $1 " " $2; if (!(k in c)) { order[n++] = k; c[k] = $3 } else if (index(" " c[k] " ", " " $3 " ") == 0) c[k] = c[k] " " $3 }
              END { for (i = 0; i < n; i++) print "deb " order[i] " " c[order[i]] }'
}
mapfile -t SOURCES < <(host_sources)
[ "${#SOURCES[@]}" -gt 0 ] || die "the host's apt has no $SUITE sources (apt-get indextargets); cannot build"
printf '%s\n' "${SOURCES[@]}" | grep -q " $SUITE main" || die "no '$SUITE main' among the host's apt sources"
log "apt sources: $(printf '%s; ' "${SOURCES[@]}")"

mkdir -p "$CACHE/archives/partial"

# one build at a time per OUTDIR; then any .debian-build.* left here is from a build that was
# killed (SIGKILL, power loss): its mounts and loop device are released before starting
exec 9>"$OUT/.debian-build.lock"
flock -w 3600 9 || die "another build holds $OUT/.debian-build.lock"
if up_to_date; then   # built meanwhile by the build we waited for
    log "up to date: $OUT/debian.img"
    exit 0
fi
for stale in "$OUT"/.debian-build.*/; do
    [ -d "$stale" ] || continue
    log "cleaning up after an interrupted build: $stale"
    mountpoint -q "$stale/mnt" && umount -R -l "$stale/mnt"
    for l in $(losetup -j "$stale/debian.img" -O NAME -n 2>/dev/null); do losetup -d "$l"; done
    rm -rf "$stale"
done

WORK=$(mktemp -d "$OUT/.debian-build.XXXXXX")
IMG=$WORK/debian.img
MNT=$WORK/mnt
chmod 0755 "$WORK"   # apt downloads as _apt, which must reach the chroot's directories
LOOP=

cleanup() {
    local rc=$?
    set +e
    if mountpoint -q "$MNT" 2>/dev/null; then
        # whatever mmdebstrap or a failed step left mounted below MNT, then MNT itself
        umount -R "$MNT" 2>/dev/null || { sleep 1; umount -R -l "$MNT"; }
    fi
    [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
    rm -rf "$WORK"
    [ $rc -ne 0 ] && log "FAILED (exit $rc); loop device and mounts cleaned up"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

STARTED=$SECONDS
log "creating $SIZE sparse image"
truncate -s "$SIZE" "$IMG"
printf 'label: dos\nlabel-id: %s\nstart=2048, type=83, bootable\n' "$DISK_ID" | sfdisk -q "$IMG"
LOOP=$(losetup -f --show -P "$IMG")
PART=${LOOP}p1
for _ in $(seq 20); do [ -b "$PART" ] && break; sleep 0.1; done
# a kernel without the MBR partition parser (CONFIG_MSDOS_PARTITION, e.g. this project's build
# VMs) does not scan: add the partition from the table sfdisk wrote, through BLKPG
[ -b "$PART" ] || partx -a "$LOOP" 2>/dev/null || true
for _ in $(seq 20); do [ -b "$PART" ] && break; sleep 0.1; done
[ -b "$PART" ] || die "no partition device $PART"
# itable/journal zeroed now (by discard: holes) rather than by the guest's ext4lazyinit at boot
mkfs.ext4 -q -L romulus-root -U "$FS_UUID" -E lazy_itable_init=0,lazy_journal_init=0,discard "$PART"
mkdir -p "$MNT"
mount "$PART" "$MNT"

# Early configuration, before the kernel and its initrd are installed
ESSENTIAL_HOOK=$(cat <<HOOK
set -e
mkdir -p "\$1/etc/initramfs-tools/conf.d" "\$1/usr/share/initramfs-tools/modules.d"
printf '%s\n' '# Romulus: a small initrd with the modules listed in modules.d/romulus only' \
    'MODULES=list' 'COMPRESS=zstd' > "\$1/etc/initramfs-tools/conf.d/romulus"
printf '%s\n' '# Romulus: disks (virtio, virtio-scsi and nvme are built in; SCSI disks, IDE) and' \
    '# the NIC driver (loaded early, so eth0 exists when systemd starts); ext4 is built in' \
    virtio_pci virtio_blk sd_mod ata_piix ata_generic virtio_net > "\$1/usr/share/initramfs-tools/modules.d/romulus"
printf '%s\n' '# Romulus Debian guest (no fsck at boot: a test image, copied per boot)' \
    'UUID=$FS_UUID / ext4 defaults,errors=remount-ro 0 0' > "\$1/etc/fstab"
echo romulus-debian > "\$1/etc/hostname"
HOOK
)

PACKAGES=(
    systemd-sysv udev kmod                     # init, devices, modules
    linux-image-cloud-amd64 initramfs-tools zstd   # the kernel (virtio drivers), its initrd
    e2fsprogs iproute2 procps                  # ext4 tools, ip (romulus-net), ps/free
    postgresql-15 redis-server redis-tools nginx   # the services (psql/pg_isready come with postgresql-15)
    openssl ca-certificates                    # postgresql's snakeoil cert (ssl-cert) needs openssl
)
include=$(printf '%s\n' "${PACKAGES[@]}" | sed 's/#.*//' | tr -s ' \n' '\n' | sed '/^$/d' | paste -sd, -)

log "mmdebstrap $SUITE (minbase, no recommends) into the image"
# archives/ of the cache is bind-mounted as the chroot's apt cache (downloads are kept there);
# it is unmounted before mmdebstrap's cleanup, which would empty it.
MMDEBSTRAP_VERBOSITY=--quiet
[ "${ROMULUS_DEBIAN_VERBOSE:-0}" = 1 ] && MMDEBSTRAP_VERBOSITY=--verbose
mmdebstrap $MMDEBSTRAP_VERBOSITY --mode=root --variant=minbase --format=directory --skip=check/empty \
    --skip=essential/unlink \
    --aptopt='APT::Install-Recommends "false"' \
    --aptopt='APT::Install-Suggests "false"' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --include="$include" \
    --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
    --setup-hook="mount --bind '$CACHE/archives' \"\$1/var/cache/apt/archives\"" \
    --essential-hook="$ESSENTIAL_HOOK" \
    --customize-hook="'$SRC/customize.sh' \"\$1\" '$SRC/files'" \
    --customize-hook='umount "$1/var/cache/apt/archives"' \
    "$SUITE" "$MNT" "${SOURCES[@]}" </dev/null

# which kernel
KIMG=$(ls "$MNT"/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
[ -n "$KIMG" ] || die "no /boot/vmlinuz-* in the image"
KVER=${KIMG##*/vmlinuz-}
[ -f "$MNT/boot/initrd.img-$KVER" ] || die "no /boot/initrd.img-$KVER in the image"

# the download test file: deterministic, incompressible
log "writing /var/www/html/big.bin ($BIG_MIB MiB)"
head -c $((BIG_MIB * 1024 * 1024)) /dev/zero \
    | openssl enc -aes-128-ctr -nosalt -K "$BIG_KEY" -iv "$BIG_IV" > "$MNT/var/www/html/big.bin"
chmod 0644 "$MNT/var/www/html/big.bin"
[ "$(stat -c %s "$MNT/var/www/html/big.bin")" -eq $((BIG_MIB * 1024 * 1024)) ] || die "big.bin has the wrong size"
BIG_SHA=$(sha256sum < "$MNT/var/www/html/big.bin" | cut -d' ' -f1)

# bootloader: extlinux in /boot/extlinux, syslinux's MBR code in the first 440 bytes
log "installing extlinux ($KVER)"
mkdir -p "$MNT/boot/extlinux"
cat > "$MNT/boot/extlinux/extlinux.conf" <<CONF
# Romulus Debian guest. Serial console on ttyS0; romulus.ip / romulus.gw set the address of
# the first NIC (eth0 with net.ifnames=0), see native/README.md.
SERIAL 0 115200
DEFAULT debian
PROMPT 0
TIMEOUT 0
LABEL debian
  LINUX /boot/vmlinuz-$KVER
  INITRD /boot/initrd.img-$KVER
  APPEND root=UUID=$FS_UUID ro console=ttyS0,115200 quiet net.ifnames=0 romulus.ip=10.77.0.10/24
CONF
extlinux --install "$MNT/boot/extlinux" >/dev/null 2>&1 || die "extlinux --install failed"
dd if="$MBR_BIN" of="$LOOP" bs=440 count=1 conv=notrunc status=none

cp "$KIMG" "$WORK/vmlinuz"
cp "$MNT/boot/initrd.img-$KVER" "$WORK/initrd.img"

pkgver() { dpkg-query --admindir="$MNT/var/lib/dpkg" -W -f='${Version}' "$1" 2>/dev/null || echo none; }
KPKG=linux-image-$KVER
cat > "$WORK/debian-info.txt" <<INFO
suite=$SUITE
kernel.package=$KPKG
kernel.package.version=$(pkgver "$KPKG")
kernel.release=$KVER
linux-image-cloud-amd64=$(pkgver linux-image-cloud-amd64)
postgresql-15=$(pkgver postgresql-15)
redis-server=$(pkgver redis-server)
nginx=$(pkgver nginx)
systemd=$(pkgver systemd)
packages.installed=$(dpkg-query --admindir="$MNT/var/lib/dpkg" -W -f='${Status}\n' | grep -c ' installed$')
rootfs.uuid=$FS_UUID
image.size=$SIZE
big.bin=/var/www/html/big.bin $BIG_MIB MiB sha256 $BIG_SHA
apt.sources=$(printf '%s; ' "${SOURCES[@]}")
INFO
echo "$BIG_SHA  big.bin" > "$WORK/big.sha256"

dpkg-query --admindir="$MNT/var/lib/dpkg" -W -f='${Package} ${Version}\n' > "$WORK/installed"

# the used part only: give freed blocks back to the sparse file
USED=$(df -h --output=used "$MNT" | tail -n 1 | tr -d ' ')
fstrim "$MNT" || log "fstrim failed (image less sparse than it could be)"
umount "$MNT"
e2fsck -fn "$PART" >/dev/null 2>&1 || die "e2fsck found errors in the new file system"
losetup -d "$LOOP"
LOOP=

# prune .debs of versions this build did not install (superseded by updates)
while IFS= read -r -d '' deb; do
    base=${deb##*/}; pkg=${base%%_*}; rest=${base#*_}; ver=${rest%_*}; ver=${ver//%3a/:}
    grep -qxF "$pkg $ver" "$WORK/installed" || { log "pruning $base from the cache"; rm -f "$deb"; }
done < <(find "$CACHE/archives" -maxdepth 1 -name '*.deb' -print0)

for o in "${OUTPUTS[@]}"; do mv -f "$WORK/$o" "$OUT/$o"; done
log "built $OUT/debian.img in $((SECONDS - STARTED)) s: $SIZE virtual, $(du -h "$OUT/debian.img" | cut -f1) allocated, $USED used in the file system; kernel $KVER"
