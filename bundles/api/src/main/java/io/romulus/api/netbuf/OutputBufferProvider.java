package io.romulus.api.netbuf;

import io.romulus.api.hypervisor.GuestInterface;

import org.osgi.annotation.versioning.ConsumerType;

/** A way to hold a guest interface's output: registered as a service, chosen by the engine per interface. */
@ConsumerType
public interface OutputBufferProvider {

    /** {@code plug}, {@code nfqueue}, {@code sim}. */
    String name();

    /** Whether this provider can hold the output of {@code nic} on this host. */
    boolean supports(GuestInterface nic);

    /**
     * Starts holding {@code nic}'s output. When the interface is held already (a buffer an engine
     * {@linkplain OutputBuffer#detach() detached}, or a hold a previous version of this provider's bundle left in the
     * kernel when it was updated), adopts that hold instead: output held so far stays held and belongs to the first
     * epoch sealed next, and nothing passes meanwhile (invariant I1).
     */
    OutputBuffer attach(GuestInterface nic) throws OutputBufferException;
}
