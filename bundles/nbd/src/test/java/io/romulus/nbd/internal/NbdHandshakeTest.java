package io.romulus.nbd.internal;

import static io.romulus.nbd.internal.NbdProtocol.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The server's bytes on the wire, against golden bytes written by hand from the NBD protocol document. */
@Timeout(60)
class NbdHandshakeTest {

    private static final HexFormat HEX = HexFormat.of();

    @TempDir
    Path dir;
    NbdExports exports;

    @BeforeEach
    void serve() throws IOException {
        Path image = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        exports = new NbdExports(new NbdSettings(dir.resolve("run"), dir.resolve("disks"), 64));
        exports.export("web-vda", "vda", image);
        Path ro = dir.resolve("ro.img");
        Files.write(ro, new byte[8192]);
        exports.export("ro", "vdb", ro, true);
    }

    @AfterEach
    void stop() {
        exports.close();
    }

    private static byte[] hex(String spaced) {
        return HEX.parseHex(spaced.replace(" ", ""));
    }

    @Test
    void greetingIsFixedNewstyleWithNoZeroes() throws IOException {
        try (RawNbdClient c = new RawNbdClient(exports.socket())) {
            // "NBDMAGIC" "IHAVEOPT" flags FIXED_NEWSTYLE|NO_ZEROES
            assertArrayEquals(hex("4e42444d41474943 49484156454f5054 0003"), c.readBytes(18));
        }
    }

    @Test
    void goReplyCarriesExportAndBlockSizeThenAck() throws IOException {
        try (RawNbdClient c = new RawNbdClient(exports.socket())) {
            c.readBytes(18);
            c.out.writeInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
            c.option(OPT_GO, RawNbdClient.goData("web-vda", INFO_BLOCK_SIZE));
            byte[] expected = hex(""
                    // NBD_REP_INFO, NBD_INFO_EXPORT: 1 MiB, HAS_FLAGS|SEND_FLUSH|SEND_FUA|SEND_TRIM|WRITE_ZEROES|MULTI_CONN
                    + "0003e889045565a9 00000007 00000003 0000000c 0000 0000000000100000 016d"
                    // NBD_REP_INFO, NBD_INFO_BLOCK_SIZE: minimum 1, preferred 4096, maximum 32 MiB
                    + "0003e889045565a9 00000007 00000003 0000000e 0003 00000001 00001000 02000000"
                    // NBD_REP_ACK
                    + "0003e889045565a9 00000007 00000001 00000000");
            assertArrayEquals(expected, c.readBytes(expected.length));
            // transmission: a 4-byte read of the fresh image
            c.request(0, CMD_READ, 7, 0, 4, null);
            assertArrayEquals(hex("67446698 00000000 0000000000000007 00000000"), c.readBytes(20));
        }
    }

    @Test
    void infoOnAReadOnlyExportSaysReadOnlyAndStaysInNegotiation() throws IOException {
        try (RawNbdClient c = new RawNbdClient(exports.socket())) {
            c.readBytes(18);
            c.out.writeInt(FLAG_C_FIXED_NEWSTYLE);
            c.option(OPT_INFO, RawNbdClient.goData("ro"));
            assertArrayEquals(hex("0003e889045565a9 00000006 00000003 0000000c 0000 0000000000002000 016f"
                    + "0003e889045565a9 00000006 00000001 00000000"), c.readBytes(32 + 20));
            c.option(OPT_ABORT, new byte[0]);
            assertArrayEquals(hex("0003e889045565a9 00000002 00000001 00000000"), c.readBytes(20));
            assertEquals(-1, c.in.read());
        }
    }

    @Test
    void exportNameSendsSizeFlagsAndZeroesUnlessNoZeroes() throws IOException {
        try (RawNbdClient c = new RawNbdClient(exports.socket())) {
            c.readBytes(18);
            c.out.writeInt(FLAG_C_FIXED_NEWSTYLE);
            c.option(OPT_EXPORT_NAME, "web-vda".getBytes(StandardCharsets.UTF_8));
            byte[] expected = new byte[8 + 2 + 124];
            System.arraycopy(hex("0000000000100000 016d"), 0, expected, 0, 10);
            assertArrayEquals(expected, c.readBytes(expected.length));
            c.request(0, CMD_DISC, 1, 0, 0, null);
            assertEquals(-1, c.in.read());
        }
        try (RawNbdClient c = new RawNbdClient(exports.socket())) {
            c.readBytes(18);
            c.out.writeInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
            c.option(OPT_EXPORT_NAME, "web-vda".getBytes(StandardCharsets.UTF_8));
            assertArrayEquals(hex("0000000000100000 016d"), c.readBytes(10));
            c.request(0, CMD_FLUSH, 2, 0, 0, null);
            assertEquals(0, c.reply(2));
        }
    }

