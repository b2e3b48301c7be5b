package io.romulus.transport.mina.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.transport.EpochEnd;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.transport.RecordType;

/**
 * Writes the seed corpus of {@link StreamFuzzTest} from this module's encoders: records of a handshake and an epoch
 * as the primary frames them, in clear and sealed, page batches and disk writes of every encoding, and the bodies of
 * the handshake's steps. Run from bundles/transport-mina after {@code mvn test-compile}:
 * {@code java -cp target/test-classes:target/classes:<dependencies> io.romulus.transport.mina.internal.StreamSeeds
 * src/test/resources/io/romulus/transport/mina/internal/StreamFuzzTestInputs/input}.
 */
final class StreamSeeds {

    private StreamSeeds() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Files.createDirectories(dir);
        RecordCodec codec = new RecordCodec(StreamFuzzTest.MAX_RECORD_BYTES);
        Map<String, String> options = new LinkedHashMap<>();
        options.put("romulus.disk.0", "kind=nbd,size=1073741824");
        options.put("romulus.return", "10.0.0.1:7780");
        options.put("memory", "128");
        Hello hello = new Hello("alpha", "qemu:web", "qemu", 128L << 20, 4096, options);
        Record client = Messages.clientHello(new Messages.ClientHello(Messages.PROTOCOL_VERSION, hello, 64L << 20,
                SharedSecret.nonce(), StreamProtection.ENCRYPTED));
        Record challenge = Messages.challenge(new Messages.Challenge(Messages.PROTOCOL_VERSION, "beta",
                SharedSecret.nonce(), new byte[32], StreamProtection.INTEGRITY));
        Record proof = Messages.proof(new byte[32]);
        Record welcome = Messages.welcome(new Messages.Welcome(new HelloReply("beta", 41, 41), 64L << 20));
        Record welcomeFresh = Messages.welcome(new Messages.Welcome(new HelloReply("beta", 0), 64L << 20));
        Record epochEnd = Messages.epochEnd(new EpochEnd(42, 3, 0, 2, 0x12345678, false));
        Record error = Messages.error("replica refused: no such binding", true);

        write(dir, "hello-client", StreamFuzzTest.HELLO, client.body());
        write(dir, "hello-challenge", StreamFuzzTest.HELLO, challenge.body());
        write(dir, "hello-proof", StreamFuzzTest.HELLO, proof.body());
        write(dir, "hello-welcome-resumed", StreamFuzzTest.HELLO, welcome.body());
        write(dir, "hello-welcome", StreamFuzzTest.HELLO, welcomeFresh.body());
        write(dir, "epoch-end", StreamFuzzTest.HELLO, epochEnd.body());
        write(dir, "frames-handshake", StreamFuzzTest.FRAMES, concat(codec.encode(client), codec.encode(proof),
                codec.encode(error)));
        write(dir, "frames-truncated", StreamFuzzTest.FRAMES, java.util.Arrays.copyOf(codec.encode(client), 40));

        // an epoch: pages of every encoding, disk writes, its end and the ACK, sealed as after the handshake
        ByteBuffer pages = ByteBuffer.allocate(4 * StreamFuzzTest.PAGE_SIZE);
        pages.put(StreamFuzzTest.PAGE_SIZE, "some text that compresses well ".repeat(50).getBytes(
                StandardCharsets.US_ASCII));
        for (int i = 2 * StreamFuzzTest.PAGE_SIZE; i < 3 * StreamFuzzTest.PAGE_SIZE; i++) {
            pages.put(i, (byte) ((i * 7919) >>> 3));
        }
        pages.put(3 * StreamFuzzTest.PAGE_SIZE, (byte) 1);
        PageBatchCodec.Encoder pageEncoder = new PageBatchCodec.Encoder(StreamFuzzTest.PAGE_SIZE,
                new DeltaCache(16L * StreamFuzzTest.PAGE_SIZE, StreamFuzzTest.PAGE_SIZE));
        // pfn 5 twice: the second time as an XOR_DELTA against the first
        PageBatchCodec.Encoded batch = pageEncoder.encode(new long[] {0, 5, 9, 5}, 0, 4, pages, new CRC32C());
        write(dir, "page-batch", StreamFuzzTest.PAGE_BATCH, batch.body());
        List<byte[]> diskBodies = new ArrayList<>();
        byte[] text = "INSERT INTO t VALUES (1);\n".repeat(100).getBytes(StandardCharsets.US_ASCII);
        byte[] noise = new byte[3000];
        new java.util.Random(7).nextBytes(noise);
        new DiskWriteCodec.Encoder(StreamFuzzTest.MAX_RECORD_BYTES).encode(0, List.of(new DiskWrite(0, text),
                new DiskWrite(1 << 20, new byte[4096]), new DiskWrite(8192, noise)), new CRC32C(),
                (b, writes, raw) -> diskBodies.add(b));
        write(dir, "disk-writes", StreamFuzzTest.DISK_WRITES, diskBodies.get(0));

        RecordCipher sealer = new RecordCipher(StreamProtection.ENCRYPTED, StreamFuzzTest.KEY, true);
        write(dir, "frames-sealed-epoch", StreamFuzzTest.SEALED_FRAMES, concat(
                codec.encode(new Record(RecordType.PAGE_BATCH, 0, 42, batch.body()), sealer),
                codec.encode(new Record(RecordType.DISK_WRITES, 0, 42, diskBodies.get(0)), sealer),
                codec.encode(epochEnd, sealer), codec.encode(Messages.ack(42), sealer)));
        write(dir, "frames-clear-epoch", StreamFuzzTest.FRAMES, concat(
                codec.encode(new Record(RecordType.PAGE_BATCH, 0, 42, batch.body())), codec.encode(epochEnd),
                codec.encode(Messages.ack(42)), codec.encode(Messages.goodbye())));
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        ByteBuffer b = ByteBuffer.allocate(n);
        for (byte[] p : parts) {
            b.put(p);
        }
        return b.array();
    }

    private static void write(Path dir, String name, int parser, byte[] bytes) throws IOException {
        byte[] seed = new byte[bytes.length + 1];
        seed[0] = (byte) parser;
        System.arraycopy(bytes, 0, seed, 1, bytes.length);
        Files.write(dir.resolve(name), seed);
    }
}
