#!/usr/bin/env bash
# Installs what building and testing Romulus needs on a fresh Debian 12 machine (idempotent).
# Sourced by scripts/test and scripts/demo.
set -euo pipefail

# Debian packages, each for a reason:
#   openjdk-17-jdk-headless, maven   the build
#   curl, iproute2, tar              the demo and the Karaf tests (ports, unpacking the assembly)
#   qemu-system-x86                  the QEMU binding and its tests (QMP, TCG guests)
#   gcc, libc6-dev                   native/: the userfaultfd preload library, the demo guest's programs
#   busybox-static, cpio, kmod, xz-utils, zstd   native/: the demo guest's initramfs and kernel modules
#   python3                          tests: a child process that writes shared memory for the dirty tracker
#   iptables, procps, socat          output commit (NFQUEUE rules, br_netfilter sysctls) and the host tests
#   libvirt0                         the Xen binding: libvirt's library (its tests use the test:///default driver)
#   libxen-dev                       the Xen binding: libxenctrl & co. (the binding loads them and reports no Xen
#                                    here) and the Xen 4.17 headers its golden-bytes ABI test compiles against
#   qemu-utils                       the NBD disk's tests: qemu-io, qemu-img and qemu-nbd as real NBD clients
#   drbd-utils                       the DRBD coordinator: drbdsetup/drbdadm (events2, show, primary/secondary);
#                                    its tests run the real drbdsetup, which reports the missing kernel module here
#   e2fsprogs                        the replicated disk's tests: mkfs.ext4 for the demo guest's disk, e2fsck and
#                                    debugfs to check the backup's copy
#   haproxy                          scale-out: the load balancer in front of the pairs, driven through its runtime
#                                    API (its tests and the scale-out test run the real one)
#   mmdebstrap                       native/debian: builds the Debian guest's root file system from Debian's packages
#   extlinux, syslinux-common        native/debian: the guest image's own bootloader (extlinux --install) and the MBR
#                                    code it chains from (/usr/lib/syslinux/mbr/mbr.bin)
#   fdisk, mount                     native/debian: sfdisk writes the image's MBR partition table; losetup attaches
#                                    it while the file system is filled and extlinux installed
#   openssl                          native/debian: big.bin, the guest's deterministic download test file (AES-CTR)
#   postgresql-client-15             tests against the Debian guest: psql and pg_isready
#   postgresql-15                    tests against the Debian guest: pgbench (Debian 12 ships it in the server package,
#                                    not in postgresql-client-15; the host's own cluster is not used)
#   redis-tools                      tests against the Debian guest: redis-cli
#   systemd                          the assembly's tests: systemd-analyze verify of the shipped systemd unit
#   chromium, chromium-driver        the Karaf itests: HawtioViewIT drives Hawtio in headless Chromium (Selenium)
#   fonts-dejavu-core                the benchmarks' plots (XChart draws their text with a font of the system; PlotsTest)
ROMULUS_PACKAGES=(openjdk-17-jdk-headless maven curl iproute2 tar qemu-system-x86 gcc libc6-dev busybox-static
    cpio kmod xz-utils zstd python3 iptables procps socat libvirt0 libxen-dev qemu-utils drbd-utils e2fsprogs haproxy
    mmdebstrap extlinux syslinux-common fdisk mount openssl postgresql-client-15 postgresql-15 redis-tools systemd
    chromium chromium-driver fonts-dejavu-core)

romulus_need_packages() {
    local missing=() p
    for p in "${ROMULUS_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    # a JDK 17 from elsewhere (and a Maven on the PATH) serve as well as Debian's
    if command -v java >/dev/null 2>&1 && java -version 2>&1 | grep -q 'version "17'; then
        missing=("${missing[@]/openjdk-17-jdk-headless}")
    fi
    command -v mvn >/dev/null 2>&1 && missing=("${missing[@]/maven}")
    local wanted=()
    for p in "${missing[@]}"; do [ -n "$p" ] && wanted+=("$p"); done
    if [ "${#wanted[@]}" -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "Romulus needs these Debian packages: ${wanted[*]}; run as root or install them first." >&2
            exit 1
        fi
        echo "Installing ${wanted[*]} ..."
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
    fi
}

romulus_need_packages
