package io.romulus.transport.mina.internal;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.api.transport.EpochEnd;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.transport.RecordType;

/**
 * Bodies of the records other than {@code PAGE_BATCH}, independent of MINA.
 *
 * <p>The HELLO exchange has four steps, told apart by the record's flags:
 * <ol>
 * <li>{@link #HELLO_CLIENT} primary to backup: protocol version, the {@link Hello}, the primary's delta cache size,
 * a fresh 32-byte nonce and the {@link StreamProtection} the primary proposes (u8)</li>
 * <li>{@link #HELLO_CHALLENGE} backup to primary: protocol version, backup node id, its fresh nonce, its proof
 * {@code HMAC-SHA256(secret, "romulus-backup" | step-1 body | backup nonce)} (empty without a secret) and the
 * protection the backup proposes (u8)</li>
 * <li>{@link #HELLO_PROOF} primary to backup: {@code HMAC-SHA256(secret, "romulus-primary" | backup nonce | step-1
 * body)}</li>
 * <li>{@link #HELLO_WELCOME} backup to primary, after the acceptor took the stream: the {@link HelloReply} and the
 * delta cache size both ends use; when the primary asked to resume its previous stream and the backup agreed, a last
 * field, the committed epoch the stream resumes from (absent otherwise)</li>
 * </ol>
 *
 * <p>Steps 1 to 3 travel in clear and are all a peer can send before it has proved the secret: before that, records
 * are limited to {@code handshake.max.record.bytes}, anything but HELLO is refused, and an ERROR ends the attempt
 * without its flags being obeyed. From step 4 on every record in both directions is sealed under keys derived from the
 * secret, both nonces and both bodies ({@link StreamKeys}) with the stronger of the two proposed protections
 * ({@link RecordCipher}); a record in clear is refused.
 */
public final class Messages {

    public static final int PROTOCOL_VERSION = 2;
    public static final int HELLO_CLIENT = 1;
    public static final int HELLO_CHALLENGE = 2;
    public static final int HELLO_PROOF = 3;
    public static final int HELLO_WELCOME = 4;
    public static final int NONCE_BYTES = 32;
    /** Flag of an ERROR record: the sender activated its replica of the domain and runs it. */
    public static final int ERROR_TAKEN_OVER = 1;
    /** ERROR flag: the primary stops the stream for an update or restart of its own and resumes it shortly. */
    public static final int ERROR_PLANNED = 2;
    /**
     * ACK flag: the backup asks the primary for a planned switchover to itself. A primary that does not know it
     * ignores it (flags of an ACK meant nothing before).
     */
    public static final int ACK_HANDOVER_WANTED = 1;
    /** HANDOVER flag, primary to backup: the domain is paused at the record's (acknowledged) epoch; can you take it? */
    public static final int HANDOVER_PREPARE = 1;
    /** HANDOVER flag, backup to primary: the replica can be activated from the record's epoch. */
    public static final int HANDOVER_READY = 2;
    /** HANDOVER flag, backup to primary: it cannot, for the reason in the body; the stream goes on. */
    public static final int HANDOVER_REFUSED = 3;
    /** HANDOVER flag, primary to backup, its last record: its copy stopped for good at the epoch; run the domain. */
    public static final int HANDOVER_GO = 4;

    private Messages() {
    }

    /** Step 1. */
    public record ClientHello(int version, Hello hello, long deltaCacheBytes, byte[] nonce,
            StreamProtection protection) {
    }

    /** Step 2. */
    public record Challenge(int version, String nodeId, byte[] nonce, byte[] proof, StreamProtection protection) {
    }

    /** Step 4. */
    public record Welcome(HelloReply reply, long deltaCacheBytes) {
    }

    public static Record clientHello(ClientHello m) {
        Writer w = new Writer();
        w.u16(m.version());
        Hello h = m.hello();
        w.str(h.nodeId()).str(h.domain()).str(h.binding()).u64(h.memoryBytes()).u32(h.pageSize());
        w.u16(h.options().size());
        h.options().forEach((k, v) -> w.str(k).str(v));
        w.u64(m.deltaCacheBytes());
        w.bytes(m.nonce());
        w.u8(m.protection().code());
        return new Record(RecordType.HELLO, HELLO_CLIENT, 0, w.toByteArray());
    }

    /** Reads the protocol version, the first field of every step-1 body, without parsing the rest. */
    public static int peekVersion(byte[] body) throws MalformedRecordException {
        if (body.length < 2) {
            throw new MalformedRecordException("HELLO without a protocol version");
        }
        return ((body[0] & 0xff) << 8) | (body[1] & 0xff);
    }

