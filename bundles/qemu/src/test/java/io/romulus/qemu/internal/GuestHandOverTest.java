package io.romulus.qemu.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A guest going on from one version of the binding to the next ({@link GuestHandOver}): the state file its directory
 * gets at its start and when the binding lets go of it, and the next version taking its QEMU back from that file, or
 * removing the directory of one that is gone. Against a {@link FakeQemu}: a live process with QEMU's command line and
 * a QMP socket, no guest.
 */
class GuestHandOverTest {

    @TempDir
    Path run;
    private FakeQemu qemu;
    private Path dir;

    @BeforeEach
    void fake() throws Exception {
        qemu = new FakeQemu(run);
        dir = run.resolve("db");
    }

    @AfterEach
    void end() throws Exception {
        qemu.close();
    }

    @Test
    void aGuestLetGoOfIsTakenBackWithTheDirtyLogOfItsProtection() throws Exception {
        QemuGuest g = qemu.start("db", dir);
        GuestHandOver.describe(g);
        GuestStateFile started = GuestStateFile.read(dir);
        assertEquals("db", started.name());
        assertFalse(started.held(), "not held by a protection when it starts");

        GuestHandOver.leave(g, Map.of("db", "uffd"));
        GuestStateFile left = GuestStateFile.read(dir);
        assertTrue(left.held());
        assertEquals("uffd", left.dirtyLog());

        // the next version: QEMU serves one QMP client at a time, so taking it back also shows leave() let go of it
        GuestHandOver.TakenBack back = GuestHandOver.takeBack(dir, qemu.launcher());
        assertEquals("qemu:db", back.guest().id().toString());
        assertEquals(g.process().pid(), back.guest().process().pid());
        assertEquals(g.vm(), back.guest().vm());
        assertTrue(back.state().held(), "what the earlier version left");
        assertEquals("uffd", back.state().dirtyLog());
        GuestStateFile now = GuestStateFile.read(dir);
        assertFalse(now.held(), "released: a later start must not take the same dirty log again");
        assertEquals("none", now.dirtyLog());
        back.guest().process().close();
    }

    @Test
    void aGuestNoProtectionHeldIsLeftUnheld() throws Exception {
        QemuGuest g = qemu.start("db", dir);
        GuestHandOver.leave(g, Map.of("other", "uffd"));
        assertFalse(GuestStateFile.read(dir).held());
        g.process().close();
    }

    @Test
    void theDirectoryOfAGuestWhoseQemuIsGoneIsRemoved() throws Exception {
        QemuGuest g = qemu.start("db", dir);
        GuestHandOver.leave(g, Map.of());
        g.process().kill().get(10, TimeUnit.SECONDS);

        assertNull(GuestHandOver.takeBack(dir, qemu.launcher()));
        assertFalse(Files.exists(dir));
    }

    @Test
    void aGuestWhoseQemuIsGoneWhenTheBindingLetsGoGetsNoStateFile() throws Exception {
        QemuGuest g = qemu.start("db", dir);
        g.process().kill().get(10, TimeUnit.SECONDS);
        GuestHandOver.leave(g, Map.of("db", "uffd"));
        assertFalse(Files.exists(dir.resolve(GuestStateFile.NAME)));
        assertEquals(List.of(), FakeQemu.running());
    }
}
