@Export
@Version("1.7.0")
package io.romulus.api.transport;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
