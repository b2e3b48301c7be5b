package io.romulus.itests.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.Map;

import org.junit.jupiter.api.Test;

class CpuLedgerTest {

    private static CpuLedger.Usage ticks(long user, long system, long faults) {
        return new CpuLedger.Usage(user, system, faults);
    }

    /**
     * A MINA pool thread is "NioProcessor-N" while it serves and "pool-N-thread-M" after: it counts what it spent in
     * the phase, in the group of its name at the end, not its whole life.
     */
    @Test
    void aThreadCountsItsOwnDeltaInTheGroupOfItsNameAtTheEnd() {
        CpuLedger.Snapshot a = new CpuLedger.Snapshot(0, 1000, 4000,
                Map.of("7/8", new CpuLedger.ThreadUsage("jvm: NioProcessor", ticks(500, 100, 10)),
                        "7/9", new CpuLedger.ThreadUsage("jvm: main", ticks(50, 0, 0))),
                Map.of("jvm", ticks(700, 100, 10)), Map.of("jvm", 7L));
        CpuLedger.Snapshot b = new CpuLedger.Snapshot(2_000_000_000L, 1300, 4400,
                Map.of("7/8", new CpuLedger.ThreadUsage("jvm: pool-3-thread", ticks(520, 110, 14)),
                        "7/9", new CpuLedger.ThreadUsage("jvm: main", ticks(60, 0, 0)),
                        "7/10", new CpuLedger.ThreadUsage("jvm: main", ticks(5, 0, 1))),
                Map.of("jvm", ticks(760, 110, 15)), Map.of("jvm", 7L));
        CpuLedger.Phase p = CpuLedger.between(a, b);
        assertEquals(ticks(20, 10, 4), p.group("jvm: pool-3-thread"), "30 ticks in the phase, not 630");
        assertEquals(ticks(15, 0, 1), p.group("jvm: main"), "a thread started meanwhile counts all it spent");
        assertEquals(ticks(0, 0, 0), p.group("jvm: NioProcessor"));
        assertEquals(ticks(25, 0, 0), p.group("jvm: (ended threads)"), "the process spent 70; its live threads 45");
        assertEquals(150, p.msPerS(p.group("jvm: pool-3-thread")), 1e-9, "30 ticks of 10 ms over 2 s");
        assertEquals(1500, p.busyMsPerS(), 1e-9, "300 busy ticks over 2 s");
        assertEquals(ticks(230, 0, 0), p.group("everything else (clients, softirqs, other processes)"));
    }

    @Test
    void theRunQueueWaitOfAThreadIsItsDelta() {
        CpuLedger.Snapshot a = new CpuLedger.Snapshot(0, 0, 0,
                Map.of("1/2", new CpuLedger.ThreadUsage("q: vCPU", new CpuLedger.Usage(10, 0, 0, 5_000_000))),
                Map.of("q", ticks(10, 0, 0)), Map.of("q", 1L));
        CpuLedger.Snapshot b = new CpuLedger.Snapshot(1_000_000_000L, 20, 200,
                Map.of("1/2", new CpuLedger.ThreadUsage("q: vCPU", new CpuLedger.Usage(30, 0, 0, 45_000_000))),
                Map.of("q", ticks(30, 0, 0)), Map.of("q", 1L));
        assertEquals(40_000_000, CpuLedger.between(a, b).group("q: vCPU").runQueueNanos());
    }

    @Test
    void aProcessReplacedWithinThePhaseIsLeftToEverythingElse() {
        CpuLedger.Snapshot a = new CpuLedger.Snapshot(0, 0, 0, Map.of(), Map.of("qemu", ticks(100, 0, 0)),
                Map.of("qemu", 1L));
        CpuLedger.Snapshot b = new CpuLedger.Snapshot(1_000_000_000L, 50, 200,
                Map.of("2/2", new CpuLedger.ThreadUsage("qemu: other threads", ticks(40, 0, 0))),
                Map.of("qemu", ticks(40, 0, 0)), Map.of("qemu", 2L));
        CpuLedger.Phase p = CpuLedger.between(a, b);
        assertEquals(CpuLedger.Usage.NONE, p.group("qemu: other threads"));
        assertEquals(ticks(50, 0, 0), p.group("everything else (clients, softirqs, other processes)"));
    }

    /** This JVM, read from /proc: its threads are found, and the main thread's name has its number dropped. */
    @Test
    void readsThisJvmFromProc() throws IOException {
        CpuLedger.Snapshot s = CpuLedger.take(Map.of("jvm", ProcessHandle.current().pid()),
                (process, thread) -> CpuLedger.withoutNumber(thread));
        assertTrue(s.threads().size() > 1, s.threads().toString());
        assertTrue(s.totalTicks() >= s.busyTicks() && s.busyTicks() > 0);
        assertTrue(s.threads().values().stream().anyMatch(t -> t.usage().runQueueNanos() > 0),
                "some thread of a running JVM has waited for a CPU: " + s.threads());
        assertEquals("NioProcessor", CpuLedger.withoutNumber("NioProcessor-12"));
        assertEquals("GC Thread", CpuLedger.withoutNumber("GC Thread#3"));
    }
}
