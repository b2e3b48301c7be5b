package io.romulus.transport.mina.internal;

import java.security.cert.Certificate;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;

import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

import org.apache.mina.filter.ssl.SslFilter;

/**
 * Checks that the certificate a TLS peer presented names the node id the peer announces in its HELLO: the primary's
 * {@code node.id} in its HELLO, the backup's in its challenge and its reply. That node id is what the pair knows the
 * peer by (the engine watches its heartbeats, fails over from it, and returns the domain to it), so a certificate that
 * the trusted CA signed for another node cannot be used to speak as this one.
 *
 * <p>The name is looked for in the certificate's subjectAltName entries of type dNSName only, compared without regard
 * to ASCII case (as DNS names are), never in the subject's CN: the subjectAltName is where RFC 6125 (and every CA)
 * puts the names a certificate is for, while the CN is free text that a CA may fill with anything (RFC 6125 6.4.4
 * deprecates matching it), so a CN match could accept a certificate issued for a different purpose.
 */
final class PeerIdentity {

    private static final int DNS_NAME = 2;

    private PeerIdentity() {
    }

    /**
     * Why the TLS peer of {@code connection} is not {@code nodeId}, or {@code null} if its certificate names it or the
     * transport of {@code connection} does not run TLS (tls.enabled=false).
     */
    static String mismatch(Connection connection, String nodeId) {
        if (!connection.transport.settings().tlsEnabled()) {
            return null;
        }
        if (!(connection.session.getAttribute(SslFilter.SSL_SECURED) instanceof SSLSession tls)) {
            return "TLS peer identity: the connection has no completed TLS session";
        }
        Certificate[] chain;
        try {
            chain = tls.getPeerCertificates();
        } catch (SSLPeerUnverifiedException e) {
            return "TLS peer identity: the peer presented no certificate (" + e.getMessage() + ")";
        }
        if (chain.length == 0 || !(chain[0] instanceof X509Certificate cert)) {
            return "TLS peer identity: the peer presented no X.509 certificate";
        }
        return mismatch(cert, nodeId);
    }

    /** Why {@code cert} does not name {@code nodeId} in a subjectAltName dNSName, or {@code null} if it does. */
    static String mismatch(X509Certificate cert, String nodeId) {
        List<String> names = dnsNames(cert);
        for (String name : names) {
            if (name.toLowerCase(Locale.ROOT).equals(nodeId.toLowerCase(Locale.ROOT))) {
                return null;
            }
        }
        return "TLS peer identity: the peer announces node id '" + nodeId + "' but its certificate (subject "
                + cert.getSubjectX500Principal().getName() + ", issuer " + cert.getIssuerX500Principal().getName()
                + ") is for " + (names.isEmpty() ? "no DNS name (no subjectAltName dNSName entry)"
                        : "subjectAltName DNS " + names)
                + "; a certificate must name its node's node.id as a subjectAltName DNS entry";
    }

    private static List<String> dnsNames(X509Certificate cert) {
        List<String> names = new ArrayList<>();
        Collection<List<?>> sans;
        try {
            sans = cert.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            return names;
        }
        if (sans == null) {
            return names;
        }
        for (List<?> san : sans) {
            if (san.size() >= 2 && san.get(0) instanceof Integer type && type == DNS_NAME
                    && san.get(1) instanceof String name) {
                names.add(name);
            }
        }
        return names;
    }
}
