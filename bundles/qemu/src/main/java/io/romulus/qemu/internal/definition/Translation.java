package io.romulus.qemu.internal.definition;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a translation of a domain XML has found so far: the options, in the order they were set; the notes about what
 * was accepted without becoming an option; and the problems, each a sentence that names the element by its path.
 * One translation refuses with all of its problems at once, so a user fixes the XML in one go.
 */
final class Translation {

    static final String UNSUPPORTED = " is not supported by the qemu binding";

    private final Map<String, String> options = new LinkedHashMap<>();
    private final Set<String> notes = new LinkedHashSet<>();
    private final List<String> problems = new ArrayList<>();

    void put(String key, String value) {
        String before = options.putIfAbsent(key, value);
        if (before != null) {
            throw new IllegalStateException("option " + key + " set twice: " + before + ", " + value);
        }
    }

    boolean has(String key) {
        return options.containsKey(key);
    }

    /** Something accepted that is no option: said once, however often it occurs. */
    void note(String note) {
        notes.add(note);
    }

    /** {@code path is not supported by the qemu binding[: why]}. */
    void refuse(String path, String why) {
        problems.add(path + UNSUPPORTED + (why.isEmpty() ? "" : ": " + why));
    }

    /** A problem in a sentence of its own, which starts with the element's path. */
    void problem(String sentence) {
        problems.add(sentence);
    }

    Map<String, String> options() {
        return options;
    }

    List<String> notes() {
        return List.copyOf(notes);
    }

    /**
     * @throws IllegalArgumentException with every problem found, one a line, if there is any
     */
    void check() {
        if (problems.size() == 1) {
            throw new IllegalArgumentException(problems.get(0));
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(problems.size() + " problems in the libvirt domain XML:\n  "
                    + String.join("\n  ", problems));
        }
    }
}
