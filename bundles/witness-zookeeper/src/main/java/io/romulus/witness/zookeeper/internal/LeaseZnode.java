package io.romulus.witness.zookeeper.internal;

import static java.nio.charset.StandardCharsets.UTF_8;

import org.apache.curator.framework.api.CuratorEvent;

/**
 * What the lease znode of a domain ({@link LeaseNames#path}) says: its data is the holder's node id in UTF-8, and as
 * an EPHEMERAL znode it is owned by the ZooKeeper session that created it.
 *
 * @param holder the node id of the holder
 * @param owner  the id of the ZooKeeper session that owns the znode
 */
record LeaseZnode(String holder, long owner) {

    /** The data of the lease znode that {@code nodeId} holds. */
    static byte[] data(String nodeId) {
        return nodeId.getBytes(UTF_8);
    }

    /** The lease znode as a successful read of it returned it. */
    static LeaseZnode of(CuratorEvent read) {
        return new LeaseZnode(holder(read), read.getStat().getEphemeralOwner());
    }

    /** The holder's node id in a successful read of the lease znode. */
    static String holder(CuratorEvent read) {
        return new String(read.getData(), UTF_8);
    }

    /** Whether {@code nodeId} holds it through ZooKeeper session {@code session}. */
    boolean heldBy(String nodeId, long session) {
        return holder.equals(nodeId) && owner == session;
    }
}
