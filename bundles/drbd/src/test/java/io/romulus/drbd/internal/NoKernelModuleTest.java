package io.romulus.drbd.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The real drbdsetup of this host (Debian 12: drbd-utils 9.22.0), which has no DRBD kernel module: what drbdsetup
 * actually says must become "DRBD kernel module not loaded (/proc/drbd missing): ...", and the component must still
 * come up. On a host where the module is loaded the same tests check that DRBD is reported usable instead.
 */
class NoKernelModuleTest {

    private static final GuestDisk DISK = new GuestDisk("vda", "drbd", "r0", 0);
    private static final DomainId DOMAIN = new DomainId("qemu", "vm1");

    private static boolean moduleLoaded;

    @BeforeAll
    static void drbdUtilsInstalled() {
        String drbdsetup = DrbdTools.locate("drbdsetup");
        if (!drbdsetup.contains("/") || !Files.isExecutable(Path.of(drbdsetup))) {
            fail("drbdsetup is not installed: these tests run the real one (apt-get install drbd-utils; "
                    + "scripts/prerequisites.sh installs it)");
        }
        moduleLoaded = Files.exists(Path.of("/proc/drbd"));
    }

    @Test
    void drbdsetupSaysTheModuleIsMissing() {
        DrbdTools tools = DrbdSettings.defaults().tools(new ProcessCommandRunner());
        if (moduleLoaded) {
            assertEquals(Optional.empty(), tools.unavailableReason());
            return;
        }
        DrbdCommandException e = assertThrows(DrbdCommandException.class, () -> tools.events2Now(null));
        assertEquals(DrbdCommandException.EXIT_NO_KERNEL, e.exit(), e.getMessage());
        assertTrue(e.moduleMissing(), "not recognised: " + e.stderr());
        assertTrue(e.stderr().contains("Failed to modprobe drbd"), e.stderr());
        assertTrue(e.getMessage().contains("events2 --now --statistics exited with 20"), e.getMessage());
    }

    @Test
    void theComponentActivatesAndSaysWhy() {
        DrbdDiskReplicator r = new DrbdDiskReplicator(DrbdSettings.defaults(), new ProcessCommandRunner());
        if (moduleLoaded) {
            assertTrue(r.unavailableReason().isEmpty());
            return;
        }
        assertFalse(r.supports(DISK));
        String reason = r.unsupportedReason(DISK).orElseThrow();
        assertTrue(reason.startsWith("DRBD kernel module not loaded (/proc/drbd missing): "), reason);
        assertTrue(reason.contains("Failed to modprobe drbd"), reason);
        DrbdRefusedException p = assertThrows(DrbdRefusedException.class, () -> r.primary(DOMAIN, DISK));
        assertTrue(p.getMessage().contains(reason), p.getMessage());
        DrbdRefusedException b = assertThrows(DrbdRefusedException.class, () -> r.backup(DOMAIN, DISK));
        assertTrue(b.getMessage().contains("DRBD kernel module not loaded"), b.getMessage());
    }

    @Test
    void thisBuildOffersNoCheckpointBarriers() throws Exception {
        DrbdTools tools = DrbdSettings.defaults().tools(new ProcessCommandRunner());
        assertTrue(tools.commands().contains("events2"), "drbdsetup help lists its commands without a module");
        DrbdDiskReplicator.BarrierSupport b = DrbdDiskReplicator.detectBarriers(tools);
        assertFalse(b.offered());
        assertTrue(b.detail().startsWith("none: drbdsetup help lists"), b.detail());
    }
}
