package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.api.io.TempDir;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.transport.mina.internal.MinaCheckpointTransport;
import io.romulus.transport.mina.internal.TransportSettings;
import io.romulus.xen.internal.XenHypervisor;
import io.romulus.xen.internal.XenSettings;
import io.romulus.xen.internal.libvirt.LibvirtHost;

/**
 * Protection and failover of a real Xen domU on one dom0: a primary engine protects the running HVM or PVH domain
 * named by {@code -Dromulus.xen.domain}, a backup engine on the same host keeps its replica image; the primary's
 * domain is destroyed and the backup restores it from the last committed checkpoint with libvirt, then the domain
 * runs again under the same name.
 *
 * <p><b>Skipped in CI, by name:</b> it needs a Xen dom0 (libxenctrl's privcmd, libvirtd with the libxl driver and a
 * running domU), and the CI machine is a Linux microVM without a Xen hypervisor. On a dom0 it runs as root with
 * {@code mvn -pl itests/e2e verify -Dtest=XenHostFailoverTest -Dromulus.xen.domain=NAME}.
 */
@EnabledIf(value = "onXenDom0", disabledReason = "needs a Xen dom0: this host is not running on Xen (no "
        + "/proc/xen/capabilities with control_d); CI has no Xen hypervisor")
class XenHostFailoverTest {

    @TempDir
    Path dir;

    static boolean onXenDom0() {
        try {
            return Files.readString(Path.of("/proc/xen/capabilities")).contains("control_d");
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void aDomainProtectedAtFortyHertzIsRestoredFromItsReplica() throws Exception {
        String name = System.getProperty("romulus.xen.domain");
        assertTrue(name != null && !name.isBlank(), "name a running HVM or PVH domU with -Dromulus.xen.domain=NAME");
        DomainId id = new DomainId("xen", name);
        XenHypervisor primaryXen = new XenHypervisor(XenSettings.defaults().withImageDir(dir.resolve("a")));
        XenHypervisor backupXen = new XenHypervisor(XenSettings.defaults().withImageDir(dir.resolve("b")));
        assertTrue(primaryXen.availability().available(), primaryXen.availability().reason());
        TransportSettings t = TransportSettings.defaults().withSecretFile(dir.resolve("stream.secret"));
        MinaCheckpointTransport backupStream = MinaCheckpointTransport.create(t.withListen("127.0.0.1", 0)
                .withNodeId("node-b"));
        MinaCheckpointTransport primaryStream = MinaCheckpointTransport.create(t.withListen("127.0.0.1", 0)
                .withNodeId("node-a"));
        Engine primary = new Engine(new EngineSettings("node-a", 25, 1, 10_000, 1024, 5000, 50, 4, 256,
                EngineSettings.FailoverMode.MANUAL, 7490, false));
        Engine backup = new Engine(new EngineSettings("node-b", 25, 1, 10_000, 1024, 5000, 50, 4, 256,
                EngineSettings.FailoverMode.MANUAL, 7490, false));
        try {
            primary.addHypervisor(primaryXen);
            primary.setTransport(primaryStream);
            backup.addHypervisor(backupXen);
            backup.setTransport(backupStream);
            primary.protect(new ProtectRequest(id, InetSocketAddress.createUnresolved("127.0.0.1",
                    backupStream.listenAddress().getPort()), 25, Map.of(), true));
            await().atMost(Duration.ofMinutes(5)).until(() -> Rows.committed(backup) >= 200);
            assertEquals(ProtectionState.PROTECTED, Rows.row(primary, Role.PRIMARY).state());
            // the primary host "dies": its engine stops and the domain goes
            primary.shutdown();
            try (LibvirtHost libvirt = LibvirtHost.connect("xen:///system")) {
                libvirt.destroy(name);
                ProtectionStatus after = backup.failover(id);
                assertEquals(Role.PRIMARY, after.role());
                assertTrue(libvirt.domain(name).running(), "restored and running");
            }
        } finally {
            primary.shutdown();
            backup.shutdown();
            primaryStream.close();
            backupStream.close();
            primaryXen.deactivate();
            backupXen.deactivate();
        }
    }

}
