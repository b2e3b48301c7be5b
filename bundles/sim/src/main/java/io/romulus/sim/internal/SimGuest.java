package io.romulus.sim.internal;

import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.HypervisorException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A synthetic domain itself (not a VM): off-heap memory, a guest thread that writes pages at a set rate and locality
 * and makes its synthetic NIC emit numbered packets, and a dirty bitmap. Pausing stops the guest thread between two
 * ticks; while paused nothing in its memory or on its NIC changes.
 *
 * <p>The guest belongs to the binding ({@link SimHypervisor}), not to the engine: the engine holds a
 * {@link SimDomain} handle on it, and a handle that is {@linkplain SimDomain#detach() detached} leaves the guest,
 * its workload and its dirty bitmap as they are, for the next handle that {@linkplain SimHypervisor#adopt adopts}
 * it.
 */
final class SimGuest {

    private static final Logger LOG = LoggerFactory.getLogger(SimGuest.class);
    private static final int STATE_VERSION = 1;
    private static final int STATE_BYTES = 4 + 8 + 8 + 8;
    private static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final int MAX_WRITES_PER_TICK = 1_000_000;

    private final DomainId id;
    private final SimOptions options;
    private final SimMemory memory;
    private final SimNic nic;
    private final long hotPages;
    private final ReentrantLock guest = new ReentrantLock();
    private final Thread thread;
    private final long[] dirty;

    // guarded by guest
    private final XorShift rng;
    private long writeCount;
    private long nicSeq;
    private long lastTick;
    private double writesDue;
    private double packetsDue;
    private boolean logging;

    private volatile boolean paused;
    private volatile boolean stopped;
    /** The newest handle on this guest; guarded by the owning {@link SimHypervisor}. */
    SimDomain handle;

    SimGuest(DomainId id, SimOptions options, SimMemory memory, byte[] deviceState,
            SimWire wire) {
        this(id, options, memory, deviceState, wire, false);
    }

    /** @param startPaused whether the guest starts paused (a replica activated for a switchover) */
    SimGuest(DomainId id, SimOptions options, SimMemory memory, byte[] deviceState,
            SimWire wire, boolean startPaused) {
        this(id, options, memory, deviceState, new SimNic(id.name(), wire), startPaused);
    }

    /** @param nic its NIC, made ahead of the guest when a switchover prepared its activation */
    SimGuest(DomainId id, SimOptions options, SimMemory memory, byte[] deviceState,
            SimNic nic, boolean startPaused) {
        this.paused = startPaused;
        this.id = id;
        this.options = options;
        this.memory = memory;
        this.nic = nic;
        this.hotPages = Math.max(1, (long) (memory.pageCount() * options.hotSet()));
        this.dirty = new long[(int) ((memory.pageCount() + 63) / 64)];
        if (deviceState == null) {
            this.rng = new XorShift(options.seed());
            fillInitialContent();
        } else {
            ByteBuffer b = ByteBuffer.wrap(deviceState);
            if (deviceState.length != STATE_BYTES || b.getInt() != STATE_VERSION) {
                throw new IllegalArgumentException("device state of " + deviceState.length
                        + " bytes is not a synthetic domain's state (version " + STATE_VERSION + ")");
            }
            this.rng = new XorShift(b.getLong());
            this.writeCount = b.getLong();
            this.nicSeq = b.getLong();
        }
        this.lastTick = System.nanoTime();
        this.thread = new Thread(this::run, "romulus-sim-" + id.name());
        this.thread.setDaemon(true);
        this.thread.start();
    }

    /** Half the pages stay zero, the others get text-like content, so that page encodings have real work. */
    private void fillInitialContent() {
        byte[] text = ("Romulus synthetic domain: not a VM. The quick brown fox jumps over the lazy dog; "
                + "pack my box with five dozen liquor jugs. 0123456789 ").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        XorShift fill = new XorShift(options.seed() * 31 + 7);
        for (long pfn = 0; pfn < memory.pageCount(); pfn++) {
            if ((fill.next() & 1) == 0) {
                memory.fill(pfn, text, (int) fill.nextLong(text.length));
                memory.putLong(pfn, 0, pfn);
            }
        }
    }

    private void run() {
        while (!stopped) {
            LockSupport.parkNanos(TICK_NANOS);
            guest.lock();
            try {
                if (paused || stopped) {
                    continue;
                }
                tick(System.nanoTime());
            } catch (RuntimeException e) {
                LOG.error("Synthetic domain {} stopped on an error", id, e);
                stopped = true;
            } finally {
                guest.unlock();
            }
        }
    }

    private void tick(long now) {
        double seconds = (now - lastTick) / 1e9;
        lastTick = now;
        writesDue += options.dirtyRate() * seconds;
        int writes = (int) Math.min(MAX_WRITES_PER_TICK, writesDue);
        writesDue -= writes;
        for (int i = 0; i < writes; i++) {
            long pfn = rng.nextDouble() < options.locality() ? rng.nextLong(hotPages) : rng.nextLong(memory.pageCount());
            store(pfn, (int) rng.nextLong(SimMemory.PAGE_SIZE / 8) * 8, ++writeCount);
        }
        packetsDue += options.packetRate() * seconds;
        int packets = (int) packetsDue;
        packetsDue -= packets;
        for (int i = 0; i < packets; i++) {
            nic.emit(++nicSeq, writeCount);
        }
    }

    private void store(long pfn, int offset, long value) {
        memory.putLong(pfn, offset, value);
        if (logging) {
            dirty[(int) (pfn >>> 6)] |= 1L << (pfn & 63);
        }
    }

    /** Writes one long into a page as the guest would (tests use it to dirty chosen pages). */
    void write(long pfn, int offset, long value) {
        guest.lock();
        try {
            store(pfn, offset, value);
            writeCount++;
        } finally {
            guest.unlock();
        }
    }

    /**
     * Writes {@code value + pfn} into each page {@code pfn} of {@code [from, to)} in one step, so that one checkpoint
     * holds them all.
     */
    void writeRange(long from, long to, long value) {
        guest.lock();
        try {
            for (long pfn = from; pfn < to; pfn++) {
                store(pfn, 8, value + pfn);
                writeCount++;
            }
        } finally {
            guest.unlock();
        }
    }

    DomainInfo info() {
        return new DomainInfo(id, memory.bytes(), SimMemory.PAGE_SIZE, !paused && !stopped, description());
    }

    String description() {
        return "synthetic domain (not a VM): " + (memory.bytes() >> 20) + " MiB, " + options.dirtyRate()
                + " pages/s, " + options.packetRate() + " packets/s";
    }

    @SuppressWarnings("LockNotBeforeTry") // nothing runs under the lock: taking it is the wait
    void pause() {
        paused = true;
        guest.lock(); // waits for a tick in progress; later ticks see paused
        guest.unlock();
    }

    void resume() {
        guest.lock();
        try {
            lastTick = System.nanoTime(); // a paused guest does not run, so it owes no work for the pause
            paused = false;
        } finally {
            guest.unlock();
        }
    }

    boolean isPaused() {
        return paused;
    }

    /**
     * Starts the dirty log; when it runs already, {@code keepLogged} keeps what it holds (an adopted handle),
     * otherwise it starts empty.
     */
    void startDirtyLog(boolean keepLogged) {
        guest.lock();
        try {
            if (!(keepLogged && logging)) {
                java.util.Arrays.fill(dirty, 0);
            }
            logging = true;
        } finally {
            guest.unlock();
        }
    }

    long[] harvestDirty() throws HypervisorException {
        guest.lock();
        try {
            if (!logging) {
                throw new HypervisorException("the dirty log of " + id + " is not started");
            }
            int count = 0;
            for (long word : dirty) {
                count += Long.bitCount(word);
            }
            long[] pfns = new long[count];
            int n = 0;
            for (int w = 0; w < dirty.length; w++) {
                long word = dirty[w];
                while (word != 0) {
                    int bit = Long.numberOfTrailingZeros(word);
                    pfns[n++] = ((long) w << 6) + bit;
                    word &= word - 1;
                }
                dirty[w] = 0;
            }
            return pfns;
        } finally {
            guest.unlock();
        }
    }

    void stopDirtyLog() {
        guest.lock();
        try {
            logging = false;
        } finally {
            guest.unlock();
        }
    }

    void copyPages(long[] pfns, int from, int count, ByteBuffer staging) {
        for (int i = from; i < from + count; i++) {
            memory.readPage(pfns[i], staging);
        }
    }

    byte[] captureDeviceState() {
        guest.lock();
        try {
            return ByteBuffer.allocate(STATE_BYTES).putInt(STATE_VERSION).putLong(rng.state()).putLong(writeCount)
                    .putLong(nicSeq).array();
        } finally {
            guest.unlock();
        }
    }

    SimNic nic() {
        return nic;
    }

    DomainId id() {
        return id;
    }

    SimOptions options() {
        return options;
    }

    SimMemory memory() {
        return memory;
    }

    /** Writes made by the guest so far (restored on activation). */
    long writeCount() {
        guest.lock();
        try {
            return writeCount;
        } finally {
            guest.unlock();
        }
    }

    /** The last packet sequence number emitted (restored on activation). */
    long nicSequence() {
        guest.lock();
        try {
            return nicSeq;
        } finally {
            guest.unlock();
        }
    }

    /** CRC32C of the whole memory, taken between two guest ticks. */
    int digest() {
        guest.lock();
        try {
            return memory.digest();
        } finally {
            guest.unlock();
        }
    }

    boolean isStopped() {
        return stopped;
    }

    /** Whether the dirty log is on. */
    boolean logging() {
        guest.lock();
        try {
            return logging;
        } finally {
            guest.unlock();
        }
    }

    /** Stops the guest thread for good; its memory goes with the last reference to it. */
    void stop() {
        stopped = true;
        paused = false;
        try {
            thread.join(TimeUnit.SECONDS.toMillis(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
