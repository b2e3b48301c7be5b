package io.romulus.scaleout.internal;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.hypervisor.DomainId;

/**
 * Scale-out's settings, the typed and validated form of {@link ScaleOutConfig}, usable without OSGi. Patterns take
 * {@code {name}} (the scaled domain's name without its binding) and {@code {pair}} (the pair's number, 1 for the
 * domain itself).
 *
 * @param readOnly       domains the operator declared read-only ({@code binding:name}): only these may be scaled
 * @param balancerApi    HAProxy's runtime API: a UNIX socket path or {@code host:port}
 * @param backend        the balancer backend of a scaled domain
 * @param pairName       the name of pair {@code k}'s domain, for {@code k > 1}
 * @param pairBridge     the bridge pair {@code k}'s guest joins on every node: its own L2 segment, so that its
 *                       addresses (the same as the original's) collide with no other pair's
 * @param pairAddress    where the balancer reaches pair {@code k}, {@code host:port}
 * @param backups        the nodes clones are protected towards, in turn ({@code host:port} of their checkpoint
 *                       streams); empty: the node the domain's primary runs on
 * @param maxPairs       upper bound of {@code --pairs}
 * @param drain          how long a removed pair's open connections may take to end before they are cut
 * @param protectTimeout how long a new pair may take to become PROTECTED (its initial copy) before scaling fails;
 *                       a pair joins the balancer only once protected
 */
