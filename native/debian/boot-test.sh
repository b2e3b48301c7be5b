#!/usr/bin/env bash
# Boots a COPY of the Romulus Debian guest under QEMU/TCG with its NIC as a tap in a network
# namespace of its own, measures the time to ROMULUS-DEBIAN-READY and runs real clients
# against it from that namespace: pg_isready, psql, pgbench, redis-cli, curl of big.bin.
#
#   native/debian/boot-test.sh [--bios|--direct] [--no-clients] [--mem 512M] DIR
#
# DIR is build.sh's OUTDIR (debian.img, vmlinuz, initrd.img, big.sha256).
#   --bios    (default) boot the disk through SeaBIOS and extlinux; the guest takes the
#             default address 10.77.0.10/24 from extlinux.conf
#   --direct  -kernel/-initrd/-append with root=/dev/vda1 and romulus.ip=10.77.0.20/24
#             romulus.gw=10.77.0.1
# Needs root, qemu-system-x86, iproute2, postgresql-client-15 and postgresql-15 (pgbench),
# redis-tools, curl. Not run by the build (build.sh does not read this file).
set -euo pipefail

MODE=bios CLIENTS=1 MEM=512M
while [ $# -gt 1 ]; do
    case "$1" in
        --bios) MODE=bios ;;
        --direct) MODE=direct ;;
        --no-clients) CLIENTS=0 ;;
        --mem) MEM=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ $# -eq 1 ] || { echo "usage: $0 [--bios|--direct] [--no-clients] [--mem 512M] DIR" >&2; exit 2; }
DIR=$(cd "$1" && pwd)
log() { echo "[boot-test] $*" >&2; }

NS=romulus-dbt-$$
TMP=$(mktemp -d /tmp/romulus-debian-boot.XXXXXX)
QPID=
cleanup() {
    set +e
    if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
        kill "$QPID"; for _ in $(seq 50); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$QPID" 2>/dev/null
    fi
    ip netns del "$NS" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp --sparse=always "$DIR/debian.img" "$TMP/disk.img"
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" tuntap add dev tap0 mode tap
ip -n "$NS" addr add 10.77.0.1/24 dev tap0
ip -n "$NS" link set tap0 up

if [ "$MODE" = bios ]; then
    GUEST=10.77.0.10
    BOOT=()
else
    GUEST=10.77.0.20
    BOOT=(-kernel "$DIR/vmlinuz" -initrd "$DIR/initrd.img"
          -append "root=/dev/vda1 ro console=ttyS0,115200 quiet net.ifnames=0 romulus.ip=$GUEST/24 romulus.gw=10.77.0.1")
fi
now_ms() { local t=$EPOCHREALTIME; echo $(( ${t%.*} * 1000 + 10#${t#*.} / 1000 )); }
T0=$(now_ms)
ip netns exec "$NS" qemu-system-x86_64 -accel tcg -m "$MEM" -nographic -no-reboot \
    -drive "file=$TMP/disk.img,format=raw,if=virtio" "${BOOT[@]}" \
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-pci,netdev=n0 \
    -serial "file:$TMP/console.log" -display none -monitor none </dev/null >"$TMP/qemu.out" 2>&1 &
QPID=$!
while :; do
    if grep -aq 'ROMULUS-DEBIAN-READY' "$TMP/console.log" 2>/dev/null; then break; fi
    if grep -aq 'ROMULUS-DEBIAN-FAILED' "$TMP/console.log" 2>/dev/null || ! kill -0 "$QPID" 2>/dev/null \
        || [ $(( $(now_ms) - T0 )) -gt 900000 ]; then
        log "no ROMULUS-DEBIAN-READY; console:"; tail -c 4000 "$TMP/console.log" >&2; cat "$TMP/qemu.out" >&2; exit 1
    fi
    sleep 0.1
done
READY=$(( $(now_ms) - T0 ))
UPTIME=$(grep -ao 'uptime [0-9.]* s' "$TMP/console.log" | head -n 1)
printf 'RESULT mode=%s mem=%s ready_after=%d.%ds guest_%s\n' "$MODE" "$MEM" $((READY / 1000)) $((READY % 1000 / 100)) "${UPTIME// /_}"
[ "$CLIENTS" = 1 ] || exit 0

run() { log "\$ $*"; ip netns exec "$NS" "$@"; }
run pg_isready -h "$GUEST" -t 10
run psql -h "$GUEST" -U bench bench -Atc 'select 1'
run pgbench -h "$GUEST" -U bench -i -s 1 -q bench 2>&1 | tail -n 2
run pgbench -h "$GUEST" -U bench -c 4 -T 10 bench 2>&1 | grep -E 'number of (transactions|failed)|tps|latency average'
run redis-cli -h "$GUEST" set romulus-key "value-$$"
got=$(run redis-cli -h "$GUEST" get romulus-key)
[ "$got" = "value-$$" ] || { log "redis get returned '$got'"; exit 1; }
echo "redis get: $got"
run redis-cli -h "$GUEST" config get appendonly | paste -sd' '
want=$(cut -d' ' -f1 "$DIR/big.sha256")
start=$(now_ms)
got=$(run curl -sf "http://$GUEST/big.bin" | sha256sum | cut -d' ' -f1)
ms=$(( $(now_ms) - start ))
[ "$got" = "$want" ] || { log "big.bin sha256 $got, want $want"; exit 1; }
echo "big.bin sha256 ok ($got) in $ms ms ($(( 256 * 1000 / (ms > 0 ? ms : 1) )) MiB/s)"
echo "RESULT clients ok"
