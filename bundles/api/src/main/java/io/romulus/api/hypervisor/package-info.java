@Export
@Version("1.10.0")
package io.romulus.api.hypervisor;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
