@Export
@Version("4.0.0")
package io.romulus.api.management;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
