package io.romulus.scaleout.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration PID {@code io.romulus.scaleout}: read-only domains served by several pairs behind HAProxy. */
@ObjectClassDefinition(name = "Romulus scale-out",
        description = "Domains whose requests change no state, run as several primary-backup pairs behind HAProxy")
public @interface ScaleOutConfig {

    @AttributeDefinition(name = "Read-only domains", description = "Domains (binding:name, comma-separated) whose "
            + "requests change no state: only these may be scaled. Each pair is a separate copy; a request that "
            + "changed state would change one pair only, and the pairs would answer differently from then on")
    String read_only() default "";

    @AttributeDefinition(name = "Balancer runtime API", description = "HAProxy's runtime API: the path of its "
            + "stats socket (level admin), or host:port for a TCP one")
    String balancer_api() default "/run/romulus/haproxy.sock";

    @AttributeDefinition(name = "Backend", description = "The HAProxy backend of a scaled domain ({name}: the "
            + "domain's name); it must exist, with a balance algorithm that allows servers added at run time "
            + "(roundrobin, leastconn, first, random)")
    String backend() default "{name}";

    @AttributeDefinition(name = "Pair name", description = "The domain name of pair {pair} (2, 3, ...) of {name}")
    String pair_name() default "{name}-p{pair}";

    @AttributeDefinition(name = "Pair bridge", description = "The bridge pair {pair}'s guest joins on every node: "
            + "an L2 segment of its own, so that the pairs' identical guest addresses do not collide")
    String pair_bridge() default "rp{pair}";

    @AttributeDefinition(name = "Pair address", description = "host:port where the balancer reaches pair {pair} "
            + "(for example a NAT address of the pair's segment)")
    String pair_address() default "10.78.{pair}.1:7000";

    @AttributeDefinition(name = "Pair backups", description = "Checkpoint addresses (host:port, comma-separated) "
            + "of the nodes new pairs are protected towards, in turn; empty: the node the scaled domain's primary "
            + "runs on. Never this node")
    String pair_backups() default "";

    @AttributeDefinition(name = "Maximum pairs", min = "1", max = "64")
    int max_pairs() default 16;

    @AttributeDefinition(name = "Drain timeout (ms)", description = "On scale-down, how long a pair's open "
            + "connections may take to end after it stops getting new ones, before they are cut", min = "0")
    long drain_timeout_ms() default 10000;

    @AttributeDefinition(name = "Protect timeout (ms)", description = "How long a new pair may take to be "
            + "PROTECTED (its initial copy); it joins the balancer only then", min = "1000")
    long protect_timeout_ms() default 180000;
}
