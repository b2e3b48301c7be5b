package io.romulus.engine.internal;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32C;

import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;

/**
 * An independent witness of I2 for any binding, built only from the SPIs: in every {@code every}-th pause it takes
 * the CRC32C of the primary's whole memory and sends it along inside the device state; after the backup applies that
 * epoch, it takes the CRC32C of the whole replica and compares. Reading all memory twice costs a long pause, so it
 * samples.
 */
final class SampledRamWitness {

    private static final int MAGIC = 0x52574954; // "RWIT"

    final List<String> mismatches = new CopyOnWriteArrayList<>();
    final AtomicInteger compared = new AtomicInteger();
    private final int every;

    SampledRamWitness(int every) {
        this.every = every;
    }

    Hypervisor primary(Hypervisor binding) {
        return new ForwardingHypervisor(binding) {
            @Override
            public ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
                return new Sampling(binding.open(id, options));
            }
        };
    }

    Hypervisor backup(Hypervisor binding) {
        return new ForwardingHypervisor(binding) {
            @Override
            public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
                return new Checking(binding.createReplica(spec));
            }
        };
    }

    static int digest(long pages, int pageSize, PageReader reader) throws HypervisorException {
        CRC32C crc = new CRC32C();
        int batch = 256;
        ByteBuffer buf = ByteBuffer.allocateDirect(batch * pageSize);
        long[] pfns = new long[batch];
        for (long first = 0; first < pages; first += batch) {
            int n = (int) Math.min(batch, pages - first);
            for (int i = 0; i < n; i++) {
                pfns[i] = first + i;
            }
            buf.clear();
            reader.read(pfns, n, buf);
            buf.flip();
            crc.update(buf);
        }
        return (int) crc.getValue();
    }

    @FunctionalInterface
    interface PageReader {
        void read(long[] pfns, int count, ByteBuffer dst) throws HypervisorException;
    }

    private final class Sampling extends ForwardingDomain {

        private long captures;

        Sampling(ProtectedDomain d) {
            super(d);
        }

        @Override
        public byte[] captureDeviceState() throws HypervisorException {
            byte[] inner = d.captureDeviceState();
            if (++captures % every != 0) {
                return inner;
            }
            DomainInfo info = d.info();
            int crc = digest(info.pageCount(), info.pageSize(), (pfns, n, dst) -> d.copyPages(pfns, 0, n, dst));
            return ByteBuffer.allocate(8 + inner.length).putInt(MAGIC).putInt(crc).put(inner).array();
        }
    }

    private final class Checking extends ForwardingReplica {

        Checking(Replica r) {
            super(r);
        }

        @Override
        public void applyCommitted(CommittedEpoch epoch) throws HypervisorException {
            byte[] state = epoch.deviceState();
            ByteBuffer b = ByteBuffer.wrap(state);
            boolean sampled = state.length >= 8 && b.getInt(0) == MAGIC;
            byte[] inner = sampled ? Arrays.copyOfRange(state, 8, state.length) : state;
            r.applyCommitted(new CommittedEpoch(epoch.epoch(), epoch.pfns(), epoch.pageCount(), epoch.pages(), inner));
            if (sampled) {
                ReplicaSpec spec = r.spec();
                int mine = digest(spec.pageCount(), spec.pageSize(), (pfns, n, dst) -> {
                    for (int i = 0; i < n; i++) {
                        r.readPage(pfns[i], dst);
                    }
                });
                compared.incrementAndGet();
                if (mine != b.getInt(4)) {
                    mismatches.add("epoch " + epoch.epoch() + ": replica " + Integer.toHexString(mine) + ", primary "
                            + Integer.toHexString(b.getInt(4)));
                }
            }
        }
    }
}
