@Export
@Version("2.1.0")
package io.romulus.api.disk;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
