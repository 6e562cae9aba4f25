package dev.vdisk.nbd.server;

import dev.vdisk.nbd.wire.Pem;
import dev.vdisk.nbd.wire.TlsStores;
import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;

/**
 * X.509 credentials in the directory layout of QEMU's {@code tls-creds-x509} object: {@code server-cert.pem}
 * (the certificate, optionally followed by its chain) and {@code server-key.pem} (PKCS#8, PKCS#1 RSA or SEC1
 * EC, unencrypted). TLS 1.2 and 1.3 only, as the NBD protocol recommends.
 *
 * <p>With {@code verifyPeer} (QEMU's {@code verify-peer=on}), every client must present a certificate that
 * chains to a CA in {@code ca-cert.pem}; a client without one, or with one from another CA, fails the
 * handshake. Only those CAs are trusted, never the JDK's default trust store, so the server's certificate
 * request names exactly these CAs (GnuTLS clients pick the certificate whose issuer is named).
 *
 * <p>With {@code verifyPeer} the server speaks TLS 1.2 only. GnuTLS 3.7 (Debian 12's: libnbd's and QEMU's)
 * under TLS 1.3 picks the key types it may answer a certificate request with from the request's
 * {@code signature_algorithms}, where RSA appears only as RSA-PSS (the JDK rightly lists no PKCS#1 v1.5 for
 * TLS 1.3 handshakes), so it never sends an RSA client certificate (QEMU's documented {@code certtool}
 * recipe makes RSA keys) and the handshake fails with "Empty client certificate chain"; EC keys worked.
 */
public final class TlsCredentials {
  private static final String LAYOUT = "QEMU's tls-creds-x509 layout: ca-cert.pem, server-cert.pem, server-key.pem";
  private final SSLContext context;
  private final Path directory;
  private final boolean verifyPeer;

  private TlsCredentials(SSLContext context, Path directory, boolean verifyPeer) {
    this.context = context;
    this.directory = directory;
    this.verifyPeer = verifyPeer;
  }

  /**
   * Loads the credentials in {@code dir}, without client-certificate verification.
   *
   * @throws IOException naming the file that is missing or unreadable, or the certificate that is not valid now
   */
  public static TlsCredentials load(Path dir) throws IOException {
    return load(dir, false);
  }

  /**
   * Loads the credentials in {@code dir}; with {@code verifyPeer} also {@code ca-cert.pem}, the CAs that
   * client certificates must chain to.
   *
   * @throws IOException naming the file that is missing or unreadable, or the certificate that is not valid now
   */
  public static TlsCredentials load(Path dir, boolean verifyPeer) throws IOException {
    List<X509Certificate> chain = Pem.certificates(dir.resolve("server-cert.pem"), LAYOUT);
    PrivateKey key = Pem.privateKey(dir.resolve("server-key.pem"), LAYOUT);
    List<X509Certificate> cas = verifyPeer ? Pem.certificates(dir.resolve("ca-cert.pem"), LAYOUT) : List.of();
    try {
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(TlsStores.keyManagers(key, chain), verifyPeer ? TlsStores.trustManagers(cas) : null, null);
      return new TlsCredentials(ctx, dir, verifyPeer);
    } catch (GeneralSecurityException e) {
      throw new IOException(dir + ": TLS credentials unusable: " + e.getMessage() + " (expected: a matching server-cert.pem and server-key.pem)", e);
    }
  }

  /** A server-side engine for one connection; it requires a client certificate when verifying peers. */
  SSLEngine newEngine() {
    SSLEngine e = context.createSSLEngine();
    e.setUseClientMode(false);
    SSLParameters p = e.getSSLParameters();
    p.setProtocols(verifyPeer ? new String[] {"TLSv1.2"} : new String[] {"TLSv1.3", "TLSv1.2"});
    p.setNeedClientAuth(verifyPeer);
    e.setSSLParameters(p);
    return e;
  }

  /** Whether clients must present a certificate from one of the CAs in {@code ca-cert.pem}. */
  public boolean verifyPeer() {
    return verifyPeer;
  }

  @Override
  public String toString() {
    return directory + (verifyPeer ? " (verify-peer)" : "");
  }
}
