package io.romulus.qemu.internal.definition;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The test resources under {@code libvirt/}: domain XMLs and their golden translations. A golden file holds the
 * options, {@code key=value} a line in their order, then a blank line, then the notes, {@code note: ...} a line.
 */
final class Golden {

    private Golden() {
    }

    static String resource(String name) {
        try (InputStream in = Golden.class.getResourceAsStream("/libvirt/" + name)) {
            if (in == null) {
                throw new IllegalStateException("no test resource libvirt/" + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String render(LibvirtDomainXml.Definition d) {
        List<String> lines = new ArrayList<>();
        lines.add("name: " + d.name());
        lines.add("");
        for (Map.Entry<String, String> e : d.options().entrySet()) {
            lines.add(e.getKey() + "=" + e.getValue());
        }
        lines.add("");
        for (String note : d.notes()) {
            lines.add("note: " + note);
        }
        return String.join("\n", lines) + "\n";
    }
}
