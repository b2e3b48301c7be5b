package io.romulus.api.hypervisor;

/**
 * What a binding knows of one domain.
 *
 * @param id          binding and name
 * @param memoryBytes guest memory size
 * @param pageSize    guest page size in bytes
 * @param running     whether the domain is currently running (not paused or stopped)
 * @param description a short human-readable description, for example {@code synthetic domain (not a VM)}
 */
public record DomainInfo(DomainId id, long memoryBytes, int pageSize, boolean running, String description) {

    public long pageCount() {
        return memoryBytes / pageSize;
    }
}
