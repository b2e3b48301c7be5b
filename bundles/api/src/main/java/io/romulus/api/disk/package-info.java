@Export
@Version("2.2.0")
package io.romulus.api.disk;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
