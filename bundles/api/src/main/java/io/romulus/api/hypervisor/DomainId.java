package io.romulus.api.hypervisor;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * The name of a protected domain as the operator writes it: {@code binding:name}, for example
 * {@code sim:demo} or {@code qemu:legacy-db}. The binding selects the {@link Hypervisor} service.
 */
public record DomainId(String binding, String name) {

    private static final Pattern PART = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    public DomainId {
        Objects.requireNonNull(binding, "binding");
        Objects.requireNonNull(name, "name");
        if (!PART.matcher(binding).matches()) {
            throw new IllegalArgumentException("invalid binding '" + binding + "': expected letters, digits, '.', '_' or '-'");
        }
        if (!PART.matcher(name).matches()) {
            throw new IllegalArgumentException("invalid domain name '" + name + "': expected 1-64 letters, digits, '.', '_' or '-'");
        }
    }

    /**
     * Parses {@code binding:name}.
     *
     * @throws IllegalArgumentException with a message that says what is wrong
     */
    public static DomainId parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("a domain is written binding:name, for example sim:demo");
        }
        int colon = text.indexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new IllegalArgumentException("'" + text + "' is not binding:name (for example sim:demo or qemu:web)");
        }
        return new DomainId(text.substring(0, colon), text.substring(colon + 1));
    }

    @Override
    public String toString() {
        return binding + ":" + name;
    }
}
