package io.romulus.drbd.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.List;

import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

import org.junit.jupiter.api.Test;

/**
 * The replicator's safety checks, promotion and demotion, with a scripted runner answering with real tool output
 * (sources cited in {@link DrbdStateTest} and {@link DrbdShowTest}; {@code drbdsetup-9.22-help.txt} is
 * {@code drbdsetup help} of Debian 12's drbd-utils 9.22.0, captured on this host).
 */
class DrbdDiskReplicatorTest {

    private static final DomainId DOMAIN = new DomainId("qemu", "vm1");
    private static final GuestDisk DISK = new GuestDisk("vda", "drbd", "r0", 32 << 20);

    private static final String EVENTS_ALL = "drbdsetup events2 --now --statistics";
    private static final String EVENTS_R0 = "drbdsetup events2 --now --statistics r0";
    private static final String SHOW_R0 = "drbdsetup show r0 --show-defaults";

    /** The healthy Primary of a pair, with protocol {@code protocol} (C shown as the default). */
    private static ScriptedRunner primaryWith(String protocol) {
        String primary = Samples.text("doc-events2-statistics-now-primary.txt");
        String show = Samples.text("show-defaults-format.txt");
        if (!"C".equals(protocol)) {
            show = show.replace("C; # default", protocol + ";");
        }
        return new ScriptedRunner().ok(EVENTS_ALL, primary).ok(EVENTS_R0, primary).ok(SHOW_R0, show)
                .ok("drbdsetup help", Samples.text("drbdsetup-9.22-help.txt"));
    }

    private static DrbdDiskReplicator replicator(ScriptedRunner runner, boolean allowC) {
        return new DrbdDiskReplicator(DrbdSettings.defaults().withAllowProtocolC(allowC), runner);
    }

    @Test
    void protocolCRefusedByDefault() {
        DrbdDiskReplicator r = replicator(primaryWith("C"), false);
        assertTrue(r.supports(DISK));
        DrbdRefusedException e = assertThrows(DrbdRefusedException.class, () -> r.primary(DOMAIN, DISK));
        assertTrue(e.getMessage().contains("uses protocol C, but upstream DRBD has no checkpoint barriers"),
                e.getMessage());
        assertTrue(e.getMessage().contains("allow.protocol.c.without.barriers=true"), e.getMessage());
        assertTrue(e.getMessage().contains("I2"), e.getMessage());
    }

    @Test
    void protocolCAllowedWithTheFlagWarnsOnceAndShipsNoWrites() throws Exception {
        ScriptedRunner runner = primaryWith("C");
        DrbdDiskReplicator r = replicator(runner, true);
        try (DiskReplicator.Primary p = r.primary(DOMAIN, DISK)) {
            assertTrue(r.warnedUnsafe(), "the unsafe configuration is warned about");
            p.initialCopy((offset, data) -> {
                throw new AssertionError("DRBD's resync did the initial copy; nothing goes into the stream");
            });
            assertEquals(List.of(), p.barrier(1));
            p.committed(1);
        }
        r.primary(DOMAIN, DISK).close();
        assertEquals(List.of(EVENTS_ALL, EVENTS_R0, SHOW_R0, "drbdsetup help", EVENTS_R0, SHOW_R0), runner.calls(),
                "drbdsetup help is asked once");
        assertFalse(r.barrierSupport().offered());
        assertTrue(r.barrierSupport().detail().startsWith("none: drbdsetup help lists 46 commands"),
                r.barrierSupport().detail());
    }

    @Test
    void protocolsAAndBRefusedEvenWithTheFlag() {
        for (String protocol : List.of("A", "B")) {
            DrbdDiskReplicator r = replicator(primaryWith(protocol), true);
            DrbdRefusedException e = assertThrows(DrbdRefusedException.class, () -> r.primary(DOMAIN, DISK));
            assertTrue(e.getMessage().contains("with protocol " + protocol + ": a write completes to the guest "
                    + "before it is on the peer's disk"), e.getMessage());
            assertTrue(e.getMessage().contains("Use protocol C"), e.getMessage());
            assertFalse(r.warnedUnsafe());
        }
    }

    @Test
    void unknownProtocolRefused() {
        ScriptedRunner runner = primaryWith("C").ok(SHOW_R0, Samples.text("drbd-utils-show-switch-diskfull-r0.txt")
                .replace("_peer_node_id 2", "_peer_node_id 0"));
        DrbdRefusedException e = assertThrows(DrbdRefusedException.class,
                () -> replicator(runner, true).primary(DOMAIN, DISK));
        assertTrue(e.getMessage().contains("does not say which replication protocol"), e.getMessage());
    }

