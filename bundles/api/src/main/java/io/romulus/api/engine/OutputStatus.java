package io.romulus.api.engine;

import io.romulus.api.netbuf.OutputBufferStats;

/**
 * One held guest interface of a domain this node protects: one line of {@code romulus:netbuf}.
 *
 * @param domain        {@code binding:name}
 * @param interfaceName the host device whose output is held (a tap, a vif, a synthetic NIC)
 * @param stats         the output buffer's counters, with the implementation that holds it
 */
public record OutputStatus(String domain, String interfaceName, OutputBufferStats stats) {
}
