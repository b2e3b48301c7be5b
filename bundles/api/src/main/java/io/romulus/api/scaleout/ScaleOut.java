package io.romulus.api.scaleout;

import java.util.List;

import io.romulus.api.hypervisor.DomainId;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Runs a domain declared read-only as several primary–backup pairs behind the load balancer. Pair 1 is the domain
 * itself; pair {@code k > 1} is a clone started from a committed checkpoint of the domain (its replica on this node)
 * and protected towards a node other than this one.
 */
@ProviderType
public interface ScaleOut {

    /**
     * Makes {@code pairs} pairs serve {@code domain}: clones and protects the missing ones and adds them to the
     * balancer, or drains, removes and retires the extra ones. Returns when the balancer has the new set.
     *
     * @throws IllegalArgumentException if {@code domain} is not declared read-only, {@code pairs} is out of range, or
     *                                  this node cannot clone it (it holds no committed replica of it)
     */
    List<ScalePair> scale(DomainId domain, int pairs) throws Exception;

    /** The pairs of every domain the balancer serves, as the balancer and this node's engine see them. */
    List<ScalePair> pairs() throws Exception;

    /** Whether the operator declared {@code domain} read-only (configuration {@code read.only}). */
    boolean isReadOnly(DomainId domain);
}