    @Test
    void primaryRefusesASecondaryAPeerInResyncAndAMissingResource() {
        String secondary = String.join("\n", Samples.lines("drbdtop-events2-timestamps.txt"));
        ScriptedRunner s = primaryWith("C").ok("drbdsetup events2 --now --statistics test3", secondary);
        DrbdRefusedException notPrimary = assertThrows(DrbdRefusedException.class,
                () -> replicator(s, true).primary(DOMAIN, new GuestDisk("vda", "drbd", "test3", 0)));
        assertTrue(notPrimary.getMessage().contains("is Secondary on this host"), notPrimary.getMessage());

        ScriptedRunner sync = primaryWith("C").ok("drbdsetup events2 --now --statistics test0",
                String.join("\n", Samples.lines("drbdtop-events2-timestamps-syncsource.txt")));
        DrbdRefusedException syncing = assertThrows(DrbdRefusedException.class,
                () -> replicator(sync, true).primary(DOMAIN, new GuestDisk("vda", "drbd", "test0", 0)));
        assertTrue(syncing.getMessage().contains("no connected peer with an UpToDate disk"), syncing.getMessage());
        assertTrue(syncing.getMessage().contains("replication SyncSource, peer disk Inconsistent"),
                syncing.getMessage());

        ScriptedRunner none = primaryWith("C").ok("drbdsetup events2 --now --statistics r9", "exists -\n");
        DrbdRefusedException missing = assertThrows(DrbdRefusedException.class,
                () -> replicator(none, true).primary(DOMAIN, new GuestDisk("vda", "drbd", "r9", 0)));
        assertTrue(missing.getMessage().contains("DRBD resource r9 does not exist on this host"),
                missing.getMessage());
    }

    @Test
    void resyncProgressIsReportedInTheRefusal() {
        String sync = Samples.text("drbd-utils-events2-sync-statistics.txt")
                .replace("role:Secondary suspended", "role:Primary suspended");
        ScriptedRunner runner = primaryWith("C").ok("drbdsetup events2 --now --statistics some-resource", sync);
        DrbdRefusedException e = assertThrows(DrbdRefusedException.class,
                () -> replicator(runner, true).primary(DOMAIN, new GuestDisk("vda", "drbd", "some-resource", 0)));
        assertTrue(e.getMessage().contains("resync 37.50% done"), e.getMessage());
    }

    @Test
    void aDiskNamedByItsDeviceIsFound() throws Exception {
        DrbdDiskReplicator r = replicator(primaryWith("C"), true);
        r.primary(DOMAIN, new GuestDisk("vda", "drbd", "/dev/drbd1", 0)).close();
        DrbdRefusedException e = assertThrows(DrbdRefusedException.class,
                () -> r.primary(DOMAIN, new GuestDisk("vda", "drbd", "/dev/drbd7", 0)));
        assertTrue(e.getMessage().contains("no DRBD resource on this host has device /dev/drbd7"), e.getMessage());
    }

    @Test
    void otherKindsAndBadSourcesAreNotSupported() {
        DrbdDiskReplicator r = replicator(primaryWith("C"), false);
        assertFalse(r.supports(new GuestDisk("vda", "nbd", "nbd+unix:///vda?socket=/run/x", 0)));
        assertEquals("not a DRBD disk (kind file)",
                r.unsupportedReason(new GuestDisk("vda", "file", "/var/lib/vm.img", 0)).orElseThrow());
        assertTrue(r.unsupportedReason(new GuestDisk("vda", "drbd", "r0; rm -rf /", 0)).orElseThrow()
                .contains("must be RES, RES/VOLUME"));
        assertTrue(r.unsupportedReason(new GuestDisk("vda", "drbd", "--force", 0)).isPresent());
    }

