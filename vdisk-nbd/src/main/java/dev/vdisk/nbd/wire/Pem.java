package dev.vdisk.nbd.wire;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/** Reads the PEM files of QEMU's {@code tls-creds-x509} directories, for the server's credentials and the client's. */
public final class Pem {
  private Pem() {}

  /**
   * The certificates in {@code pem}, each valid now.
   *
   * @param layout what the directory should hold, for the message when the file is missing
   * @throws IOException naming the file and what is wrong with it
   */
  public static List<X509Certificate> certificates(Path pem, String layout) throws IOException {
    try (var in = Files.newInputStream(pem)) {
      List<X509Certificate> out = new ArrayList<>();
      for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
        out.add((X509Certificate) c);
      }
      if (out.isEmpty()) {
        throw new IOException(pem + ": no certificate (expected: PEM 'BEGIN CERTIFICATE' blocks)");
      }
      for (X509Certificate c : out) {
        checkValidNow(pem, c);
      }
      return out;
    } catch (NoSuchFileException e) {
      throw new IOException(pem + ": no such file (expected: " + layout + ")");
    } catch (GeneralSecurityException e) {
      throw new IOException(pem + ": not a PEM certificate: " + e.getMessage());
    }
  }

  /**
   * Refuses a certificate outside its validity period at load time, as QEMU's {@code tls-creds-x509} does: clients
   * would refuse it at every handshake, so the server would run and serve nobody.
   */
  private static void checkValidNow(Path pem, X509Certificate c) throws IOException {
    try {
      c.checkValidity();
    } catch (CertificateExpiredException e) {
      throw new IOException(pem + ": the certificate " + c.getSubjectX500Principal() + " expired on "
          + c.getNotAfter().toInstant() + " (expected: a certificate valid now)");
    } catch (CertificateNotYetValidException e) {
      throw new IOException(pem + ": the certificate " + c.getSubjectX500Principal() + " is valid only from "
          + c.getNotBefore().toInstant() + " (expected: a certificate valid now)");
    }
  }

  /**
   * The unencrypted private key in {@code pem}: PKCS#8, PKCS#1 RSA or SEC1 EC.
   *
   * @param layout what the directory should hold, for the message when the file is missing
   */
  public static PrivateKey privateKey(Path pem, String layout) throws IOException {
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
      throw new IOException(pem + ": no such file (expected: " + layout + ")");
    }
  }
}
