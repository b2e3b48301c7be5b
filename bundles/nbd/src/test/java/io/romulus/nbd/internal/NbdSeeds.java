package io.romulus.nbd.internal;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes the seed corpus of {@link NbdFuzzTest}: client sessions in the order qemu-nbd's client and the kernel send
 * them (fixed newstyle; NBD_OPT_GO with information requests, or NBD_OPT_LIST and NBD_OPT_EXPORT_NAME; then reads,
 * writes, flush, trim, write-zeroes and the disconnect). Run from bundles/nbd after {@code mvn test-compile}:
 * {@code java -cp target/test-classes:target/classes:<dependencies> io.romulus.nbd.internal.NbdSeeds
 * src/test/resources/io/romulus/nbd/internal/NbdFuzzTestInputs/session}.
 */
final class NbdSeeds {

    private NbdSeeds() {
    }

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        Files.createDirectories(dir);
        Session go = new Session(NbdProtocol.FLAG_C_FIXED_NEWSTYLE | NbdProtocol.FLAG_C_NO_ZEROES);
        go.option(NbdProtocol.OPT_INFO, RawNbdClient.goData("disk0", NbdProtocol.INFO_BLOCK_SIZE));
        go.option(NbdProtocol.OPT_GO, RawNbdClient.goData("disk0", NbdProtocol.INFO_BLOCK_SIZE,
                NbdProtocol.INFO_EXPORT));
        byte[] block = "a block the guest wrote ".repeat(171).getBytes(StandardCharsets.US_ASCII);
        go.request(NbdProtocol.CMD_FLAG_FUA, NbdProtocol.CMD_WRITE, 1, 4096, block);
        go.request(0, NbdProtocol.CMD_READ, 2, 4096, 512);
        go.request(0, NbdProtocol.CMD_FLUSH, 3, 0, 0);
        go.request(0, NbdProtocol.CMD_TRIM, 4, 8192, 4096);
        go.request(NbdProtocol.CMD_FLAG_NO_HOLE, NbdProtocol.CMD_WRITE_ZEROES, 5, 0, 65536);
        go.request(0, NbdProtocol.CMD_READ, 6, NbdFuzzTest.EXPORT_BYTES - 512, 1024);
        go.request(0, NbdProtocol.CMD_DISC, 7, 0, 0);
        go.write(dir.resolve("go-then-requests"));

        Session old = new Session(NbdProtocol.FLAG_C_FIXED_NEWSTYLE);
        old.option(NbdProtocol.OPT_LIST, new byte[0]);
        old.option(99, new byte[] {1, 2, 3});
        old.option(NbdProtocol.OPT_EXPORT_NAME, "disk0".getBytes(StandardCharsets.UTF_8));
        old.request(0, NbdProtocol.CMD_READ, 1, 0, 4096);
        old.request(0, NbdProtocol.CMD_WRITE, 2, 0, new byte[512]);
        old.write(dir.resolve("list-export-name-read"));

        Session readOnly = new Session(NbdProtocol.FLAG_C_FIXED_NEWSTYLE | NbdProtocol.FLAG_C_NO_ZEROES);
        readOnly.option(NbdProtocol.OPT_GO, RawNbdClient.goData("ro"));
        readOnly.request(0, NbdProtocol.CMD_WRITE, 1, 0, new byte[] {1, 2, 3, 4});
        readOnly.request(0, NbdProtocol.CMD_WRITE_ZEROES, 2, 0, 4096);
        readOnly.request(0, NbdProtocol.CMD_READ, 3, 100, 100);
        readOnly.write(dir.resolve("read-only"));

        Session refused = new Session(NbdProtocol.FLAG_C_FIXED_NEWSTYLE | NbdProtocol.FLAG_C_NO_ZEROES);
        refused.option(NbdProtocol.OPT_GO, RawNbdClient.goData("no-such-export"));
        refused.option(NbdProtocol.OPT_ABORT, new byte[0]);
        refused.write(dir.resolve("unknown-export-abort"));
    }

    /** The bytes a client sends. */
    private static final class Session {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final DataOutputStream out = new DataOutputStream(bytes);

        Session(int clientFlags) throws IOException {
            out.writeInt(clientFlags);
        }

        void option(int option, byte[] data) throws IOException {
            out.writeLong(NbdProtocol.IHAVEOPT);
            out.writeInt(option);
            out.writeInt(data.length);
            out.write(data);
        }

        void request(int flags, int type, long cookie, long offset, int length) throws IOException {
            header(flags, type, cookie, offset, length);
        }

        void request(int flags, int type, long cookie, long offset, byte[] payload) throws IOException {
            header(flags, type, cookie, offset, payload.length);
            out.write(payload);
        }

        private void header(int flags, int type, long cookie, long offset, int length) throws IOException {
            out.writeInt(NbdProtocol.REQUEST_MAGIC);
            out.writeShort(flags);
            out.writeShort(type);
            out.writeLong(cookie);
            out.writeLong(offset);
            out.writeInt(length);
        }

        void write(Path file) throws IOException {
            Files.write(file, bytes.toByteArray());
        }
    }
}