    @Test
    void unknownExportAndUnsupportedOptionsAreErrors() throws IOException {
        try (RawNbdClient c = new RawNbdClient(exports.socket())) {
            c.readBytes(18);
            c.out.writeInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
            c.option(OPT_GO, RawNbdClient.goData("nosuch"));
            assertEquals(OPTION_REPLY_MAGIC, c.in.readLong());
            assertEquals(OPT_GO, c.in.readInt());
            assertEquals(REP_ERR_UNKNOWN, c.in.readInt());
            c.readBytes(c.in.readInt());
            for (int option : new int[] {5, 8, 9, 10, 11}) { // STARTTLS, STRUCTURED_REPLY, meta contexts, extended
                c.option(option, new byte[0]);
                assertEquals(OPTION_REPLY_MAGIC, c.in.readLong());
                assertEquals(option, c.in.readInt());
                assertEquals(REP_ERR_UNSUP, c.in.readInt(), "option " + option);
                c.readBytes(c.in.readInt());
            }
            c.option(OPT_LIST, new byte[0]);
            int servers = 0;
            while (true) {
                assertEquals(OPTION_REPLY_MAGIC, c.in.readLong());
                assertEquals(OPT_LIST, c.in.readInt());
                int type = c.in.readInt();
                byte[] data = c.readBytes(c.in.readInt());
                if (type == REP_ACK) {
                    break;
                }
                assertEquals(REP_SERVER, type);
                servers++;
                ByteBuffer b = ByteBuffer.wrap(data);
                assertEquals(data.length - 4, b.getInt());
            }
            assertEquals(2, servers);
            // still negotiating: GO on a real export works after the errors
            c.option(OPT_GO, RawNbdClient.goData("web-vda"));
            assertArrayEquals(hex("0003e889045565a9 00000007 00000003 0000000c 0000 0000000000100000 016d"
                    + "0003e889045565a9 00000007 00000001 00000000"), c.readBytes(32 + 20));
        }
    }

    @Test
    void badRequestsGetTheProtocolsErrorsAndTheConnectionGoesOn() throws IOException {
        try (RawNbdClient c = RawNbdClient.connected(exports.socket(), "web-vda")) {
            c.request(0, CMD_READ, 1, (1 << 20) - 512, 1024, null);
            assertEquals(EINVAL, c.reply(1));
            c.request(0, CMD_WRITE, 2, 1 << 20, 512, new byte[512]);
            assertEquals(ENOSPC, c.reply(2));
            c.request(0, CMD_TRIM, 3, 1 << 20, 4096, null);
            assertEquals(EINVAL, c.reply(3));
            c.request(0, CMD_WRITE_ZEROES, 4, -1L, 4096, null);
            assertEquals(ENOSPC, c.reply(4));
            c.request(0, 42, 5, 0, 0, null);
            assertEquals(EINVAL, c.reply(5));
            c.request(1 << 4, CMD_WRITE, 6, 0, 4, new byte[] {1, 2, 3, 4}); // FAST_ZERO: not for writes
            assertEquals(EINVAL, c.reply(6));
            c.request(0, CMD_READ, 7, 0, MAX_PAYLOAD + 1, null);
            assertEquals(EINVAL, c.reply(7));
            // pipelined: two writes then a read, replies in order
            c.request(CMD_FLAG_FUA, CMD_WRITE, 8, 4096, 4, new byte[] {9, 8, 7, 6});
            c.request(0, CMD_WRITE, 9, 4100, 2, new byte[] {5, 4});
            c.request(0, CMD_READ, 10, 4096, 6, null);
            assertEquals(0, c.reply(8));
            assertEquals(0, c.reply(9));
            assertEquals(0, c.reply(10));
            assertArrayEquals(new byte[] {9, 8, 7, 6, 5, 4}, c.readBytes(6));
        }
    }

    @Test
    void writesToAReadOnlyExportAreRefusedWithEperm() throws IOException {
        try (RawNbdClient c = RawNbdClient.connected(exports.socket(), "ro")) {
            c.request(0, CMD_WRITE, 1, 0, 4, new byte[4]);
            assertEquals(EPERM, c.reply(1));
            c.request(0, CMD_TRIM, 2, 0, 4096, null);
            assertEquals(EPERM, c.reply(2));
            c.request(0, CMD_READ, 3, 0, 8, null);
            assertEquals(0, c.reply(3));
            assertArrayEquals(new byte[8], c.readBytes(8));
        }
    }

    @Test
    void aRequestWithoutTheMagicDropsTheConnection() throws IOException {
        try (RawNbdClient c = RawNbdClient.connected(exports.socket(), "web-vda")) {
            c.out.write(new byte[28]);
            assertEquals(-1, c.in.read());
        }
    }
}