    @Test
    void backupChecksRoleAndConnectionAndActivatePromotes() throws Exception {
        // this host is the Secondary of the guide's pair (r0, two volumes, minors 7 and 8)
        String secondary = String.join("\n", Samples.unwrapped("ug9-events2-statistics-now.txt"));
        String promoted = secondary.replace("role:Secondary suspended", "role:Primary suspended");
        ScriptedRunner runner = new ScriptedRunner().ok(EVENTS_ALL, secondary).ok(EVENTS_R0, secondary)
                .ok("drbdadm primary r0", "");
        DrbdDiskReplicator r = replicator(runner, false);
        DiskReplicator.Backup b = r.backup(DOMAIN, new GuestDisk("vdb", "drbd", "r0/1", 0));
        b.stage(1, List.of());
        b.commit(1);
        assertThrows(IllegalStateException.class, () -> b.stage(2, List.of(new DiskWrite(0, new byte[512]))));
        assertThrows(IllegalStateException.class, () -> b.writeInitial(0, ByteBuffer.allocate(512)));
        runner.ok(EVENTS_R0, promoted);
        GuestDisk activated = b.activate();
        assertEquals(new GuestDisk("vdb", "drbd", "/dev/drbd8", 104854364L * 1024), activated);
        assertEquals(List.of(EVENTS_ALL, EVENTS_R0, "drbdadm primary r0", EVENTS_R0), runner.calls());
        b.close();
    }

    @Test
    void backupRefusesAPrimaryAndADisconnectedResource() {
        String primary = Samples.text("doc-events2-statistics-now-primary.txt");
        DrbdRefusedException e = assertThrows(DrbdRefusedException.class, () -> replicator(
                new ScriptedRunner().ok(EVENTS_ALL, primary).ok(EVENTS_R0, primary), false).backup(DOMAIN, DISK));
        assertTrue(e.getMessage().contains("is Primary on this host, but this host is the backup"), e.getMessage());

        String lost = String.join("\n", Samples.unwrapped("ug9-events2-now.txt")) + "\n"
                + Samples.text("ug9-events2-connection-lost.txt");
        DrbdRefusedException d = assertThrows(DrbdRefusedException.class, () -> replicator(
                new ScriptedRunner().ok(EVENTS_ALL, lost).ok(EVENTS_R0, lost), false).backup(DOMAIN, DISK));
        assertTrue(d.getMessage().contains("not connected to any peer (remote-host: Connecting)"), d.getMessage());
    }

    @Test
    void activateReportsAFailedPromotion() throws Exception {
        String secondary = String.join("\n", Samples.unwrapped("ug9-events2-now.txt"));
        ScriptedRunner runner = new ScriptedRunner().ok(EVENTS_ALL, secondary).ok(EVENTS_R0, secondary)
                .fails("drbdadm primary r0", 11, "r0: State change failed: (-2) Need access to UpToDate data\n");
        DiskReplicator.Backup b = replicator(runner, false).backup(DOMAIN, DISK);
        DrbdCommandException e = assertThrows(DrbdCommandException.class, b::activate);
        assertEquals(11, e.exit());
        assertTrue(e.getMessage().contains("cannot promote DRBD resource r0 to Primary"), e.getMessage());
        assertTrue(e.getMessage().contains("exited with 11: r0: State change failed: (-2) Need access to UpToDate "
                + "data"), e.getMessage());
    }

