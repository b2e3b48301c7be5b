package io.romulus.drbd.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/**
 * Against a real two-node DRBD resource. SKIPPED where the DRBD kernel module is not loaded (no /proc/drbd), which
 * includes CI and the development host: neither has the module and neither can load one. To run it, on the
 * Primary of a connected, UpToDate resource configured with {@code protocol C}, export
 * {@code ROMULUS_DRBD_RESOURCE=RES}.
 */
@EnabledIf(value = "drbdModuleLoaded",
        disabledReason = "needs the DRBD kernel module (/proc/drbd) and a two-node resource; CI has neither")
class TwoNodeDrbdTest {

    static boolean drbdModuleLoaded() {
        return Files.exists(Path.of("/proc/drbd"));
    }

    private static String resource() {
        String r = System.getenv("ROMULUS_DRBD_RESOURCE");
        assertNotNull(r, "set ROMULUS_DRBD_RESOURCE to a connected protocol C resource that is Primary here");
        return r;
    }

    @Test
    void aRealPrimaryIsCheckedAndRefusedWithoutTheFlag() throws Exception {
        String res = resource();
        GuestDisk disk = new GuestDisk("vda", "drbd", res, 0);
        DomainId domain = new DomainId("qemu", "drbd-test");
        DrbdTools tools = DrbdSettings.defaults().tools(new ProcessCommandRunner());
        DrbdTools.Events2Now now = tools.events2Now(res);
        assertEquals(List.of(), now.malformed(), "every line of this DRBD's events2 is understood");
        assertEquals("C", tools.show(res).connections().get(0).protocol());

        DrbdDiskReplicator strict = new DrbdDiskReplicator(DrbdSettings.defaults(), new ProcessCommandRunner());
        assertTrue(strict.supports(disk));
        DrbdRefusedException e = assertThrows(DrbdRefusedException.class, () -> strict.primary(domain, disk));
        assertTrue(e.getMessage().contains("no checkpoint barriers"), e.getMessage());

        DrbdDiskReplicator lax = new DrbdDiskReplicator(DrbdSettings.defaults().withAllowProtocolC(true),
                new ProcessCommandRunner());
        try (DiskReplicator.Primary p = lax.primary(domain, disk)) {
            assertEquals(List.of(), p.barrier(1));
        }
    }
}
