package io.romulus.drbd.internal;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which DRBD volume a {@link io.romulus.api.hypervisor.GuestDisk} of kind {@code drbd} names. The source is
 * <em>the resource name</em>, optionally with a volume number: {@code r0} (volume 0) or {@code r0/1}. The resource
 * name is what drbd.conf, drbdadm and events2 speak and it is the same on every node, while a minor may differ
 * between nodes. Also accepted, for disks described by their device: {@code /dev/drbd/by-res/RES[/VOL]} (udev's
 * link) and {@code /dev/drbdMINOR}, which is resolved through the local state (see {@link #minor()}).
 *
 * @param resource the resource name, or null when only the minor is known
 * @param volume   the volume number (0 when not given)
 * @param minor    the minor from {@code /dev/drbdMINOR}, or -1
 */
public record DrbdVolumeRef(String resource, int volume, int minor) {

    private static final Pattern BY_NAME = Pattern.compile("([A-Za-z0-9_][A-Za-z0-9_.+-]*)(?:/(\\d+))?");
    private static final Pattern BY_RES = Pattern.compile("/dev/drbd/by-res/([A-Za-z0-9_][A-Za-z0-9_.+-]*)(?:/(\\d+))?");
    private static final Pattern BY_MINOR = Pattern.compile("/dev/drbd(\\d+)");

    /** Parses a {@code GuestDisk.source()}. */
    public static DrbdVolumeRef parse(String source) {
        if (source == null || source.isBlank()) {
            throw new IllegalArgumentException("a drbd disk's source must name its DRBD resource (RES or RES/VOLUME), "
                    + "not be empty");
        }
        String s = source.strip();
        Matcher m = BY_MINOR.matcher(s);
        if (m.matches()) {
            return new DrbdVolumeRef(null, -1, Integer.parseInt(m.group(1)));
        }
        m = BY_RES.matcher(s);
        if (!m.matches()) {
            m = BY_NAME.matcher(s);
        }
        if (m.matches()) {
            DrbdTools.checkResourceName(m.group(1));
            return new DrbdVolumeRef(m.group(1), m.group(2) == null ? 0 : Integer.parseInt(m.group(2)), -1);
        }
        throw new IllegalArgumentException("a drbd disk's source must be RES, RES/VOLUME, /dev/drbd/by-res/RES[/VOLUME] "
                + "or /dev/drbdMINOR, not " + source);
    }

    /** Whether the resource is only known by its minor. */
    public boolean byMinor() {
        return resource == null;
    }

    @Override
    public String toString() {
        return resource == null ? "/dev/drbd" + minor : resource + "/" + volume;
    }
}
