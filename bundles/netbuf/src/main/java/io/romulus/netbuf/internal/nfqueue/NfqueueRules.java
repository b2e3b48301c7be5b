package io.romulus.netbuf.internal.nfqueue;

import java.util.ArrayList;
import java.util.List;

/**
 * The NFQUEUE rules of a FORWARD chain, as {@code iptables -S FORWARD} (or {@code ip6tables}) prints them: what a
 * provider reads at attach to adopt the rule an earlier version of the bundle left for an interface, and to keep
 * the queue numbers other rules feed out of its choice of a free queue.
 *
 * @param rules the chain's rules that jump to NFQUEUE, in chain order
 */
record NfqueueRules(List<Rule> rules) {

    /**
     * One {@code -j NFQUEUE} rule.
     *
     * @param spec       the rule's match and target, as {@code -D FORWARD} takes it to remove the rule
     * @param physdevIn  the bridge port it matches with {@code --physdev-in} (not negated), or null
     * @param firstQueue the queue it feeds ({@code --queue-num}, 0 without), or the first of {@code --queue-balance}
     * @param lastQueue  the last queue it feeds ({@code firstQueue} unless balanced)
     * @param bypass     {@code --queue-bypass}: with no program bound to the queue the kernel lets packets pass
     */
    record Rule(List<String> spec, String physdevIn, int firstQueue, int lastQueue, boolean bypass) {

        /** Whether it feeds queue {@code queue}. */
        boolean feeds(int queue) {
            return queue >= firstQueue && queue <= lastQueue;
        }
    }

    private static final String CHAIN = "FORWARD";

    /** Parses {@code iptables -S FORWARD}: {@code -P} and rules of other targets are skipped. */
    static NfqueueRules parse(String listing) {
        List<Rule> rules = new ArrayList<>();
        for (String line : listing.split("\n")) {
            List<String> tokens = tokens(line.strip());
            if (tokens.size() < 2 || !"-A".equals(tokens.get(0)) || !CHAIN.equals(tokens.get(1))) {
                continue;
            }
            List<String> spec = List.copyOf(tokens.subList(2, tokens.size()));
            int jump = spec.indexOf("-j");
            if (jump < 0 || jump + 1 >= spec.size() || !"NFQUEUE".equals(spec.get(jump + 1))) {
                continue;
            }
            String physdevIn = null;
            int first = 0;
            int last = 0;
            boolean bypass = false;
            for (int i = 0; i < spec.size(); i++) {
                String t = spec.get(i);
                String next = i + 1 < spec.size() ? spec.get(i + 1) : null;
                if ("--physdev-in".equals(t) && next != null && (i == 0 || !"!".equals(spec.get(i - 1)))) {
                    physdevIn = next;
                } else if ("--queue-num".equals(t) && next != null) {
                    first = Integer.parseInt(next);
                    last = first;
                } else if ("--queue-balance".equals(t) && next != null) {
                    int colon = next.indexOf(':');
                    first = Integer.parseInt(next.substring(0, colon));
                    last = Integer.parseInt(next.substring(colon + 1));
                } else if ("--queue-bypass".equals(t)) {
                    bypass = true;
                }
            }
            rules.add(new Rule(spec, physdevIn, first, last, bypass));
        }
        return new NfqueueRules(List.copyOf(rules));
    }

    /** The rules that send what bridge port {@code dev} receives (what the guest sends) to a queue. */
    List<Rule> feeding(String dev) {
        return rules.stream().filter(r -> dev.equals(r.physdevIn())).toList();
    }

    /** Whether any rule feeds queue {@code queue}. */
    boolean uses(int queue) {
        return rules.stream().anyMatch(r -> r.feeds(queue));
    }

    /** Splits a line as iptables quotes it: words, and double-quoted strings with backslash escapes. */
    static List<String> tokens(String line) {
        List<String> out = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        boolean inWord = false;
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quoted) {
                if (c == '\\' && i + 1 < line.length()) {
                    word.append(line.charAt(++i));
                } else if (c == '"') {
                    quoted = false;
                } else {
                    word.append(c);
                }
            } else if (c == '"') {
                quoted = true;
                inWord = true;
            } else if (Character.isWhitespace(c)) {
                if (inWord) {
                    out.add(word.toString());
                    word.setLength(0);
                    inWord = false;
                }
            } else {
                word.append(c);
                inWord = true;
            }
        }
        if (inWord) {
            out.add(word.toString());
        }
        return out;
    }
}
