package dev.vdisk.format.luks;

import java.security.GeneralSecurityException;
import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;

/**
 * AES in XTS mode (IEEE 1619-2007, as QEMU's {@code crypto/xts.c} applies it) over the JDK's AES in ECB mode: the key
 * is two AES keys, the first for the data, the second for the tweak; each data unit (a 512-byte sector here) has its
 * IV encrypted with the second key as the first block's tweak, and each following block's tweak is the previous one
 * multiplied by x in GF(2^128) (little-endian, reduced by x^128 + x^7 + x^2 + x + 1). Units are whole 16-byte blocks,
 * which every LUKS sector is, so no ciphertext stealing is needed. Not thread-safe: one instance per request.
 */
final class XtsCipher {
  static final int BLOCK = 16;

  private final Cipher data;
  private final Cipher tweak;

  /** @param key both AES keys, 32, 48 or 64 bytes: AES-128, AES-192 or AES-256 */
  XtsCipher(byte[] key) throws GeneralSecurityException {
    int half = key.length / 2;
    data = Cipher.getInstance("AES/ECB/NoPadding");
    data.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, 0, half, "AES"));
    tweak = Cipher.getInstance("AES/ECB/NoPadding");
    tweak.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, half, half, "AES"));
  }

  /**
   * Decrypts the data unit {@code buf[off, off + len)} in place, {@code len} a multiple of 16.
   *
   * @param iv the unit's 16-byte IV (for LUKS, from its IV generator)
   */
  void decrypt(byte[] iv, byte[] buf, int off, int len) throws GeneralSecurityException {
    // All the unit's tweaks first, so the data goes through AES in one call rather than a block at a time.
    byte[] tweaks = new byte[len];
    tweak.doFinal(iv, 0, BLOCK, tweaks, 0);
    for (int at = BLOCK; at < len; at += BLOCK) {
      timesX(tweaks, at - BLOCK, at);
    }
    xor(tweaks, buf, off, len);
    data.doFinal(buf, off, len, buf, off);
    xor(tweaks, buf, off, len);
  }

  /** {@code t[to..to+16) = t[from..from+16) * x}. */
  private static void timesX(byte[] t, int from, int to) {
    int carry = 0;
    for (int i = 0; i < BLOCK; i++) {
      int b = t[from + i] & 0xff;
      t[to + i] = (byte) ((b << 1) | carry);
      carry = b >>> 7;
    }
    if (carry != 0) {
      t[to] ^= (byte) 0x87;
    }
  }

  private static void xor(byte[] tweaks, byte[] buf, int off, int len) {
    for (int i = 0; i < len; i++) {
      buf[off + i] ^= tweaks[i];
    }
  }
}
