package io.romulus.api.management;

import javax.management.MBeanException;
import javax.management.openmbean.TabularData;

/**
 * {@code io.romulus:type=Engine,name=engine}: the replication engine. It emits a JMX notification for every alarm
 * (types {@code io.romulus.alarm.unprotected}, {@code .protected}, {@code .fenced}, {@code .failed},
 * {@code .primary-suspected}, {@code .failover}, {@code .witness}; the domain is the user data).
 */
public interface EngineMBean {

    /**
     * One row per domain and role, {@code key} = {@code "sim:demo PRIMARY"}, {@code value} = one line: state, epoch,
     * interval, last pause, dirty pages, lag, peer and detail (Hawtio shows a table of strings as lines; the numbers
     * are attributes of the domain's {@link ProtectionMBean}).
     */
    TabularData getStatus() throws MBeanException;

    /** The most recent alarms, newest last, one row each: sequence, time, kind, domain, message. */
    TabularData getAlarms() throws MBeanException;

    /** Number of domains this node is primary for. */
    int getProtectedDomains();

    /** Recent epoch statistics of one domain. */
    TabularData epochs(String domain, int limit) throws MBeanException;

    /** Protects a domain; {@code options} is {@code key=value,key=value} (binding options). */
    String protect(String domain, String peer, int intervalMs, String options) throws MBeanException;

    void unprotect(String domain) throws MBeanException;

    String failover(String domain) throws MBeanException;

    /**
     * Planned switchover of a protected domain to its backup, on either node of the pair (see
     * {@link io.romulus.api.engine.ReplicationEngine#switchover}); returns what happened.
     */
    String switchover(String domain) throws MBeanException;

    void setInterval(String domain, int intervalMs) throws MBeanException;
}
