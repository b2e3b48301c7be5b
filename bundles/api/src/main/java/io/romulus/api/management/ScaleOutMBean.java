package io.romulus.api.management;

import javax.management.MBeanException;

/**
 * {@code io.romulus:type=ScaleOut,name=scaleout}: read-only domains served by several primary–backup pairs behind the
 * load balancer.
 */
public interface ScaleOutMBean {

    /** One line per pair: origin, pair, domain, balancer server, address, balancer state, protection here. */
    String[] getPairs() throws MBeanException;

    /** The domains declared read-only, which may be scaled. */
    String[] getReadOnlyDomains();

    /** Makes {@code pairs} pairs serve {@code domain}; returns the pairs, one line each. */
    String[] scale(String domain, int pairs) throws MBeanException;
}
