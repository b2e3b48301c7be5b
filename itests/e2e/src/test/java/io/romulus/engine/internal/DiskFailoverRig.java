package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.nio.file.Path;

import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.nbd.internal.NbdDiskReplicator;
import io.romulus.nbd.internal.NbdExports;
import io.romulus.nbd.internal.NbdSettings;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.nfqueue.NfqueueProvider;
import io.romulus.netbuf.internal.nfqueue.NfqueueSettings;

/**
 * The hosts of a failover test with replicated disks: the netlab namespaces, two nodes in this JVM (QEMU bindings in
 * the primary's and the backup's namespace, NFQUEUE output commit, the MINA stream through a link the test can cut),
 * each node's NBD exports and disk replicator, and the primary's binding and stream wrapped by {@code crash}.
 * {@link #close()} undoes all of it.
 */
@SuppressWarnings("try") // close() may be interrupted; these are test fixtures
final class DiskFailoverRig implements AutoCloseable {

    final NetLab lab;
    final QemuPair nodes;
    final NbdExports primaryExports;
    final NbdExports backupExports;
    final CuttableLink link;
    /** The output commit both nodes' guests can use (the backup's, once it runs the guest after a switchover). */
    final OutputBufferProvider output;

    /**
     * @param disks    where each node keeps its disk images (a-disks, b-disks below it)
     * @param chunkKib the initial copy's chunk size
     */
    DiskFailoverRig(Path secretDir, Path disks, int chunkKib, PrimaryCrash crash) throws Exception {
        lab = NetLab.up();
        QemuPair pair = null;
        NbdExports a = null;
        NbdExports b = null;
        OutputBufferProvider out = null;
        try {
            OutputBufferProvider output = new NfqueueProvider(NfqueueSettings.defaults(), LinuxNetlink.load());
            out = output;
            pair = new QemuPair(secretDir, lab.primaryHost(), lab.backupHost(), crash::binding, h -> h, output,
                    crash::transport);
            a = new NbdExports(new NbdSettings(pair.run.resolve("a-nbd"), disks.resolve("a-disks"), chunkKib));
            b = new NbdExports(new NbdSettings(pair.run.resolve("b-nbd"), disks.resolve("b-disks"), chunkKib));
            pair.primaryQemu.setDiskExports(a);
            pair.backupQemu.setDiskExports(b);
            pair.primary.addDiskReplicator(new NbdDiskReplicator(a), "nbd", 0);
            pair.backup.addDiskReplicator(new NbdDiskReplicator(b), "nbd", 0);
            link = new CuttableLink(new InetSocketAddress("127.0.0.1", pair.backupStream.listenAddress().getPort()));
        } catch (Exception | AssertionError e) {
            for (AutoCloseable c : new AutoCloseable[] {pair, a, b, lab}) {
                if (c != null) {
                    c.close();
                }
            }
            throw e;
        }
        nodes = pair;
        output = out;
        primaryExports = a;
        backupExports = b;
    }

    @Override
    public void close() throws Exception {
        link.close();
        nodes.close();
        primaryExports.close();
        backupExports.close();
        lab.close();
    }
}
