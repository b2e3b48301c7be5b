package io.romulus.itests.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The Debian 12 guest of native/debian as a user would hand it to Romulus: its image directory and the libvirt domain
 * XML of the VM. Shared by the failover test and the pgbench benchmark, so both protect the same machine.
 */
public final class DebianGuest {

    /** The address the guest gives eth0 when its kernel command line names none. */
    public static final String IP = "10.77.0.10";
    /** What the guest prints on ttyS0 once PostgreSQL, Redis and nginx accept connections. */
    public static final String READY = "ROMULUS-DEBIAN-READY";

    private DebianGuest() {
    }

    /**
     * The directory that holds {@code debian.img} and {@code big.sha256}, checked.
     *
     * @throws IllegalStateException saying what is missing and how to build it
     */
    public static Path directory(Path dir) {
        for (String f : List.of("debian.img", "big.sha256")) {
            if (!Files.isReadable(dir.resolve(f))) {
                throw new IllegalStateException(dir.resolve(f).toAbsolutePath() + " is missing: build the Debian guest"
                        + " first (mvn -pl native install, which scripts/test runs)");
            }
        }
        return dir;
    }

    /**
     * The user's own VM as {@code virsh dumpxml} would give it (BIOS boot, virtio disk and NIC on br0, serial):
     * native/debian/domain.xml, the definition scripts/demo protects too, with {@code image} as its disk.
     */
    public static String domainXml(Path image) throws IOException {
        Path template = Path.of(System.getProperty("romulus.native", "../../native")).resolve("debian/domain.xml");
        return Files.readString(template).replace("@IMAGE@", image.toString());
    }
}
