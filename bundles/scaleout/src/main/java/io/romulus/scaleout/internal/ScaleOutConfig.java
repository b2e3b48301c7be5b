package io.romulus.scaleout.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration PID {@code io.romulus.scaleout}: read-only domains served by several pairs behind HAProxy. */
@ObjectClassDefinition(name = "Romulus scale-out",
        description = "Domains whose requests change no state, run as several primary-backup pairs behind HAProxy")
public @interface ScaleOutConfig {

    @AttributeDefinition(name = "Read-only domains", description = "Domains whose requests change no state "
            + "(binding:name, comma-separated); only these can be scaled. Each pair is a separate copy: a request "
            + "that changed state would change one pair only, and the pairs would answer differently from then on")
    String read_only() default "";

    @AttributeDefinition(name = "Balancer runtime API", description = "HAProxy's runtime API: a stats socket path "
            + "with level admin, or host:port")
    String balancer_api() default "/run/romulus/haproxy.sock";

    @AttributeDefinition(name = "Backend", description = "The HAProxy backend of a scaled domain ({name}: the "
            + "domain's name); it must exist, with a balance algorithm that takes servers added at run time "
            + "(roundrobin, leastconn, first, random)")
    String backend() default "{name}";

    @AttributeDefinition(name = "Pair name", description = "Domain name of pair {pair} (2, 3, ...) of {name}")
    String pair_name() default "{name}-p{pair}";

    @AttributeDefinition(name = "Pair bridge", description = "Bridge of pair {pair}'s L2 segment on every node that "
            + "may run it, so that the pairs' identical guest addresses never meet. Pair 1 (the domain itself) is "
            + "expected on the bridge of pair 1 when it is protected with -o bridge=...")
    String pair_bridge() default "rp{pair}";

    @AttributeDefinition(name = "Pair address", description = "host:port where the balancer reaches pair {pair} (for "
            + "example a NAT address of the pair's segment)")
    String pair_address() default "10.78.{pair}.1:7000";

    @AttributeDefinition(name = "Pair backups", description = "Stream addresses (host:port, comma-separated) of the "
            + "nodes new pairs are protected towards, in turn (empty: the node the scaled domain's primary runs on); "
            + "never this node")
    String pair_backups() default "";

    @AttributeDefinition(name = "Maximum pairs", description = "Upper bound of romulus:scale --pairs", min = "1",
            max = "64")
    int max_pairs() default 16;

    @AttributeDefinition(name = "Drain timeout (ms)", description = "On scale-down, how long in ms a removed pair's "
            + "connections may take to end before they are cut", min = "0")
    long drain_timeout_ms() default 10000;

    @AttributeDefinition(name = "Protect timeout (ms)", description = "How long in ms a new pair may take to be "
            + "PROTECTED (its initial copy) before scaling gives up on it; it joins the balancer only then",
            min = "1000")
    long protect_timeout_ms() default 180000;
}
