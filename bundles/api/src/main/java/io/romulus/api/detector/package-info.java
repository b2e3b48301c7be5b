@Export
@Version("1.2.0")
package io.romulus.api.detector;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
