package io.romulus.hawtio.internal;

/**
 * What Hawtio 2 reads from {@code hawtio:type=plugin,name=...} MBeans (its {@code /hawtio/plugin} servlet) before
 * it starts: where the plugin is served, the JMX domain it is about, and the scripts to load from there.
 */
public interface HawtioPluginMBean {
    String getName();

    /** The web context the scripts are served from, {@code /romulus-hawtio}. */
    String getContext();

    String getDomain();

    /** Paths under {@link #getContext()}. */
    String[] getScripts();
}
