@Export
@Version("1.6.0")
package io.romulus.api.engine;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
