#!/usr/bin/env bash
# Builds the Romulus demo guest: a Debian cloud kernel and a busybox initramfs running
# the counter service (and optionally the memory dirtier).
#
#   native/guest/build.sh OUTDIR
#
# Produces OUTDIR/vmlinuz, OUTDIR/initramfs.cpio.gz and OUTDIR/guest-info.txt.
# Downloaded .deb files are cached in OUTDIR/../guest-cache/. Does nothing when the
# outputs are newer than the sources here and the downloaded packages.
#
# Environment: ROMULUS_GUEST_KERNEL_PKG  kernel package to use instead of the one
#              linux-image-cloud-amd64 depends on (e.g. linux-image-6.1.0-56-cloud-amd64).
# Needs the Debian packages: apt, dpkg, gcc, libc6-dev, cpio, gzip (xz-utils/zstd only if
# the kernel's modules are compressed). busybox comes from busybox-static (installed, or
# downloaded with apt-get download if not).
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
CACHE=$(dirname "$OUT")/guest-cache
mkdir -p "$CACHE"

log() { echo "[romulus-guest] $*" >&2; }
die() { echo "[romulus-guest] ERROR: $*" >&2; exit 1; }

# apt-get download writes into the current directory; as root it warns that _apt cannot
# read it: harmless, silenced.
apt_download() { # PKG -> prints the path of the .deb in $CACHE
    local pkg=$1 deb
    deb=$(ls -t "$CACHE/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
    if [ -z "$deb" ]; then
        log "downloading $pkg"
        # into a fresh directory first, so an interrupted download never looks cached
        local dl
        dl=$(mktemp -d "$CACHE/download.XXXXXX")
        if ! (cd "$dl" && apt-get download -q "$pkg" >/dev/null 2>&1); then
            log "apt-get download $pkg failed; running apt-get update"
            apt-get update -qq >/dev/null 2>&1 || true
            (cd "$dl" && apt-get download -q "$pkg" >/dev/null) || { rm -rf "$dl"; die "cannot download $pkg"; }
        fi
        mv -f "$dl"/*.deb "$CACHE"/ && rm -rf "$dl"
        deb=$(ls -t "$CACHE/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
        [ -n "$deb" ] || die "no .deb for $pkg in $CACHE"
    fi
    echo "$deb"
}

resolve_kernel_pkg() {
    if [ -n "${ROMULUS_GUEST_KERNEL_PKG:-}" ]; then
        echo "$ROMULUS_GUEST_KERNEL_PKG"; return
    fi
    local dep
    dep=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null \
          | sed -n 's/^ *Depends: *\(linux-image-[0-9][^ ]*-cloud-amd64\).*/\1/p' | head -n 1)
    if [ -z "$dep" ]; then
        # a kernel downloaded earlier will do when the package lists are gone
        dep=$(ls -t "$CACHE"/linux-image-[0-9]*-cloud-amd64_*.deb 2>/dev/null | head -n 1 || true)
        dep=$(basename "${dep%%_*}" 2>/dev/null || true)
    fi
    if [ -z "$dep" ]; then
        log "linux-image-cloud-amd64 unknown to apt-cache; running apt-get update"
        apt-get update -qq >/dev/null 2>&1 || true
        dep=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null \
              | sed -n 's/^ *Depends: *\(linux-image-[0-9][^ ]*-cloud-amd64\).*/\1/p' | head -n 1)
    fi
    [ -n "$dep" ] || die "cannot resolve the dependency of linux-image-cloud-amd64"
    echo "$dep"
}

KPKG=$(resolve_kernel_pkg)
KDEB=$(apt_download "$KPKG")

# busybox: the installed busybox-static's binary, else one from a downloaded busybox-static
if dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
    BUSYBOX=/bin/busybox
    BBDEB=
else
    BBDEB=$(apt_download busybox-static)
    BUSYBOX=$CACHE/busybox-static/bin/busybox
    if [ ! -x "$BUSYBOX" ] || [ "$BBDEB" -nt "$BUSYBOX" ]; then
        rm -rf "$CACHE/busybox-static"
        dpkg-deb -x "$BBDEB" "$CACHE/busybox-static"
        touch "$BUSYBOX"
    fi
fi
[ -x "$BUSYBOX" ] || die "no busybox at $BUSYBOX"

# Up to date? Both outputs newer than every input.
up_to_date() {
    local f
    for f in "$OUT/vmlinuz" "$OUT/initramfs.cpio.gz" "$OUT/guest-info.txt"; do
        [ -f "$f" ] || return 1
    done
    for f in "$SRC"/* "$KDEB" "$BUSYBOX"; do
        [ "$OUT/initramfs.cpio.gz" -nt "$f" ] || return 1
        [ "$OUT/vmlinuz" -nt "$f" ] || return 1
    done
    grep -qx "kernel.package=$KPKG" "$OUT/guest-info.txt" || return 1
}
if up_to_date; then
    log "up to date: $OUT ($KPKG)"
    exit 0
fi

WORK=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

log "extracting $(basename "$KDEB")"
# only what is used: the kernel image, modules.builtin and the listed modules
PATTERNS=('./boot/vmlinuz-*' '*/modules.builtin')
while read -r m; do
    case "$m" in ''|'#'*) continue ;; esac
    PATTERNS+=("*/$m.ko" "*/$m.ko.*")
