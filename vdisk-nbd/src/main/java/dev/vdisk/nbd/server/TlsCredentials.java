package dev.vdisk.nbd.server;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/**
 * X.509 credentials in the directory layout of QEMU's {@code tls-creds-x509} object: {@code server-cert.pem}
 * (the certificate, optionally followed by its chain) and {@code server-key.pem} (PKCS#8, PKCS#1 RSA or SEC1
 * EC, unencrypted). TLS 1.2 and 1.3 only, as the NBD protocol recommends. Client certificates are not
 * verified: with this JDK's server engine, neither GnuTLS client (libnbd, QEMU) sent its certificate, so
 * the option is left out until that is understood ({@code ca-cert.pem} is not read).
 */
public final class TlsCredentials {
  private final SSLContext context;
  private final Path directory;

  private TlsCredentials(SSLContext context, Path directory) {
    this.context = context;
    this.directory = directory;
  }

  /**
   * Loads the credentials in {@code dir}.
   *
   * @throws IOException naming the file that is missing or unreadable
   */
  public static TlsCredentials load(Path dir) throws IOException {
    List<X509Certificate> chain = certificates(dir.resolve("server-cert.pem"));
    PrivateKey key = privateKey(dir.resolve("server-key.pem"));
    try {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      ks.load(null, null);
      ks.setKeyEntry("server", key, new char[0], chain.toArray(Certificate[]::new));
      KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(ks, new char[0]);
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(kmf.getKeyManagers(), null, null);
      return new TlsCredentials(ctx, dir);
    } catch (GeneralSecurityException e) {
      throw new IOException(dir + ": TLS credentials unusable: " + e.getMessage() + " (expected: a matching server-cert.pem and server-key.pem)", e);
    }
  }

  /** A server-side engine for one connection. */
  SSLEngine newEngine() {
    SSLEngine e = context.createSSLEngine();
    e.setUseClientMode(false);
    SSLParameters p = e.getSSLParameters();
    p.setProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
    e.setSSLParameters(p);
    return e;
  }

  @Override
  public String toString() {
    return directory.toString();
  }

  private static List<X509Certificate> certificates(Path pem) throws IOException {
    try (var in = Files.newInputStream(pem)) {
      List<X509Certificate> out = new ArrayList<>();
      for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
        out.add((X509Certificate) c);
      }
      if (out.isEmpty()) {
        throw new IOException(pem + ": no certificate (expected: PEM 'BEGIN CERTIFICATE' blocks)");
      }
      return out;
    } catch (NoSuchFileException e) {
      throw new IOException(pem + ": no such file (expected: QEMU's tls-creds-x509 layout: server-cert.pem, server-key.pem)");
    } catch (GeneralSecurityException e) {
      throw new IOException(pem + ": not a PEM certificate: " + e.getMessage());
    }
  }

  private static PrivateKey privateKey(Path pem) throws IOException {
    try (Reader r = Files.newBufferedReader(pem, StandardCharsets.US_ASCII); PEMParser parser = new PEMParser(r)) {
      Object o = parser.readObject();
      JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
      if (o instanceof PEMKeyPair pair) {
        return converter.getKeyPair(pair).getPrivate();
      }
      if (o instanceof PrivateKeyInfo info) {
        return converter.getPrivateKey(info);
      }
      throw new IOException(pem + ": no unencrypted private key (expected: PEM 'BEGIN PRIVATE KEY', 'BEGIN RSA PRIVATE KEY' or 'BEGIN EC PRIVATE KEY')");
    } catch (NoSuchFileException e) {
      throw new IOException(pem + ": no such file (expected: QEMU's tls-creds-x509 layout: server-cert.pem, server-key.pem)");
    }
  }
}
