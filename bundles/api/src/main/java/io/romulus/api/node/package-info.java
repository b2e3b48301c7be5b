/** This node's identity, one for every Romulus component of the node. */
@Export
@Version("1.0.0")
package io.romulus.api.node;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