    @Test
    void demoteIsSecondaryElseOutdateElseAnError() throws Exception {
        String primary = Samples.text("doc-events2-statistics-now-primary.txt");
        ScriptedRunner ok = new ScriptedRunner().ok(EVENTS_ALL, primary).ok("drbdadm secondary r0", "");
        assertEquals(DrbdDiskReplicator.Demotion.SECONDARY, replicator(ok, false).demote("r0"));
        assertEquals(List.of(EVENTS_ALL, "drbdadm secondary r0"), ok.calls());

        ScriptedRunner busy = new ScriptedRunner().ok(EVENTS_ALL, primary)
                .fails("drbdadm secondary r0", 11, "r0: State change failed: (-12) Device is held open by someone\n")
                .ok("drbdadm outdate r0", "");
        assertEquals(DrbdDiskReplicator.Demotion.OUTDATED, replicator(busy, false).demote("r0"));
        assertEquals(List.of(EVENTS_ALL, "drbdadm secondary r0", "drbdadm outdate r0"), busy.calls());

        ScriptedRunner stuck = new ScriptedRunner().ok(EVENTS_ALL, primary)
                .fails("drbdadm secondary r0", 11, "r0: State change failed: (-12) Device is held open by someone\n")
                .fails("drbdadm outdate r0", 17, "r0: State change failed: (-7) Refusing to be Outdated while "
                        + "Connected\n");
        DrbdCommandException e = assertThrows(DrbdCommandException.class,
                () -> replicator(stuck, false).demote("r0"));
        assertTrue(e.getMessage().startsWith("cannot fence DRBD resource r0 on this host"), e.getMessage());
        assertTrue(e.getMessage().contains("Device is held open by someone"), e.getMessage());
        assertTrue(e.getMessage().contains("Refusing to be Outdated"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> replicator(ok, false).demote("-f"));
    }

    @Test
    void theEngineFencesADisksResourceByDemotingIt() throws Exception {
        String primary = Samples.text("doc-events2-statistics-now-primary.txt");
        ScriptedRunner ok = new ScriptedRunner().ok(EVENTS_ALL, primary).ok("drbdadm secondary r0", "");
        replicator(ok, false).fence(io.romulus.api.hypervisor.DomainId.parse("qemu:db"),
                new io.romulus.api.hypervisor.GuestDisk("vda", "drbd", "r0", 1L << 30));
        assertEquals(List.of(EVENTS_ALL, "drbdadm secondary r0"), ok.calls());
    }

    /**
     * A planned switchover hands the disk over through the same SPI: the old primary's side demotes its resource
     * (after its domain stopped, before the hand-over is sent), and only then the new primary's activation promotes
     * its own, so the pair never has two Primaries (I5); the old primary's side is then a backup of the same resource.
     */
    @Test
    void aSwitchoverDemotesTheOldPrimaryBeforeTheNewPrimaryPromotes() throws Exception {
        List<String> journal = new java.util.concurrent.CopyOnWriteArrayList<>();
        ScriptedRunner hostA = primaryWith("C").journal(journal, "A").ok("drbdadm secondary r0", "")
                .ok("drbdadm primary r0", "");
        String secondary = String.join("\n", Samples.unwrapped("ug9-events2-statistics-now.txt"));
        String promoted = secondary.replace("role:Secondary suspended", "role:Primary suspended");
        ScriptedRunner hostB = new ScriptedRunner().journal(journal, "B").ok(EVENTS_ALL, secondary)
                .ok(EVENTS_R0, secondary).ok("drbdadm primary r0", "");
        DrbdDiskReplicator a = replicator(hostA, true);
        DrbdDiskReplicator b = replicator(hostB, false);
        assertTrue(a.handsOver() && b.handsOver());
        DiskReplicator.Primary onA = a.primary(DOMAIN, DISK);
        DiskReplicator.Backup onB = b.backup(DOMAIN, DISK);
        journal.clear();

        // the engine's order: A's domain stopped, A hands its disk over, A sends "go", B activates
        DiskReplicator.Backup keptOnA = onA.handOver(41);
        hostB.ok(EVENTS_R0, promoted);
        GuestDisk activated = onB.activate();
        assertEquals("/dev/drbd7", activated.source());
        assertEquals(List.of("A: drbdadm secondary r0", "B: drbdadm primary r0", "B: " + EVENTS_R0), journal,
                "the old primary demotes before the new one promotes");

        // and back: the kept side is a backup of the same resource, promoted when it is activated again
        journal.clear();
        keptOnA.stage(42, List.of());
        keptOnA.commit(42);
        GuestDisk again = keptOnA.activate();
        assertEquals("drbd", again.kind());
        assertEquals(List.of("A: drbdadm primary r0", "A: " + EVENTS_R0), journal);
    }

    @Test
    void aSwitchoverWhoseDemotionFailsIsReportedAndNotOutdated() throws Exception {
        ScriptedRunner hostA = primaryWith("C").fails("drbdadm secondary r0", 11,
                "r0: State change failed: (-12) Device is held open by someone\n");
        DiskReplicator.Primary onA = replicator(hostA, true).primary(DOMAIN, DISK);
        DrbdCommandException e = assertThrows(DrbdCommandException.class, () -> onA.handOver(41));
        assertTrue(e.getMessage().contains("cannot demote DRBD resource r0 to Secondary"), e.getMessage());
        assertFalse(hostA.calls().contains("drbdadm outdate r0"), "its data must stay promotable: " + hostA.calls());
    }

    @Test
    void commandLinesOfTheTools() throws Exception {
        ScriptedRunner runner = new ScriptedRunner().ok("drbdadm adjust r0", "").ok("drbdadm status r0",
                "r0 role:Primary\n  disk:UpToDate\n");
        DrbdTools tools = DrbdSettings.defaults().tools(runner);
        tools.adjust("r0");
        assertEquals("r0 role:Primary\n  disk:UpToDate\n", tools.status("r0"));
        assertEquals(List.of("drbdadm adjust r0", "drbdadm status r0"), runner.calls());
        assertThrows(IllegalArgumentException.class, () -> tools.adjust("../r0"));
    }
}
