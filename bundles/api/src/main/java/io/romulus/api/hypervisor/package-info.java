@Export
@Version("1.12.0")
package io.romulus.api.hypervisor;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
