package io.romulus.netbuf.internal.plug;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.osgi.service.metatype.annotations.Option;

/** Configuration PID {@code io.romulus.netbuf.plug}: output commit through an IFB and the plug qdisc. */
@ObjectClassDefinition(name = "Romulus output buffer: plug qdisc",
        description = "Guest output redirected to an IFB and held by the plug qdisc, released per acknowledged epoch "
                + "(the Remus way; needs a kernel with CONFIG_NET_SCH_PLUG)")
public @interface PlugConfig {

    @AttributeDefinition(description = "auto: plug where the kernel has sch_plug (probed once); on: always "
            + "(protection fails naming CONFIG_NET_SCH_PLUG where it is missing); off: never",
            options = {@Option(label = "auto", value = "auto"), @Option(label = "on", value = "on"),
                    @Option(label = "off", value = "off")})
    String mode() default "auto";

    @AttributeDefinition(description = "Bytes the plug qdisc may hold; beyond that the kernel drops guest output "
            + "(never releases it early)")
    int limit_bytes() default PlugSettings.DEFAULT_LIMIT_BYTES;
}
