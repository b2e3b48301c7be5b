package io.romulus.transport.mina.internal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

import org.apache.mina.filter.ssl.SslFilter;

/** Builds the TLS context of the stream from PKCS12 files. */
final class TlsContexts {

    private TlsContexts() {
    }

    static SSLContext create(TransportSettings s) throws IOException {
        try {
            KeyStore keys = load(s.keystore(), s.keystorePassword(), "tls.keystore");
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(keys, chars(s.keystorePassword()));
            KeyStore trust = load(s.truststore(), s.truststorePassword(), "tls.truststore");
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trust);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), SharedSecret.RANDOM);
            return ctx;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot set up TLS from " + s.keystore() + " and " + s.truststore() + ": "
                    + e.getMessage(), e);
        }
    }

    /**
     * The SSL filter of one side: only {@code tls.protocols} (TLS 1.3 by default), and on the listening side a client
     * certificate required. Which node a certificate names is checked in the HELLO ({@link PeerIdentity}).
     */
    static SslFilter filter(SSLContext context, TransportSettings s, boolean listening) {
        SslFilter ssl = new SslFilter(context);
        ssl.setEnabledProtocols(s.tlsProtocols().toArray(String[]::new));
        if (listening) {
            ssl.setNeedClientAuth(true);
        }
        return ssl;
    }

    private static KeyStore load(Path file, String password, String key) throws IOException,
            GeneralSecurityException {
        if (!Files.isReadable(file)) {
            throw new IOException(key + " " + file + " does not exist or is not readable");
        }
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(file)) {
            ks.load(in, chars(password));
        }
        return ks;
    }

    private static char[] chars(String password) {
        return password == null ? new char[0] : password.toCharArray();
    }
}
