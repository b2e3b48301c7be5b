package io.romulus.api.hypervisor;

import java.util.Map;

/**
 * What the backup needs to build an empty replica: taken from the primary's HELLO.
 *
 * @param id          the protected domain
 * @param memoryBytes guest memory size
 * @param pageSize    guest page size
 * @param options     binding-specific options the primary used to open the domain (so that an activated replica
 *                    is configured the same way)
 */
public record ReplicaSpec(DomainId id, long memoryBytes, int pageSize, Map<String, String> options) {

    public ReplicaSpec {
        options = Map.copyOf(options);
        if (pageSize <= 0 || Integer.bitCount(pageSize) != 1) {
            throw new IllegalArgumentException("page size must be a power of two, not " + pageSize);
        }
        if (memoryBytes <= 0 || memoryBytes % pageSize != 0) {
            throw new IllegalArgumentException("memory size " + memoryBytes + " is not a positive multiple of the page size " + pageSize);
        }
    }

    public long pageCount() {
        return memoryBytes / pageSize;
    }
}
