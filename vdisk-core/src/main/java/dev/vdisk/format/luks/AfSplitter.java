package dev.vdisk.format.luks;

import java.security.MessageDigest;

/**
 * LUKS's anti-forensic information splitter (cryptsetup's AF_merge, QEMU's {@code crypto/afsplit.c}): a key of
 * {@code n} bytes is stored as {@code stripes} blocks of {@code n} bytes, of which all are needed to recover it. Merging
 * XORs each block but the last into an accumulator that is then diffused with the hash; the last block XOR the
 * accumulator is the key. Diffusion hashes the accumulator one digest-sized piece at a time: piece {@code i} becomes
 * the first bytes of {@code H(be32(i) || piece)}.
 */
final class AfSplitter {
  private AfSplitter() {}

  /** The key of {@code keyBytes} bytes that {@code stripes} blocks of {@code material} hold. */
  static byte[] merge(LuksHash hash, byte[] material, int keyBytes, int stripes) {
    byte[] block = new byte[keyBytes];
    MessageDigest digest = hash.digest();
    for (int s = 0; s < stripes - 1; s++) {
      xor(material, s * keyBytes, block);
      diffuse(digest, block);
    }
    xor(material, (stripes - 1) * keyBytes, block);
    return block;
  }

  private static void xor(byte[] material, int at, byte[] block) {
    for (int i = 0; i < block.length; i++) {
      block[i] ^= material[at + i];
    }
  }

  private static void diffuse(MessageDigest digest, byte[] block) {
    int len = digest.getDigestLength();
    for (int i = 0, at = 0; at < block.length; i++, at += len) {
      int n = Math.min(len, block.length - at);
      digest.update(new byte[] {(byte) (i >>> 24), (byte) (i >>> 16), (byte) (i >>> 8), (byte) i});
      digest.update(block, at, n);
      System.arraycopy(digest.digest(), 0, block, at, n);
    }
  }
}
