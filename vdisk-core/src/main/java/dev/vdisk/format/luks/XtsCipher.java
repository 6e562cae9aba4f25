package dev.vdisk.format.luks;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.security.GeneralSecurityException;
import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;

/**
 * AES in XTS mode (IEEE 1619-2007, as QEMU's {@code crypto/xts.c} applies it) over the JDK's AES in ECB mode: the key
 * is two AES keys, the first for the data, the second for the tweak; each data unit (a 512-byte sector here) has its
 * IV encrypted with the second key as the first block's tweak, and each following block's tweak is the previous one
 * multiplied by x in GF(2^128) (little-endian, reduced by x^128 + x^7 + x^2 + x + 1). Units are whole 16-byte blocks,
 * which every LUKS sector is, so no ciphertext stealing is needed. Encrypting is the same with the data key's AES
 * encrypting. Not thread-safe: one instance per request.
 */
final class XtsCipher {
  static final int BLOCK = 16;
  private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  private final Cipher data;
  private final Cipher tweak;

  /**
   * @param key both AES keys, 32, 48 or 64 bytes: AES-128, AES-192 or AES-256
   * @param opmode {@link Cipher#DECRYPT_MODE} or {@link Cipher#ENCRYPT_MODE}: what {@link #apply} does
   */
  XtsCipher(byte[] key, int opmode) throws GeneralSecurityException {
    int half = key.length / 2;
    data = Cipher.getInstance("AES/ECB/NoPadding");
    data.init(opmode, new SecretKeySpec(key, 0, half, "AES"));
    tweak = Cipher.getInstance("AES/ECB/NoPadding");
    tweak.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, half, half, "AES"));
  }

  /**
   * Decrypts (or encrypts, as made) {@code buf} in place: data units of {@code unit} bytes one after the other (the last may be shorter),
   * every length a multiple of 16.
   *
   * @param ivs the units' 16-byte IVs in order (for LUKS, from its IV generator)
   */
  void apply(byte[] ivs, byte[] buf, int unit) throws GeneralSecurityException {
    // All tweaks first, so the data goes through AES in one call rather than a block or a unit at a time. A tweak is
    // a 128-bit little-endian number held as two longs (low, high): multiplying by x is a shift of both.
    byte[] first = tweak.doFinal(ivs);
    long[] tweaks = new long[buf.length / Long.BYTES];
    for (int u = 0; u * unit < buf.length; u++) {
      int start = u * unit;
      int end = Math.min(buf.length, start + unit);
      long lo = (long) LONGS.get(first, u * BLOCK);
      long hi = (long) LONGS.get(first, u * BLOCK + Long.BYTES);
      for (int at = start; at < end; at += BLOCK) {
        tweaks[at / Long.BYTES] = lo;
        tweaks[at / Long.BYTES + 1] = hi;
        long reduce = (hi >> 63) & 0x87; // x^128 = x^7 + x^2 + x + 1
        hi = (hi << 1) | (lo >>> 63);
        lo = (lo << 1) ^ reduce;
      }
    }
    xor(tweaks, buf);
    data.doFinal(buf, 0, buf.length, buf, 0);
    xor(tweaks, buf);
  }

  private static void xor(long[] tweaks, byte[] buf) {
    for (int i = 0; i < tweaks.length; i++) {
      int at = i * Long.BYTES;
      LONGS.set(buf, at, (long) LONGS.get(buf, at) ^ tweaks[i]);
    }
  }
}