    public static ClientHello parseClientHello(byte[] body) throws MalformedRecordException {
        Reader r = new Reader(body, "HELLO");
        int version = r.u16();
        String nodeId = r.str();
        String domain = r.str();
        String binding = r.str();
        long memory = r.u64();
        int pageSize = r.u32();
        int n = r.u16();
        Map<String, String> options = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            options.put(r.str(), r.str());
        }
        long cache = r.u64();
        byte[] nonce = r.bytes(NONCE_BYTES);
        StreamProtection protection = protection(r.u8());
        r.end();
        return new ClientHello(version, new Hello(nodeId, domain, binding, memory, pageSize, options), cache, nonce,
                protection);
    }

    public static Record challenge(Challenge m) {
        Writer w = new Writer().u16(m.version()).str(m.nodeId()).bytes(m.nonce());
        w.u16(m.proof().length).bytes(m.proof());
        w.u8(m.protection().code());
        return new Record(RecordType.HELLO, HELLO_CHALLENGE, 0, w.toByteArray());
    }

    public static Challenge parseChallenge(byte[] body) throws MalformedRecordException {
        Reader r = new Reader(body, "HELLO challenge");
        int version = r.u16();
        String nodeId = r.str();
        byte[] nonce = r.bytes(NONCE_BYTES);
        byte[] proof = r.bytes(r.u16());
        StreamProtection protection = protection(r.u8());
        r.end();
        return new Challenge(version, nodeId, nonce, proof, protection);
    }

    private static StreamProtection protection(int code) throws MalformedRecordException {
        StreamProtection p = StreamProtection.of(code);
        if (p == null) {
            throw new MalformedRecordException("unknown stream protection " + code);
        }
        return p;
    }

    public static Record proof(byte[] proof) {
        return new Record(RecordType.HELLO, HELLO_PROOF, 0, new Writer().u16(proof.length).bytes(proof).toByteArray());
    }

    public static byte[] parseProof(byte[] body) throws MalformedRecordException {
        Reader r = new Reader(body, "HELLO proof");
        byte[] proof = r.bytes(r.u16());
        r.end();
        return proof;
    }

    public static Record welcome(Welcome m) {
        Writer w = new Writer().str(m.reply().nodeId()).u64(m.reply().committedEpoch()).u64(m.deltaCacheBytes());
        if (m.reply().resumed()) {
            // only a primary that asked to resume gets this field: older primaries never ask, so they never see it
            w.u64(m.reply().resumedFrom());
        }
        return new Record(RecordType.HELLO, HELLO_WELCOME, 0, w.toByteArray());
    }

    public static Welcome parseWelcome(byte[] body) throws MalformedRecordException {
        Reader r = new Reader(body, "HELLO reply");
        String nodeId = r.str();
        long committed = r.u64();
        long cache = r.u64();
        long resumedFrom = r.remaining() > 0 ? r.u64() : -1;
        r.end();
        return new Welcome(new HelloReply(nodeId, committed, resumedFrom), cache);
    }

    public static Record epochEnd(EpochEnd end) {
        Writer w = new Writer().u32(end.pageCount()).u32(end.deviceStateBytes()).u32(end.diskWriteCount())
                .u32(end.checksum()).u8(end.initial() ? 1 : 0);
        return new Record(RecordType.EPOCH_END, 0, end.epoch(), w.toByteArray());
    }

    public static EpochEnd parseEpochEnd(long epoch, byte[] body) throws MalformedRecordException {
        Reader r = new Reader(body, "EPOCH_END");
        EpochEnd end = new EpochEnd(epoch, r.u32(), r.u32(), r.u32(), r.u32(), r.u8() != 0);
        r.end();
        return end;
    }

    public static Record error(String message) {
        return error(message, false);
    }

    /**
     * An ERROR record; {@code takenOver} sets {@link #ERROR_TAKEN_OVER}: the backup runs the domain now, so the
     * primary has lost it (it then sees a {@link io.romulus.api.transport.DomainTakenOverException}).
     */
    public static Record error(String message, boolean takenOver) {
        return new Record(RecordType.ERROR, takenOver ? ERROR_TAKEN_OVER : 0, 0,
                message.getBytes(StandardCharsets.UTF_8));
    }

    /** An ERROR record marked {@link #ERROR_PLANNED}. */
    public static Record plannedStop(String message) {
        return new Record(RecordType.ERROR, ERROR_PLANNED, 0, message.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * A HANDOVER record of the planned switchover at {@code epoch}: one of the {@code HANDOVER_*} steps, with the
     * reason of a refusal (empty otherwise). Records of this type are new in version 2 of the stream without a
     * version change: a peer that does not know them drops the connection, which aborts the switchover and nothing
     * else (the primary resumes the domain and reconnects).
     */
    public static Record handOver(int step, long epoch, String refusal) {
        return new Record(RecordType.HANDOVER, step, epoch, refusal.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The HANDOVER "go" record at {@code epoch}, its body the frames that reached the primary's paused copy: a u32
     * count, then per frame its NIC index (u16), its length (u32) and its bytes. A body that would pass
     * {@code maxBodyBytes} carries the frames that fit, in order, and no more (the rest are lost as they would have
     * been without it). A backup of an earlier version reads no body in "go" and takes the domain over without them.
     */
    public static Record handOverGo(long epoch, List<InboundFrame> frames, int maxBodyBytes) {
        if (frames.isEmpty()) {
            return handOver(HANDOVER_GO, epoch, "");
        }
        Writer w = new Writer();
        int fit = 0;
        long bytes = 4;
        for (InboundFrame f : frames) {
            bytes += 6 + f.frame().length;
            if (bytes > maxBodyBytes) {
                break;
            }
            fit++;
        }
        w.u32(fit);
        for (InboundFrame f : frames.subList(0, fit)) {
            w.u16(f.nic()).u32(f.frame().length).bytes(f.frame());
        }
        return new Record(RecordType.HANDOVER, HANDOVER_GO, epoch, w.toByteArray());
    }

    /** The frames of a HANDOVER "go" record's body ({@link #handOverGo}); none for an empty body. */
    public static List<InboundFrame> parseHandOverFrames(byte[] body) throws MalformedRecordException {
        if (body.length == 0) {
            return List.of();
        }
        Reader r = new Reader(body, "HANDOVER go");
        int count = r.u32();
        if (count < 0 || count > r.remaining() / 7) {
            throw new MalformedRecordException("HANDOVER go body announces " + Integer.toUnsignedString(count)
                    + " frames in " + r.remaining() + " bytes");
        }
        List<InboundFrame> frames = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int nic = r.u16();
            int length = r.u32();
            if (length <= 0 || length > r.remaining()) {
                throw new MalformedRecordException("HANDOVER go frame " + i + " of " + Integer.toUnsignedString(length)
                        + " bytes, " + r.remaining() + " left in the body");
            }
            frames.add(new InboundFrame(nic, r.bytes(length)));
        }
        r.end();
        return frames;
    }

    /** The step of a HANDOVER record; throws on one this node does not know. */
    public static int handOverStep(Record record) throws MalformedRecordException {
        int step = record.flags() & 0x7fff;
        if (step < HANDOVER_PREPARE || step > HANDOVER_GO) {
            throw new MalformedRecordException("unknown HANDOVER step " + step);
        }
        return step;
    }

    public static String parseError(byte[] body) {
        return new String(body, StandardCharsets.UTF_8);
    }

    public static Record ack(long epoch) {
        return ack(epoch, false);
    }

    /** An ACK; {@code handOverWanted} sets {@link #ACK_HANDOVER_WANTED}. */
    public static Record ack(long epoch, boolean handOverWanted) {
        return new Record(RecordType.ACK, handOverWanted ? ACK_HANDOVER_WANTED : 0, epoch, new byte[0]);
    }

    public static Record goodbye() {
        return new Record(RecordType.GOODBYE, 0, 0, new byte[0]);
    }

    /** Big-endian body builder. */
    static final class Writer {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream(128);

        Writer u8(int v) {
            out.write(v);
            return this;
        }

        Writer u16(int v) {
            out.write(v >>> 8);
            out.write(v);
            return this;
        }

        Writer u32(int v) {
            return u16(v >>> 16).u16(v & 0xffff);
        }

        Writer u64(long v) {
            return u32((int) (v >>> 32)).u32((int) v);
        }

        Writer bytes(byte[] b) {
            out.write(b, 0, b.length);
            return this;
        }

        Writer str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            if (b.length > 0xffff) {
                throw new IllegalArgumentException("string of " + b.length + " bytes is too long for the stream");
            }
            return u16(b.length).bytes(b);
        }

        byte[] toByteArray() {
            return out.toByteArray();
        }
    }

    /** Big-endian body parser that turns any inconsistency into a {@link MalformedRecordException}. */
    static final class Reader {
        private final ByteBuffer in;
        private final String what;

        Reader(byte[] body, String what) {
            this.in = ByteBuffer.wrap(body);
            this.what = what;
        }

        int u8() throws MalformedRecordException {
            return Byte.toUnsignedInt(need(1).get());
        }

        int u16() throws MalformedRecordException {
            return Short.toUnsignedInt(need(2).getShort());
        }

        int u32() throws MalformedRecordException {
            return need(4).getInt();
        }

        long u64() throws MalformedRecordException {
            return need(8).getLong();
        }

        byte[] bytes(int n) throws MalformedRecordException {
            byte[] b = new byte[n];
            need(n).get(b);
            return b;
        }

        String str() throws MalformedRecordException {
            return new String(bytes(u16()), StandardCharsets.UTF_8);
        }

        /** Bytes left to read. */
        int remaining() {
            return in.remaining();
        }

        void end() throws MalformedRecordException {
            if (in.hasRemaining()) {
                throw new MalformedRecordException(what + " body has " + in.remaining() + " unexpected trailing bytes");
            }
        }

        private ByteBuffer need(int n) throws MalformedRecordException {
            if (in.remaining() < n) {
                throw new MalformedRecordException(what + " body is truncated");
            }
            return in;
        }

    }
}
