package io.romulus.netbuf.internal.nfqueue;

import io.romulus.netbuf.internal.netlink.Nfqueue;

/**
 * The NFQUEUE provider's settings, usable without OSGi.
 *
 * @param queueBase  the first queue number tried
 * @param queueMaxlen packets one queue holds before the kernel drops
 * @param copyRange  bytes copied per packet (0: metadata only)
 */
public record NfqueueSettings(int queueBase, int queueMaxlen, int copyRange) {

    public static final int DEFAULT_QUEUE_BASE = 4200;
    public static final int DEFAULT_QUEUE_MAXLEN = 16384;
    public static final int DEFAULT_COPY_RANGE = 64;

    public NfqueueSettings {
        if (queueBase < 0 || queueBase > 0xffff) {
            throw new IllegalArgumentException("queue.base must be 0-65535, not " + queueBase);
        }
        if (queueMaxlen < 1) {
            throw new IllegalArgumentException("queue.maxlen must be at least 1, not " + queueMaxlen);
        }
        if (copyRange < 0 || copyRange > Nfqueue.MAX_COPY_RANGE) {
            throw new IllegalArgumentException("copy.range must be 0-" + Nfqueue.MAX_COPY_RANGE + ", not " + copyRange);
        }
    }

    public static NfqueueSettings defaults() {
        return new NfqueueSettings(DEFAULT_QUEUE_BASE, DEFAULT_QUEUE_MAXLEN, DEFAULT_COPY_RANGE);
    }

    public static NfqueueSettings of(NfqueueConfig config) {
        return new NfqueueSettings(config.queue_base(), config.queue_maxlen(), config.copy_range());
    }

    /** A copy with another queue base (tests use their own range). */
    public NfqueueSettings withQueueBase(int base) {
        return new NfqueueSettings(base, queueMaxlen, copyRange);
    }
}
