package io.romulus.netbuf.internal.nfqueue;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration PID {@code io.romulus.netbuf.nfqueue}: output commit through NFQUEUE. */
@ObjectClassDefinition(name = "Romulus output buffer: NFQUEUE",
        description = "Guest output held in an NFQUEUE and released per acknowledged epoch (for kernels without "
                + "sch_plug)")
public @interface NfqueueConfig {

    @AttributeDefinition(description = "First NFQUEUE number used; each attached interface takes the next free one "
            + "(0-65535, numbers are per network namespace)")
    int queue_base() default NfqueueSettings.DEFAULT_QUEUE_BASE;

    @AttributeDefinition(description = "Packets one queue may hold; beyond that the kernel drops guest output "
            + "(never lets it through)")
    int queue_maxlen() default NfqueueSettings.DEFAULT_QUEUE_MAXLEN;

    @AttributeDefinition(description = "Bytes of each packet copied to Romulus (only counted, never modified); "
            + "0 copies metadata only, and then byte counters stay 0")
    int copy_range() default NfqueueSettings.DEFAULT_COPY_RANGE;
}
