#!/bin/bash
# Romulus Debian guest: configures the installed system. Run by build.sh as mmdebstrap's
# --customize-hook (the packages are installed, /proc, /sys and /dev are mounted in ROOT).
#
#   customize.sh ROOT FILES
set -euo pipefail
ROOT=$1
FILES=$2
log() { echo "[romulus-debian] customize: $*" >&2; }
inroot() { chroot "$ROOT" "$@"; }

# our files: the network and readiness units and scripts, journald, PostgreSQL's conf.d
cp -a --no-preserve=ownership "$FILES/." "$ROOT/"

PGVER=15
PGETC=/etc/postgresql/$PGVER/main
[ -f "$ROOT$PGETC/postgresql.conf" ] || { log "no PostgreSQL $PGVER cluster in $PGETC"; exit 1; }
inroot chown -R postgres:postgres "$PGETC/conf.d"
# conf.d is included by Debian's postgresql.conf; make sure
grep -q "^include_dir = 'conf.d'" "$ROOT$PGETC/postgresql.conf" || { log "postgresql.conf has no include_dir conf.d"; exit 1; }

# pg_hba: the test network may connect to anything without a password (a test database)
HBA=$ROOT$PGETC/pg_hba.conf
if ! grep -q '^host all all 10.0.0.0/8 trust' "$HBA"; then
    cat >> "$HBA" <<'HBA'

# Romulus test guest: any client in 10.0.0.0/8 may connect as any role without a password.
# This is a TEST database: never expose this guest to a network you do not own.
host all all 10.0.0.0/8 trust
HBA
fi

# role and database bench, in single-user mode (no server, no socket, no port on the host)
log "creating role and database bench"
pg_single() { # SQL lines on stdin; the server's log in $ROOT/tmp/romulus-pg.log
    inroot runuser -u postgres -- /usr/lib/postgresql/$PGVER/bin/postgres --single \
        -D /var/lib/postgresql/$PGVER/main -c config_file=$PGETC/postgresql.conf postgres 2>"$ROOT/tmp/romulus-pg.log"
}
if ! printf '%s\n' "SELECT 'romulus-check', datname FROM pg_database WHERE datname = 'bench';" | pg_single | grep -q '"bench"'; then
    printf '%s\n' "CREATE ROLE bench LOGIN;" "CREATE DATABASE bench OWNER bench;" | pg_single >/dev/null \
        || { cat "$ROOT/tmp/romulus-pg.log" >&2; exit 1; }
fi
printf '%s\n' "SELECT 'romulus-check', datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'bench';" \
    | pg_single | grep -q '"bench"' || { cat "$ROOT/tmp/romulus-pg.log" >&2; log "database bench was not created"; exit 1; }
rm -f "$ROOT/tmp/romulus-pg.log"

# Redis: all addresses, no protected mode, append-only file
RCONF=$ROOT/etc/redis/redis.conf
sed -i -E \
    -e 's/^bind .*/bind 0.0.0.0/' \
    -e 's/^protected-mode .*/protected-mode no/' \
    -e 's/^appendonly .*/appendonly yes/' "$RCONF"
for want in 'bind 0.0.0.0' 'protected-mode no' 'appendonly yes'; do
    grep -qx "$want" "$RCONF" || { log "redis.conf: could not set '$want'"; exit 1; }
done

# nginx: Debian's default site serves /var/www/html as it is
[ -L "$ROOT/etc/nginx/sites-enabled/default" ] || [ -e "$ROOT/etc/nginx/sites-enabled/default" ] || { log "nginx's default site is not enabled"; exit 1; }
grep -q 'root /var/www/html;' "$ROOT/etc/nginx/sites-available/default" || { log "nginx's default site does not serve /var/www/html"; exit 1; }

# systemd: our units on, what a VM without a real disk controller does not need off
inroot systemctl --quiet enable romulus-net.service romulus-ready.service
inroot systemctl --quiet enable postgresql.service redis-server.service nginx.service 2>/dev/null
# Under TCG every process a unit starts costs about a second: what is masked here does
# nothing useful in this guest (no package updates, no real disk, no VT, no FUSE/LVM/loop).
MASK=(
      # periodic jobs
      apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service
      man-db.timer man-db.service e2scrub_all.timer e2scrub_all.service e2scrub_reap.service
      fstrim.timer fstrim.service dpkg-db-backup.timer dpkg-db-backup.service
      logrotate.timer systemd-tmpfiles-clean.timer
      # consoles: only the serial one (serial-getty@ttyS0, from console=ttyS0) is kept
      getty@tty1.service autovt@tty1.service getty-static.service
      # kernel file systems and modules nobody here uses
      dev-hugepages.mount sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount
      sys-fs-fuse-connections.mount modprobe@configfs.service modprobe@dm_mod.service
      modprobe@fuse.service modprobe@loop.service modprobe@drm.service modprobe@efi_pstore.service
      kmod-static-nodes.service systemd-pstore.service
      # first-boot and update bookkeeping the build already did
      systemd-hwdb-update.service ldconfig.service systemd-journal-catalog-update.service
      systemd-update-done.service systemd-sysusers.service systemd-firstboot.service
      # boot-time chores with nothing to do here: the journal is volatile (nothing to flush),
      # no utmp readers, no modules to load, no message queues, a fresh machine-id per boot
      systemd-journal-flush.service systemd-update-utmp.service systemd-update-utmp-runlevel.service
      systemd-random-seed.service systemd-machine-id-commit.service systemd-modules-load.service
      dev-mqueue.mount
)
for u in "${MASK[@]}"; do
    ln -sfn /dev/null "$ROOT/etc/systemd/system/$u"
done
rm -f "$ROOT/etc/systemd/system/getty.target.wants/getty@tty1.service"
# generators run at every boot, each a process: those for disks, encryption, hibernation,
# system updates, rc.local and SysV scripts (every service here has a native unit) are off;
# fstab, getty (the serial console), run, debug and postgresql's stay
mkdir -p "$ROOT/etc/systemd/system-generators"
for g in systemd-gpt-auto-generator systemd-hibernate-resume-generator systemd-cryptsetup-generator \
         systemd-integritysetup-generator systemd-veritysetup-generator systemd-system-update-generator \
         systemd-rc-local-generator systemd-sysv-generator; do
    ln -sfn /dev/null "$ROOT/etc/systemd/system-generators/$g"
done

# the serial console: root logs in without a password there (a test guest with no other login)
inroot passwd -d root >/dev/null
echo romulus-debian > "$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tromulus-debian\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$ROOT/etc/hosts"
log "done"
