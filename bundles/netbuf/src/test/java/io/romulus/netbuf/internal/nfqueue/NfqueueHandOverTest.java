package io.romulus.netbuf.internal.nfqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The hand-over file: what is taken over, and what is not (another process's file, a descriptor that changed). */
class NfqueueHandOverTest {

    private static NfqueueHandOver.Hold hold(String dev, int fd, String socket) {
        return new NfqueueHandOver.Hold(dev, 5, new NfqueueHandOver.Queue("ns-a", fd, socket,
                List.of(List.of("ip", "netns", "exec", "ns-a", "iptables", "-w", "-D", "FORWARD", "-m", "physdev"),
                        List.of("ip6tables", ""))),
                new NfqueueOutputBuffer.Ledger(true, -2, -7, true, -3, 12, 3400));
    }

    @Test
    void aDescriptorOfThisProcessThatIsStillTheSameIsTakenOverOnce(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("h.json");
        String stdin = NfqueueHandOver.socketOf(0);
        assertNotNull(stdin, "/proc/self/fd/0");
        NfqueueHandOver.Hold same = hold("tap0", 0, stdin);
        NfqueueHandOver.write(file, List.of(same, hold("tap1", 0, "socket:[1]")));

        assertEquals(List.of(same), NfqueueHandOver.take(file), "the one whose descriptor changed is left alone");
        assertFalse(Files.exists(file));
        assertEquals(List.of(), NfqueueHandOver.take(file), "taken over once");
    }

    @Test
    void aFileOfAnotherProcessIsIgnored(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("h.json");
        NfqueueHandOver.write(file, List.of(hold("tap0", 0, NfqueueHandOver.socketOf(0))));
        Files.writeString(file, Files.readString(file).replaceFirst("\"pid\" : \\d+", "\"pid\" : 1"));
        assertTrue(Files.readString(file).contains("\"pid\" : 1"), Files.readString(file));
        assertEquals(List.of(), NfqueueHandOver.take(file));
        assertFalse(Files.exists(file));
    }

    @Test
    void aMalformedFileIsIgnored(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("h.json");
        Files.writeString(file, "{\"format\": 1, \"pid\": " + ProcessHandle.current().pid()
                + ", \"holds\": [{\"dev\": \"tap0\"}]}");
        assertEquals(List.of(), NfqueueHandOver.take(file));
        assertEquals(List.of(), NfqueueHandOver.take(dir.resolve("none")));
        assertEquals(List.of(), NfqueueHandOver.take(null));
    }
}