public record ScaleOutSettings(Set<String> readOnly, String balancerApi, String backend, String pairName,
        String pairBridge, String pairAddress, List<InetSocketAddress> backups, int maxPairs, Duration drain,
        Duration protectTimeout) {

    private static final Pattern PLACEHOLDER = Pattern.compile("\\{([a-z]+)}");

    public ScaleOutSettings {
        readOnly = Set.copyOf(readOnly);
        backups = List.copyOf(backups);
        for (String d : readOnly) {
            DomainId.parse(d);
        }
        check("backend", backend, Set.of("name"));
        check("pair.name", pairName, Set.of("name", "pair"));
        if (!pairName.contains("{pair}")) {
            throw new IllegalArgumentException("pair.name must contain {pair}, so that every pair has a name of its "
                    + "own, not '" + pairName + "'");
        }
        check("pair.bridge", pairBridge, Set.of("name", "pair"));
        check("pair.address", pairAddress, Set.of("name", "pair"));
        if (maxPairs < 1 || maxPairs > 64) {
            throw new IllegalArgumentException("max.pairs must be 1 to 64, not " + maxPairs);
        }
        if (drain.isNegative() || protectTimeout.toMillis() < 1000) {
            throw new IllegalArgumentException("drain.timeout.ms must be 0 or more and protect.timeout.ms at least "
                    + "1000");
        }
    }

    private static void check(String key, String pattern, Set<String> allowed) {
        if (pattern.isBlank()) {
            throw new IllegalArgumentException(key + " must not be empty");
        }
        Matcher m = PLACEHOLDER.matcher(pattern);
        while (m.find()) {
            if (!allowed.contains(m.group(1))) {
                throw new IllegalArgumentException(key + " '" + pattern + "' uses {" + m.group(1) + "}; it may use "
                        + String.join(", ", allowed.stream().sorted().map(a -> "{" + a + "}").toList()));
            }
        }
    }

    static ScaleOutSettings of(ScaleOutConfig c) {
        Set<String> ro = new LinkedHashSet<>();
        for (String d : c.read_only().split("[,\\s]+")) {
            if (!d.isBlank()) {
                ro.add(d.trim());
            }
        }
        List<InetSocketAddress> backups = new ArrayList<>();
        for (String b : c.pair_backups().split("[,\\s]+")) {
            if (!b.isBlank()) {
                backups.add(ProtectRequest.parsePeer(b.trim()));
            }
        }
        return new ScaleOutSettings(ro, c.balancer_api(), c.backend(), c.pair_name(), c.pair_bridge(),
                c.pair_address(), backups, c.max_pairs(), Duration.ofMillis(c.drain_timeout_ms()),
                Duration.ofMillis(c.protect_timeout_ms()));
    }

    /** The defaults of {@link ScaleOutConfig}, with {@code readOnly} and the balancer's API. */
    public static ScaleOutSettings defaults(Set<String> readOnly, String balancerApi) {
        return new ScaleOutSettings(readOnly, balancerApi, "{name}", "{name}-p{pair}", "rp{pair}",
                "10.78.{pair}.1:7000", List.of(), 16, Duration.ofSeconds(10), Duration.ofMinutes(3));
    }

    public ScaleOutSettings withBackups(List<InetSocketAddress> nodes) {
        return new ScaleOutSettings(readOnly, balancerApi, backend, pairName, pairBridge, pairAddress, nodes,
                maxPairs, drain, protectTimeout);
    }

    public ScaleOutSettings withDrain(Duration d) {
        return new ScaleOutSettings(readOnly, balancerApi, backend, pairName, pairBridge, pairAddress, backups,
                maxPairs, d, protectTimeout);
    }

    static String fill(String pattern, String name, int pair) {
        return pattern.replace("{name}", name).replace("{pair}", Integer.toString(pair));
    }

    String backendOf(DomainId origin) {
        return fill(backend, origin.name(), 1);
    }

    /** Pair {@code k}'s domain: the origin itself for pair 1. */
    DomainId pairDomain(DomainId origin, int pair) {
        return pair == 1 ? origin : new DomainId(origin.binding(), fill(pairName, origin.name(), pair));
    }

    String bridgeOf(DomainId origin, int pair) {
        return fill(pairBridge, origin.name(), pair);
    }

    InetSocketAddress addressOf(DomainId origin, int pair) {
        return ProtectRequest.parsePeer(fill(pairAddress, origin.name(), pair));
    }

    /** The balancer server of pair {@code k}. */
    static String serverOf(int pair) {
        return "p" + pair;
    }

    /** The pair number of a server name, or 0 if it is not one of ours. */
    static int pairOfServer(String server) {
        if (server.length() < 2 || server.charAt(0) != 'p') {
            return 0;
        }
        try {
            int k = Integer.parseInt(server.substring(1));
            return k >= 1 && server.equals("p" + k) ? k : 0;
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** Which read-only domain's pair {@code id} is, and which pair; null if it is none. */
    PairRef pairOf(DomainId id) {
        for (String o : readOnly) {
            DomainId origin = DomainId.parse(o);
            if (origin.equals(id)) {
                return new PairRef(origin, 1);
            }
            if (!origin.binding().equals(id.binding())) {
                continue;
            }
            // what stands before and after the number in the pattern
            String prefix = fill(pairName.substring(0, pairName.indexOf("{pair}")), origin.name(), 0);
            String suffix = fill(pairName.substring(pairName.indexOf("{pair}") + "{pair}".length()), origin.name(), 0);
            String n = id.name();
            if (n.length() > prefix.length() + suffix.length() && n.startsWith(prefix)
                    && n.endsWith(suffix)) {
                String number = n.substring(prefix.length(), n.length() - suffix.length());
                if (number.matches("[1-9][0-9]*") && Integer.parseInt(number) > 1) {
                    return new PairRef(origin, Integer.parseInt(number));
                }
            }
        }
        return null;
    }

    /** Pair {@code pair} of the scaled domain {@code origin}. */
    record PairRef(DomainId origin, int pair) {
    }

    @Override
    public String toString() {
        return "read.only=" + readOnly + " balancer.api=" + balancerApi + " backend=" + backend + " pair.name="
                + pairName + " pair.bridge=" + pairBridge + " pair.address=" + pairAddress + " pair.backups="
                + Arrays.toString(backups.toArray());
    }
}