done < "$SRC/modules.list"
mkdir -p "$WORK/kernel"
# tar fails on patterns that match nothing (e.g. a built-in module): checked below instead
dpkg-deb --fsys-tarfile "$KDEB" | tar -x -C "$WORK/kernel" --wildcards "${PATTERNS[@]}" 2>/dev/null || true
VMLINUZ=$(ls "$WORK"/kernel/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
[ -n "$VMLINUZ" ] || die "no boot/vmlinuz-* in $KDEB"
KVER=${VMLINUZ##*/vmlinuz-}
KVERSION=$(dpkg-deb -f "$KDEB" Version)
MODDIR=$(ls -d "$WORK"/kernel/lib/modules/"$KVER" "$WORK"/kernel/usr/lib/modules/"$KVER" 2>/dev/null | head -n 1 || true)
[ -n "$MODDIR" ] || die "no lib/modules/$KVER in $KDEB"

ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,root,lib/modules}

# modules (decompressed: the static busybox insmod reads plain .ko files only)
: > "$ROOT/lib/modules/modules.list"
LOADED=()
while read -r m; do
    case "$m" in ''|'#'*) continue ;; esac
    ko=$(find "$MODDIR" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" \) | head -n 1)
    if [ -z "$ko" ]; then
        if grep -q "/$m.ko" "$MODDIR/modules.builtin" 2>/dev/null; then
            log "module $m is built into $KVER"
        else
            log "WARNING: module $m neither in $KPKG nor built in; skipped"
        fi
        continue
    fi
    case "$ko" in
        *.ko.xz)  xz -dc "$ko" > "$ROOT/lib/modules/$m.ko" ;;
        *.ko.zst) zstd -qdc "$ko" > "$ROOT/lib/modules/$m.ko" ;;
        *.ko.gz)  gzip -dc "$ko" > "$ROOT/lib/modules/$m.ko" ;;
        *)        cp "$ko" "$ROOT/lib/modules/$m.ko" ;;
    esac
    echo "$m" >> "$ROOT/lib/modules/modules.list"
    LOADED+=("$m")
done < "$SRC/modules.list"

# busybox and its applet links
cp "$BUSYBOX" "$ROOT/bin/busybox"
while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    [ -d "$ROOT/${applet%/*}" ] || mkdir -p "$ROOT/${applet%/*}"
    ln -sf /bin/busybox "$ROOT/$applet"
done < <("$BUSYBOX" --list-full)

# programs of the demo
log "compiling counter, dirtier and journal"
CC=${CC:-gcc}
"$CC" -static -O2 -Wall -o "$ROOT/bin/romulus-counter" "$SRC/counter.c"
"$CC" -static -O2 -Wall -o "$ROOT/bin/romulus-dirtier" "$SRC/dirtier.c"
"$CC" -static -O2 -Wall -o "$ROOT/bin/romulus-journal" "$SRC/journal.c"
strip "$ROOT/bin/romulus-counter" "$ROOT/bin/romulus-dirtier" "$ROOT/bin/romulus-journal" 2>/dev/null || true

install -m 0755 "$SRC/init" "$ROOT/init"
echo romulus-guest > "$ROOT/etc/hostname"
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOT/etc/passwd"
echo 'root:x:0:' > "$ROOT/etc/group"
# the kernel opens /dev/console before /init runs (devtmpfs is mounted only by /init)
if [ "$(id -u)" -eq 0 ]; then
    mknod -m 600 "$ROOT/dev/console" c 5 1
    mknod -m 666 "$ROOT/dev/null" c 1 3
fi

log "writing initramfs"
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort \
    | cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9n > "$WORK/initramfs.cpio.gz"

cp "$VMLINUZ" "$WORK/vmlinuz"
cat > "$WORK/guest-info.txt" <<INFO
kernel.package=$KPKG
kernel.package.version=$KVERSION
kernel.release=$KVER
kernel.modules=${LOADED[*]}
busybox=$("$BUSYBOX" 2>&1 | head -n 1)
INFO
mv -f "$WORK/vmlinuz" "$OUT/vmlinuz"
mv -f "$WORK/initramfs.cpio.gz" "$OUT/initramfs.cpio.gz"
mv -f "$WORK/guest-info.txt" "$OUT/guest-info.txt"
log "built $OUT/vmlinuz and $OUT/initramfs.cpio.gz ($KPKG $KVERSION)"
