package dev.vdisk.format.luks;

import java.security.InvalidKeyException;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * PBKDF2 (RFC 8018, section 5.2) with the HMAC of a LUKS hash. Written over {@link Mac} rather than the JDK's
 * {@code PBKDF2WithHmac*} key factories, which take the password as characters and encode them as UTF-8: LUKS derives
 * the master key's digest from the master key's raw bytes, which are no text.
 */
final class Pbkdf2 {
  private Pbkdf2() {}

  /**
   * Derives {@code length} bytes from {@code password} (any bytes, an empty one included) and {@code salt} with
   * {@code iterations} rounds.
   */
  static byte[] derive(LuksHash hash, byte[] password, byte[] salt, long iterations, int length) {
    Mac mac = hash.hmac();
    try {
      // HMAC keys may be empty; SecretKeySpec refuses an empty array, so an empty password is one zero byte less:
      // HMAC pads its key with zeroes to the block size, which makes the two the same key.
      mac.init(new SecretKeySpec(password.length == 0 ? new byte[1] : password, "HMAC"));
    } catch (InvalidKeyException e) {
      throw new IllegalStateException("an HMAC takes any key", e);
    }
    int hLen = mac.getMacLength();
    byte[] out = new byte[length];
    byte[] u = new byte[hLen];
    byte[] t = new byte[hLen];
    for (int block = 1, at = 0; at < length; block++, at += hLen) {
      mac.update(salt);
      mac.update(new byte[] {(byte) (block >>> 24), (byte) (block >>> 16), (byte) (block >>> 8), (byte) block});
      doFinal(mac, u);
      System.arraycopy(u, 0, t, 0, hLen);
      for (long i = 1; i < iterations; i++) {
        mac.update(u);
        doFinal(mac, u);
        for (int k = 0; k < hLen; k++) {
          t[k] ^= u[k];
        }
      }
      System.arraycopy(t, 0, out, at, Math.min(hLen, length - at));
    }
    return out;
  }

  private static void doFinal(Mac mac, byte[] into) {
    try {
      mac.doFinal(into, 0);
    } catch (javax.crypto.ShortBufferException e) {
      throw new IllegalStateException("the buffer holds one MAC", e);
    }
  }
}
