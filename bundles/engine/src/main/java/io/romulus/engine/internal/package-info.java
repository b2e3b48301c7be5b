/** The replication engine: the epoch loop on the primary and the committer on the backup. */
package io.romulus.engine.internal;
