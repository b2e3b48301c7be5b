package io.romulus.drbd.internal;

import java.util.List;

import io.romulus.api.disk.DiskReplicator.ChunkSink;
import io.romulus.api.disk.DiskReplicator.Primary;
import io.romulus.api.disk.DiskWrite;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The primary side of a disk DRBD replicates: DRBD moves the data; epochs need nothing from it. */
final class DrbdPrimary implements Primary {

    private static final Logger LOG = LoggerFactory.getLogger(DrbdPrimary.class);

    private final String what;

    /** @param what the volume, as messages name it */
    DrbdPrimary(String what) {
        this.what = what;
    }

    @Override
    public void initialCopy(ChunkSink sink) {
        // DRBD's own (re)sync made the peer UpToDate; the checks before protection saw it. Nothing travels in the
        // stream.
        LOG.debug("{}: initial copy is DRBD's resync, already complete", what);
    }

    @Override
    public List<DiskWrite> barrier(long epoch) {
        return List.of();
    }

    @Override
    public void committed(long epoch) {
        // no barrier to release: upstream DRBD has none
    }

    @Override
    public void close() {
        LOG.debug("{}: no longer coordinated (DRBD keeps replicating)", what);
    }
}
