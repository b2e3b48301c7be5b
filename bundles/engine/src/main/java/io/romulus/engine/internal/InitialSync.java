package io.romulus.engine.internal;

import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

import io.romulus.api.engine.ProtectionState;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.transport.EpochTransfer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A stream's initial copy, numbered like an epoch: every page, copied while the domain runs, then the disks' whole
 * content; the pages written meanwhile go into the first checkpoint. Its ACK releases nothing (the copy is not a
 * consistent state); the first checkpoint after it releases everything held before it. Progress shows in the status
 * and, every quarter, in the log.
 */
final class InitialSync {

    private static final Logger LOG = LoggerFactory.getLogger(InitialSync.class);

    private final DomainId id;
    private final DomainInfo info;
    private final int batch;
    private final DomainHandle domain;
    private final UnackedCheckpoints ledger;
    private final DiskCheckpoints disks;
    private final PrimaryStatus status;
    private final LoopSignal signal;

    InitialSync(DomainId id, DomainInfo info, int batch, DomainHandle domain, UnackedCheckpoints ledger,
            DiskCheckpoints disks, PrimaryStatus status, LoopSignal signal) {
        this.id = id;
        this.info = info;
        this.batch = batch;
        this.domain = domain;
        this.ledger = ledger;
        this.disks = disks;
        this.status = status;
        this.signal = signal;
    }

    void copy(PrimaryStream s) throws InterruptedException, HypervisorException, LinkLostException {
        long initialEpoch = ledger.startInitialCopy();
        s.initialEpoch(initialEpoch);
        status.state(ProtectionState.SYNCING);
        long started = System.nanoTime();

        // everything written from here on is in the dirty log of the first checkpoint
        ProtectedDomain d = domain.lock("the initial copy");
        try {
            d.pause();
            try {
                d.harvestDirty();
            } finally {
                d.resume();
            }
        } finally {
            domain.unlock();
        }

        long pages = info.pageCount();
        long[] pfns = new long[batch];
        ByteBuffer buffer = ByteBuffer.allocateDirect(batch * info.pageSize());
        int lastPercent = -1;
        long raw = 0;
        for (long first = 0; first < pages; first += batch) {
            s.check();
            if (signal.stopping()) {
                throw new LinkLostException("protection stopped during the initial copy");
            }
            int n = (int) Math.min(batch, pages - first);
            for (int i = 0; i < n; i++) {
                pfns[i] = first + i;
            }
            buffer.clear();
            ProtectedDomain running = domain.lock("the initial copy");
            try {
                running.copyPages(pfns, 0, n, buffer);
            } finally {
                domain.unlock();
            }
            buffer.flip();
            s.send(() -> {
                s.channel.sendPages(initialEpoch, pfns, 0, n, buffer);
                return null;
            });
            raw += (long) n * info.pageSize();
            int percent = (int) ((first + n) * 100 / pages);
            if (percent != lastPercent) {
                lastPercent = percent;
                status.detail(String.format("initial copy %d%% (%d of %d MiB)", percent, raw >> 20,
                        info.memoryBytes() >> 20));
                if (percent % 25 == 0) {
                    LOG.info("Initial copy of {}: {}%", id, percent);
                }
            }
        }
        disks.initialCopy(s, initialEpoch, signal, status);
        EpochTransfer t = s.send(() -> s.channel.endEpoch(initialEpoch, true));
        LOG.info("Initial copy of {} sent: {} MiB in {} ms, {} bytes on the wire (ratio {})", id,
                info.memoryBytes() >> 20, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started),
                t.wireBytes(), String.format("%.2f", t.compressionRatio()));
        status.detail("initial copy sent; waiting for the first checkpoint's ACK");
        s.progressed();
    }
}
