@Export
@Version("1.1.0")
package io.romulus.api.netbuf;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
