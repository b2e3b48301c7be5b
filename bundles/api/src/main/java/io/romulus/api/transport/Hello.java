package io.romulus.api.transport;

import java.util.Map;

/**
 * What the primary tells the backup when a stream starts (the transport adds the protocol version and the
 * authentication).
 *
 * @param nodeId      the primary node's identity
 * @param domain      the protected domain, {@code binding:name}
 * @param binding     the hypervisor binding
 * @param memoryBytes guest memory size
 * @param pageSize    guest page size
 * @param options     binding options the domain was opened with
 */
public record Hello(String nodeId, String domain, String binding, long memoryBytes, int pageSize,
        Map<String, String> options) {

    public Hello {
        options = Map.copyOf(options);
    }
}
