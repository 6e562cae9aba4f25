package dev.vdisk.nbd.wire;

import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;

/** The JSSE key and trust managers for credentials read from PEM files, for both ends of a TLS connection. */
public final class TlsStores {
  private TlsStores() {}

  /** Key managers that present {@code chain} (the certificate first) with its {@code key}. */
  public static KeyManager[] keyManagers(PrivateKey key, List<X509Certificate> chain) throws GeneralSecurityException {
    KeyStore ks = emptyStore();
    ks.setKeyEntry("key", key, new char[0], chain.toArray(Certificate[]::new));
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, new char[0]);
    return kmf.getKeyManagers();
  }

  /** Trust managers that trust exactly {@code cas}, never the JDK's default trust store. */
  public static TrustManager[] trustManagers(List<X509Certificate> cas) throws GeneralSecurityException {
    KeyStore ts = emptyStore();
    for (int i = 0; i < cas.size(); i++) {
      ts.setCertificateEntry("ca" + i, cas.get(i));
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ts);
    return tmf.getTrustManagers();
  }

  private static KeyStore emptyStore() throws GeneralSecurityException {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try {
      ks.load(null, null);
    } catch (IOException e) {
      throw new GeneralSecurityException("an empty PKCS12 key store cannot be made: " + e.getMessage(), e);
    }
    return ks;
  }
}
