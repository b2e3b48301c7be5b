package io.romulus.support.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A golden program prints what the headers say; whatever keeps it from doing so fails the test, saying what. */
class GoldenProgramTest {

    @TempDir
    Path dir;

    private Path source(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }

    @Test
    void itsOutputIsWhatTheProgramPrints() throws IOException {
        Path c = source("golden_program_prints.c", """
                #include <stdio.h>
                #include <stdint.h>
                int main(void)
                {
                    printf("size uint32_t %zu\\n", sizeof(uint32_t));
                    printf("const ANSWER %d\\n", 42);
                    return 0;
                }
                """);
        GoldenProgram p = GoldenProgram.of(c).needs("libc6-dev", "/usr/include/stdio.h", "/usr/include/stdint.h");
        assertEquals("size uint32_t 4\nconst ANSWER 42\n", p.output());
        assertEquals(List.of("size uint32_t 4", "const ANSWER 42"), p.lines());
    }

    @Test
    void aMissingHeaderFailsNamingItAndItsPackage() throws IOException {
        Path c = source("golden_program_header.c", "int main(void) { return 0; }\n");
        AssertionError e = assertThrows(AssertionError.class,
                () -> GoldenProgram.of(c).needs("romulus-headers", "/usr/include/romulus/no-such.h").output());
        assertTrue(e.getMessage().contains("/usr/include/romulus/no-such.h is missing"), e.getMessage());
        assertTrue(e.getMessage().contains("install Debian package romulus-headers"), e.getMessage());
    }

    @Test
    void aMissingCompilerFailsNamingGcc() throws IOException {
        Path c = source("golden_program_nogcc.c", "int main(void) { return 0; }\n");
        AssertionError e = assertThrows(AssertionError.class,
                () -> GoldenProgram.of(c, "romulus-no-such-gcc").output());
        assertTrue(e.getMessage().contains("romulus-no-such-gcc not found: install Debian package gcc"),
                e.getMessage());
    }

    @Test
    void aMissingSourceFailsNamingIt() {
        Path c = dir.resolve("golden_program_absent.c");
        AssertionError e = assertThrows(AssertionError.class, () -> GoldenProgram.of(c).output());
        assertTrue(e.getMessage().contains(c.toAbsolutePath() + " is missing"), e.getMessage());
    }

    @Test
    void aCompilerErrorFailsWithWhatGccSaid() throws IOException {
        // -Werror: an unused variable is an error
        Path c = source("golden_program_warns.c", "int main(void) { int unused_here; return 0; }\n");
        AssertionError e = assertThrows(AssertionError.class, () -> GoldenProgram.of(c).output());
        assertTrue(e.getMessage().contains("gcc failed on " + c), e.getMessage());
        assertTrue(e.getMessage().contains("unused_here"), e.getMessage());
    }

    @Test
    void aFailingRunFailsWithWhatItPrinted() throws IOException {
        Path c = source("golden_program_exits.c", """
                #include <stdio.h>
                int main(void)
                {
                    fprintf(stderr, "no such struct here\\n");
                    return 3;
                }
                """);
        AssertionError e = assertThrows(AssertionError.class, () -> GoldenProgram.of(c).output());
        assertTrue(e.getMessage().contains("exited with 3: no such struct here"), e.getMessage());
    }
}
