package io.romulus.engine.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.romulus.api.hypervisor.GuestDisk;

/**
 * How the primary announces a domain's disks to its backup: one HELLO option per disk, {@code romulus.disk.<i>} for
 * {@code i} from 0 (the disk's index in {@code disks()} and in the stream's DISK_WRITES records), whose value is
 * {@code name,kind,sizeBytes,source}. In each field {@code %} is written {@code %25} and {@code ,} is written
 * {@code %2C}, so a source URI may hold any character. Like every option starting with {@code romulus.}, these are
 * the engine's and never reach the binding.
 */
final class DiskAnnouncement {

    static final String PREFIX = "romulus.disk.";

    private DiskAnnouncement() {
    }

    /** Adds the options announcing {@code disks} to {@code options}. */
    static void announce(List<GuestDisk> disks, Map<String, String> options) {
        for (int i = 0; i < disks.size(); i++) {
            GuestDisk d = disks.get(i);
            options.put(PREFIX + i, escape(d.name()) + "," + escape(d.kind()) + "," + d.sizeBytes() + ","
                    + escape(d.source()));
        }
    }

    /**
     * The disks announced in a HELLO's options, in index order.
     *
     * @throws IllegalArgumentException if an announcement is malformed or the indexes are not 0..n-1
     */
    static List<GuestDisk> parse(Map<String, String> options) {
        int count = 0;
        for (String key : options.keySet()) {
            if (key.startsWith(PREFIX)) {
                count++;
            }
        }
        List<GuestDisk> disks = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            String value = options.get(PREFIX + i);
            if (value == null) {
                throw new IllegalArgumentException("the HELLO announces " + count + " disks but not "
                        + PREFIX + i);
            }
            String[] f = value.split(",", -1);
            if (f.length != 4) {
                throw new IllegalArgumentException(PREFIX + i + "=" + value + " is not name,kind,sizeBytes,source");
            }
            long size;
            try {
                size = Long.parseLong(f[2]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(PREFIX + i + "=" + value + " has no size in bytes");
            }
            String name = unescape(f[0]);
            String kind = unescape(f[1]);
            if (name.isEmpty() || kind.isEmpty() || size < 0) {
                throw new IllegalArgumentException(PREFIX + i + "=" + value + " lacks a name, a kind or a size");
            }
            disks.add(new GuestDisk(name, kind, unescape(f[3]), size));
        }
        return disks;
    }

    private static String escape(String s) {
        return s.replace("%", "%25").replace(",", "%2C");
    }

    private static String unescape(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '%' && s.regionMatches(true, i, "%2C", 0, 3)) {
                out.append(',');
                i += 2;
            } else if (c == '%' && s.startsWith("%25", i)) {
                out.append('%');
                i += 2;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
