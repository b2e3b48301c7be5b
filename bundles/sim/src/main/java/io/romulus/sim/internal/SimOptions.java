package io.romulus.sim.internal;

import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Options of a synthetic domain, as given to {@code romulus:protect sim:NAME --memory 256M --dirty-rate 5000 ...}.
 *
 * @param memoryBytes guest memory, 1 MiB to 64 GiB
 * @param dirtyRate   pages written per second by the workload
 * @param locality    fraction of writes that go to the hot set
 * @param hotSet      fraction of memory that is the hot set
 * @param packetRate  output packets per second of the synthetic NIC
 * @param seed        seed of the workload's pseudo-random choices
 */
public record SimOptions(long memoryBytes, int dirtyRate, double locality, double hotSet, int packetRate, long seed) {

    public static final Set<String> KEYS = new TreeSet<>(Set.of("memory", "dirty-rate", "locality", "hot-set",
            "packet-rate", "seed"));
    static final long MIN_MEMORY = 1L << 20;
    static final long MAX_MEMORY = 64L << 30;
    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*([kmgt]?)(i?b)?", Pattern.CASE_INSENSITIVE);

    public SimOptions {
        if (memoryBytes < MIN_MEMORY || memoryBytes > MAX_MEMORY || memoryBytes % SimMemory.PAGE_SIZE != 0) {
            throw new IllegalArgumentException("memory must be a multiple of 4 KiB between 1 MiB and 64 GiB, not "
                    + memoryBytes + " bytes");
        }
        if (dirtyRate < 0 || dirtyRate > 10_000_000) {
            throw new IllegalArgumentException("dirty-rate must be 0 to 10000000 pages/s, not " + dirtyRate);
        }
        if (!(locality >= 0 && locality <= 1)) {
            throw new IllegalArgumentException("locality must be between 0 and 1, not " + locality);
        }
        if (!(hotSet > 0 && hotSet <= 1)) {
            throw new IllegalArgumentException("hot-set must be above 0 and at most 1, not " + hotSet);
        }
        if (packetRate < 0 || packetRate > 1_000_000) {
            throw new IllegalArgumentException("packet-rate must be 0 to 1000000 packets/s, not " + packetRate);
        }
    }

    public static SimOptions defaults() {
        return new SimOptions(64L << 20, 2000, 0.8, 0.05, 200, 1);
    }

    /** Parses the options map; unknown keys and bad values are refused with a message naming them. */
    public static SimOptions parse(Map<String, String> options) {
        SimOptions d = defaults();
        for (String key : options.keySet()) {
            if (!KEYS.contains(key)) {
                throw new IllegalArgumentException("the sim binding has no option '" + key + "'; it accepts "
                        + String.join(", ", KEYS));
            }
        }
        return new SimOptions(
                options.containsKey("memory") ? parseSize(options.get("memory")) : d.memoryBytes(),
                options.containsKey("dirty-rate") ? parseInt("dirty-rate", options.get("dirty-rate")) : d.dirtyRate(),
                options.containsKey("locality") ? parseDouble("locality", options.get("locality")) : d.locality(),
                options.containsKey("hot-set") ? parseDouble("hot-set", options.get("hot-set")) : d.hotSet(),
                options.containsKey("packet-rate") ? parseInt("packet-rate", options.get("packet-rate"))
                        : d.packetRate(),
                options.containsKey("seed") ? parseLong("seed", options.get("seed")) : d.seed());
    }

    /** The options as a map, so a replica activated elsewhere runs the same workload. */
    public Map<String, String> toMap() {
        return Map.of("memory", Long.toString(memoryBytes), "dirty-rate", Integer.toString(dirtyRate),
                "locality", Double.toString(locality), "hot-set", Double.toString(hotSet),
                "packet-rate", Integer.toString(packetRate), "seed", Long.toString(seed));
    }

    /** {@code 256M}, {@code 256MiB}, {@code 1G}, {@code 65536K}, or bytes. */
    public static long parseSize(String text) {
        Matcher m = SIZE.matcher(text == null ? "" : text.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("memory '" + text + "' is not a size such as 256M, 1G or 65536K");
        }
        long n;
        try {
            n = Long.parseLong(m.group(1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("memory '" + text + "' is too large");
        }
        int shift = switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            case "t" -> 40;
            default -> 0;
        };
        if (n > (Long.MAX_VALUE >> shift)) {
            throw new IllegalArgumentException("memory '" + text + "' is too large");
        }
        return n << shift;
    }

    private static int parseInt(String key, String value) {
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException | NullPointerException e) {
            throw new IllegalArgumentException(key + " '" + value + "' is not a whole number");
        }
    }

    private static long parseLong(String key, String value) {
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException | NullPointerException e) {
            throw new IllegalArgumentException(key + " '" + value + "' is not a whole number");
        }
    }

    private static double parseDouble(String key, String value) {
        try {
            return Double.parseDouble(value.trim());
        } catch (NumberFormatException | NullPointerException e) {
            throw new IllegalArgumentException(key + " '" + value + "' is not a number");
        }
    }
}
