package io.romulus.nbd.internal;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import io.romulus.api.disk.DiskWrite;

/**
 * One raw image served over NBD, and the write log of its replication.
 *
 * <p>Every connection to the export shares this object and its one {@link FileChannel}, so a flush on one connection
 * covers the writes completed on all of them (what {@code NBD_FLAG_CAN_MULTI_CONN} promises).
 *
 * <p>The write log: while logging, a write is applied to the file and appended to the log under one lock, and
 * {@link #drainLog()} takes the same lock. The connection sends its reply only after {@link #write} returned, so a
 * write whose completion the guest could have seen is in the log before the next barrier drains it, and the log's
 * order is the order in which the writes reached the file (overlapping writes land on the backup as on the primary).
 * A write still in flight when the barrier runs belongs to the next epoch.
 *
 * <p>Zeroes (NBD_CMD_WRITE_ZEROES and NBD_CMD_TRIM) are written to the file and logged as zero writes of at most
 * {@link #ZERO_CHUNK} bytes; the full-size chunks share one array of zeroes, which nobody may modify.
 */
final class NbdExport implements AutoCloseable {

    /** Largest write of zeroes logged as one {@link DiskWrite}. */
    static final int ZERO_CHUNK = 1 << 20;
    private static final byte[] ZEROES = new byte[ZERO_CHUNK];

    private final String name;
    private final Path image;
    private final FileChannel file;
    private final long size;
    private final boolean readOnly;
    private final Object logLock = new Object();
    private final Set<AutoCloseable> connections = ConcurrentHashMap.newKeySet();
    private List<DiskWrite> log;
    private long loggedBytes;

    private NbdExport(String name, Path image, FileChannel file, long size, boolean readOnly) {
        this.name = name;
        this.image = image;
        this.file = file;
        this.size = size;
        this.readOnly = readOnly;
    }

    /** Opens {@code image} (a raw image file) for serving. */
    static NbdExport open(String name, Path image, boolean readOnly) throws IOException {
        FileChannel file = readOnly ? FileChannel.open(image, StandardOpenOption.READ)
                : FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            return new NbdExport(name, image, file, file.size(), readOnly);
        } catch (IOException | RuntimeException e) {
            file.close();
            throw e;
        }
    }

    String name() {
        return name;
    }

    Path image() {
        return image;
    }

    long size() {
        return size;
    }

    boolean readOnly() {
        return readOnly;
    }

    /** Whether {@code length} bytes at {@code offset} lie inside the export. */
    boolean contains(long offset, long length) {
        return offset >= 0 && length >= 0 && offset <= size && length <= size - offset;
    }

    /** Fills {@code into} from its position to its limit with the bytes at {@code offset}. */
    void read(long offset, ByteBuffer into) throws IOException {
        long position = offset;
        while (into.hasRemaining()) {
            int n = file.read(into, position);
            if (n < 0) {
                throw new EOFException("image " + image + " ends at " + position);
            }
            position += n;
        }
    }

    /**
     * Writes {@code data} at {@code offset} and, while logging, appends it to the log (the log keeps the array: the
     * caller must not modify it afterwards). With {@code fua} the data is on stable storage when this returns.
     */
    void write(long offset, byte[] data, boolean fua) throws IOException {
        synchronized (logLock) {
            writeFully(offset, data, data.length);
            if (log != null) {
                log.add(new DiskWrite(offset, data));
                loggedBytes += data.length;
            }
        }
        if (fua) {
            flush();
        }
    }

    /** Writes {@code length} zeroes at {@code offset}, logged as zero writes (see the class comment). */
    void writeZeroes(long offset, long length, boolean fua) throws IOException {
        long done = 0;
        while (done < length) {
            int n = (int) Math.min(ZERO_CHUNK, length - done);
            byte[] zeroes = n == ZERO_CHUNK ? ZEROES : new byte[n];
            synchronized (logLock) {
                writeFully(offset + done, zeroes, n);
                if (log != null) {
                    log.add(new DiskWrite(offset + done, zeroes));
                    loggedBytes += n;
                }
            }
            done += n;
        }
        if (fua) {
            flush();
        }
    }

    private void writeFully(long offset, byte[] data, int length) throws IOException {
        writeFully(file, offset, ByteBuffer.wrap(data, 0, length));
    }

    /** Writes {@code data} from its position to its limit at {@code offset} of {@code file}. */
    static void writeFully(FileChannel file, long offset, ByteBuffer data) throws IOException {
        long position = offset;
        while (data.hasRemaining()) {
            position += file.write(data, position);
        }
    }

    /** fdatasync of the image: every write completed so far, on any connection, is on stable storage. */
    void flush() throws IOException {
        file.force(false);
    }

    /** Starts recording completed writes. */
    void startLog() {
        synchronized (logLock) {
            if (log != null) {
                throw new IllegalStateException("export " + name + " is already being replicated");
            }
            log = new ArrayList<>();
            loggedBytes = 0;
        }
    }

    /** Whether writes are being recorded. */
    boolean logging() {
        synchronized (logLock) {
            return log != null;
        }
    }

    /** The writes completed since the last drain, in completion order; the log starts again empty. */
    List<DiskWrite> drainLog() {
        synchronized (logLock) {
            if (log == null) {
                throw new IllegalStateException("export " + name + " is not being replicated");
            }
            List<DiskWrite> drained = log;
            log = new ArrayList<>();
            loggedBytes = 0;
            return drained;
        }
    }

    /** Bytes in the log now (not drained yet). */
    long loggedBytes() {
        synchronized (logLock) {
            return loggedBytes;
        }
    }

    /** Stops recording; what was not drained is dropped. */
    void stopLog() {
        synchronized (logLock) {
            log = null;
            loggedBytes = 0;
        }
    }

    void attach(AutoCloseable connection) {
        connections.add(connection);
    }

    void detach(AutoCloseable connection) {
        connections.remove(connection);
    }

    int connectionCount() {
        return connections.size();
    }

    /** Disconnects every client, then closes the image. */
    @Override
    public void close() {
        for (AutoCloseable c : connections) {
            try {
                c.close();
            } catch (Exception e) {
                // the connection is going away either way
            }
        }
        connections.clear();
        stopLog();
        try {
            file.close();
        } catch (IOException e) {
            // nothing is left to do with it
        }
    }

    @Override
    public String toString() {
        return name + " (" + image + ", " + size + " bytes" + (readOnly ? ", read-only" : "") + ")";
    }
}
