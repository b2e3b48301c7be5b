package io.romulus.qemu.internal.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.StringReader;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * Fuzzes the reading of a VM's definition from the HELLO's options ({@link VmDefinition#parse}), which a backup does
 * with what its primary announced and which becomes QEMU's command line. An input is the options as a properties
 * file, {@code key=value} a line. For every input: the options are refused with an {@link IllegalArgumentException} or read into
 * a definition that {@code parse(toMap())} reads again to itself, whose memory is the size that was written (no
 * overflow makes 16 EiB and 1 GiB the same) and whose CPU topology multiplies to its CPUs. The seeds
 * (.../VmOptionsFuzzTestInputs/options/) are the definitions of VmDefinitionTest and the docs. Run by execution
 * {@code fuzz} of the parent pom (docs/developing.md).
 */
class VmOptionsFuzzTest {

    @FuzzTest
    void options(byte[] input) throws IOException {
        Properties given = new Properties();
        try {
            given.load(new StringReader(new String(input, StandardCharsets.UTF_8)));
        } catch (IllegalArgumentException e) {
            return; // a malformed unicode escape: not options at all
        }
        Map<String, String> options = new TreeMap<>();
        given.stringPropertyNames().forEach(k -> options.put(k, given.getProperty(k)));
        VmDefinition vm;
        try {
            vm = VmDefinition.parse(options);
        } catch (IllegalArgumentException e) {
            return;
        }
        assertEquals(vm, VmDefinition.parse(vm.toMap()));
        String memory = options.getOrDefault("memory", "512M").trim().toLowerCase(Locale.ROOT);
        String digits = memory.replaceAll("[^0-9].*", "");
        BigInteger unit = BigInteger.ONE.shiftLeft(memory.contains("g") ? 30 : 20);
        assertEquals(new BigInteger(digits).multiply(unit), BigInteger.valueOf(vm.memoryBytes()), memory);
        if (!vm.topology().isEmpty()) {
            BigInteger product = BigInteger.ONE;
            for (String n : vm.topology().split(",")) {
                product = product.multiply(new BigInteger(n));
            }
            assertEquals(BigInteger.valueOf(vm.cpus()), product, vm.topology());
        }
        assertTrue(vm.cpus() >= 1);
    }
}
