@Export
@Version("1.0.0")
package io.romulus.api.witness;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
