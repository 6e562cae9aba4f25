package dev.vdisk.nbd.client;

import dev.vdisk.nbd.wire.Pem;
import dev.vdisk.nbd.wire.TlsStores;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;

/**
 * A client's X.509 credentials in the directory layout of QEMU's {@code tls-creds-x509,endpoint=client} object (and
 * libnbd's {@code tls-certificates}): {@code ca-cert.pem}, the CAs the server's certificate must chain to (required:
 * QEMU's client verifies its peer by default), and optionally {@code client-cert.pem} with {@code client-key.pem},
 * presented when the server asks for a certificate. Only those CAs are trusted, never the JDK's default store.
 */
public final class TlsClientCredentials {
  private static final String LAYOUT = "QEMU's tls-creds-x509 client layout: ca-cert.pem, optionally client-cert.pem "
      + "and client-key.pem";

  private final SSLContext context;
  private final Path directory;

  private TlsClientCredentials(SSLContext context, Path directory) {
    this.context = context;
    this.directory = directory;
  }

  /**
   * Loads the credentials in {@code dir}.
   *
   * @throws IOException naming the file that is missing, unreadable or not valid now
   */
  public static TlsClientCredentials load(Path dir) throws IOException {
    List<X509Certificate> cas = Pem.certificates(dir.resolve("ca-cert.pem"), LAYOUT);
    Path cert = dir.resolve("client-cert.pem");
    try {
      KeyManager[] keys = Files.exists(cert)
          ? TlsStores.keyManagers(Pem.privateKey(dir.resolve("client-key.pem"), LAYOUT), Pem.certificates(cert, LAYOUT))
          : null;
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(keys, TlsStores.trustManagers(cas), null);
      return new TlsClientCredentials(ctx, dir);
    } catch (GeneralSecurityException e) {
      throw new IOException(dir + ": TLS credentials unusable: " + e.getMessage()
          + " (expected: a matching client-cert.pem and client-key.pem)", e);
    }
  }

  /**
   * A client-side engine for one connection. With a {@code hostname} the server's certificate must name it (as
   * QEMU checks the URI's host, or {@code tls-hostname}); without one (a unix socket) only the chain is checked.
   */
  SSLEngine newEngine(String hostname, int port) {
    SSLEngine e = hostname == null ? context.createSSLEngine() : context.createSSLEngine(hostname, port);
    e.setUseClientMode(true);
    SSLParameters p = e.getSSLParameters();
    p.setProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
    if (hostname != null) {
      p.setEndpointIdentificationAlgorithm("HTTPS");
    }
    e.setSSLParameters(p);
    return e;
  }

  @Override
  public String toString() {
    return directory.toString();
  }
}
