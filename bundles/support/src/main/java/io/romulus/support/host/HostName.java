package io.romulus.support.host;

import java.net.InetAddress;
import java.net.UnknownHostException;

/** This host's name, as components use it when no node id is configured. */
public final class HostName {

    /** What {@link #get()} answers when the host has no name it can resolve. */
    public static final String FALLBACK = "romulus";

    private HostName() {
    }

    /** The host's name, or {@value #FALLBACK} when it cannot be resolved. */
    public static String get() {
        return orElse(FALLBACK);
    }

    /** The host's name, or {@code fallback} when it cannot be resolved. */
    public static String orElse(String fallback) {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return fallback;
        }
    }
}
