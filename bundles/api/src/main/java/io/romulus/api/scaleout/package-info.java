/**
 * Scale-out of services whose requests change no state: several primary–backup pairs of one domain behind a load
 * balancer. Each pair is protected as any domain is; the balancer spreads requests over them.
 */
@Export
@Version("1.0.0")
package io.romulus.api.scaleout;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
