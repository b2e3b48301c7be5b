package io.romulus.netbuf.internal.nfqueue;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration PID {@code io.romulus.netbuf.nfqueue}: output commit through NFQUEUE. */
@ObjectClassDefinition(name = "Romulus output buffer: NFQUEUE",
        description = "Guest output held in an NFQUEUE and released per acknowledged epoch (for kernels without "
                + "sch_plug)")
public @interface NfqueueConfig {

    @AttributeDefinition(description = "First queue number (0-65535); each attached interface takes the next free one "
            + "(numbers are per network namespace)")
    int queue_base() default NfqueueSettings.DEFAULT_QUEUE_BASE;

    @AttributeDefinition(description = "Packets one queue may hold; beyond that the kernel drops guest output (never "
            + "releases it early)")
    int queue_maxlen() default NfqueueSettings.DEFAULT_QUEUE_MAXLEN;

    @AttributeDefinition(description = "Bytes of each packet copied to Romulus, which only counts them, never "
            + "modifies them (0: metadata only, and the byte counters stay 0)")
    int copy_range() default NfqueueSettings.DEFAULT_COPY_RANGE;
}
