package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a guest goes on running from one version of the binding to the next: the {@link GuestStateFile} its directory
 * gets when the binding starts it ({@link #describe}) and when the binding lets go of it ({@link #leave}), and taking
 * hold of its QEMU again from that file ({@link #takeBack}), or removing the directory of one that no longer runs.
 *
 * <p>It keeps nothing: the guests and the handles on them are {@link QemuGuests}'s, the dirty log a protection left
 * running is the handle's ({@link QemuDomain#handOver}), and the file's format is {@link GuestStateFile}'s.
 */
final class GuestHandOver {

    private static final Logger LOG = LoggerFactory.getLogger(GuestHandOver.class);

    /** A guest taken hold of again, and its state file as the earlier version of the binding left it. */
    record TakenBack(QemuGuest guest, GuestStateFile state) {
    }

    private GuestHandOver() {
    }

    /**
     * The guest an earlier version of the binding left running in {@code dir}: reconnected to its QEMU, its state file
     * marked released (a later start must not take the same dirty log again). Null where it is left alone (its state
     * file or QEMU cannot be used) or gone (its left-over directory is then removed).
     */
    static TakenBack takeBack(Path dir, GuestLauncher launcher) throws InterruptedException {
        GuestStateFile st;
        QemuProcess p;
        QemuSettings settings = launcher.settings();
        try {
            st = GuestStateFile.read(dir);
            p = QemuProcess.reconnect(st.name(), dir, st.taps(), settings);
        } catch (IOException | HypervisorException e) {
            LOG.warn("Cannot take hold of the guest in {} again; leaving it alone: {}", dir, e.getMessage());
            return null;
        }
        if (p == null) {
            LOG.info("qemu:{} no longer runs; removing its left-over directory {}", st.name(), dir);
            RunDirectory.deleteTree(dir);
            return null;
        }
        try {
            DomainId id = new DomainId(QemuHypervisor.BINDING, st.name());
            QemuGuest g = new QemuGuest(id, p, launcher.definitionOf(id, st.options()),
                    settings.forGuest(st.accel(), st.netns(), st.bridge(), st.dirtyTracker()), st.disks());
            st.released().write(dir); // taken: a later start must not take the same log again
            return new TakenBack(g, st);
        } catch (IOException | RuntimeException e) {
            LOG.warn("Cannot take hold of qemu:{} (pid {}) again; leaving it alone: {}", st.name(), p.pid(),
                    e.getMessage());
            p.disconnect();
            return null;
        }
    }

    /** Writes the state file of {@code g}, a guest just started, so that a later version of the binding finds it. */
    static void describe(QemuGuest g) {
        try {
            GuestStateFile.of(g).write(g.process().dir());
        } catch (IOException e) {
            LOG.warn("Cannot write the state file of {}: {}", g.id(), e.getMessage());
        }
    }

    /**
     * Lets go of {@code g} without ending it: writes its state file if its QEMU runs, with the dirty log of the
     * protection that held it if {@code held} (dirty logs by guest name) names it, and disconnects from its QEMU.
     */
    static void leave(QemuGuest g, Map<String, String> held) {
        GuestStateFile st = GuestStateFile.of(g);
        try {
            if (g.process().isAlive()) {
                (held.containsKey(g.id().name()) ? st.held(held.get(g.id().name())) : st).write(g.process().dir());
            }
        } catch (IOException e) {
            LOG.warn("Cannot write the state file of {}; the next version of the binding will not find it: {}",
                    g.id(), e.getMessage());
        }
        g.process().disconnect();
    }
}
