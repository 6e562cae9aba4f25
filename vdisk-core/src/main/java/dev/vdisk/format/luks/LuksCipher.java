package dev.vdisk.format.luks;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The sector cipher of a LUKS volume with a known key (the master key for data, a slot's derived key for its key
 * material), as QEMU's {@code qcrypto_block_cipher_decrypt_helper} applies it: each 512-byte sector on its own, its IV
 * from the sector number by the IV generator (plain: the number's low 32 bits little-endian; plain64: its 64 bits;
 * essiv: plain64's bytes encrypted with AES keyed by the hash of the key), then AES in xts, cbc or ecb mode (ecb takes
 * no IV), decrypting or encrypting. Built: AES only (the JDK has no serpent, twofish or cast5) and xts, cbc and ecb (not ctr). Thread-safe: JDK
 * ciphers are made per call.
 */
final class LuksCipher implements SectorCipher {
  private final String mode;
  private final String ivgen;
  private final byte[] key;
  /** The essiv IV cipher's key (the key's hash), or null. */
  private final byte[] essivKey;

  private LuksCipher(String mode, String ivgen, byte[] key, byte[] essivKey) {
    this.mode = mode;
    this.ivgen = ivgen;
    this.key = key;
    this.essivKey = essivKey;
  }

  /**
   * The cipher {@code header} names, keyed with {@code key}.
   *
   * @throws BlockDeviceException ENOTSUP for a cipher, mode or hash that is not built
   */
  static LuksCipher of(LuksHeader header, byte[] key) throws BlockDeviceException {
    if (!header.cipherName().equals("aes")) {
      throw notBuilt("cipher", header.cipherAlg(), "aes-128, aes-192 or aes-256: the JDK has no " + header.cipherName());
    }
    if (!header.cipherMode().equals("xts") && !header.cipherMode().equals("cbc") && !header.cipherMode().equals("ecb")) {
      throw notBuilt("cipher mode", header.cipherMode(), "xts, cbc or ecb");
    }
    byte[] essiv = null;
    if (header.ivgenAlg().equals("essiv")) {
      essiv = LuksHash.of(header.ivgenHashAlg().orElseThrow()).digest().digest(key);
    }
    return new LuksCipher(header.cipherMode(), header.ivgenAlg(), key.clone(), essiv);
  }

  /**
   * {@inheritDoc} The last sector may be shorter, a multiple of 16 bytes: a key slot's material of a 24-byte key ends
   * half way through a sector, as QEMU's helper decrypts it. All the sectors go through each JDK cipher in one call
   * (their IVs, then their blocks), which costs a fraction of a call per sector.
   */
  @Override
  public void decrypt(long offset, ByteBuffer data) throws BlockDeviceException {
    crypt(Cipher.DECRYPT_MODE, offset, data);
  }

  /** {@inheritDoc} As QEMU's {@code qcrypto_block_cipher_encrypt_helper}: each sector on its own, with its IV. */
  @Override
  public void encrypt(long offset, ByteBuffer data) throws BlockDeviceException {
    crypt(Cipher.ENCRYPT_MODE, offset, data);
  }

  /** Decrypts {@code bytes} whose first sector is sector 0, in place: a key slot's material. */
  void decrypt(byte[] bytes) throws BlockDeviceException {
    decrypt(0, ByteBuffer.wrap(bytes));
  }

  private void crypt(int opmode, long offset, ByteBuffer data) throws BlockDeviceException {
    if ((offset & (LuksHeader.SECTOR_SIZE - 1)) != 0 || (data.remaining() & (XtsCipher.BLOCK - 1)) != 0) {
      throw new IllegalArgumentException("offset " + offset + " length " + data.remaining()
          + " (expected: from a sector boundary, whole blocks of " + XtsCipher.BLOCK + " bytes)");
    }
    byte[] buf = new byte[data.remaining()];
    data.get(data.position(), buf);
    try {
      crypt(opmode, offset / LuksHeader.SECTOR_SIZE, buf);
    } catch (GeneralSecurityException e) {
      throw new BlockDeviceException(BlockError.EIO, "LUKS: " + (opmode == Cipher.ENCRYPT_MODE ? "en" : "de")
          + "crypting sectors at byte offset " + offset + ": " + e, e);
    }
    data.put(data.position(), buf);
  }

  private void crypt(int opmode, long firstSector, byte[] buf) throws GeneralSecurityException {
    int unit = LuksHeader.SECTOR_SIZE;
    if (mode.equals("ecb")) {
      aes(opmode, key).doFinal(buf, 0, buf.length, buf, 0);
      return;
    }
    byte[] ivs = ivs(firstSector, (buf.length + unit - 1) / unit);
    if (mode.equals("xts")) {
      new XtsCipher(key, opmode).apply(ivs, buf, unit);
      return;
    }
    if (opmode == Cipher.ENCRYPT_MODE) {
      // CBC chains each block on the ciphertext before it: a sector at a time, each from its own IV.
      Cipher cbc = Cipher.getInstance("AES/CBC/NoPadding");
      SecretKeySpec spec = new SecretKeySpec(key, "AES");
      for (int at = 0; at < buf.length; at += unit) {
        cbc.init(opmode, spec, new IvParameterSpec(ivs, at / unit * XtsCipher.BLOCK, XtsCipher.BLOCK));
        cbc.doFinal(buf, at, Math.min(unit, buf.length - at), buf, at);
      }
      return;
    }
    // CBC over ECB: each plaintext block is the decrypted block XOR the ciphertext block before it in its sector,
    // the sector's IV for its first block.
    byte[] cipherText = buf.clone();
    aes(Cipher.DECRYPT_MODE, key).doFinal(buf, 0, buf.length, buf, 0);
    for (int i = 0; i < buf.length; i++) {
      int inSector = i % unit;
      buf[i] ^= inSector < XtsCipher.BLOCK ? ivs[i / unit * XtsCipher.BLOCK + inSector] : cipherText[i - XtsCipher.BLOCK];
    }
  }

  /** The IVs of {@code count} sectors from {@code first}, 16 bytes each, as the IV generator makes them. */
  private byte[] ivs(long first, int count) throws GeneralSecurityException {
    byte[] ivs = new byte[count * XtsCipher.BLOCK];
    int bytes = ivgen.equals("plain") ? 4 : 8;
    for (int s = 0; s < count; s++) {
      long number = first + s;
      for (int i = 0; i < bytes; i++) {
        ivs[s * XtsCipher.BLOCK + i] = (byte) (number >>> (8 * i));
      }
    }
    if (essivKey != null) {
      aes(Cipher.ENCRYPT_MODE, essivKey).doFinal(ivs, 0, ivs.length, ivs, 0);
    }
    return ivs;
  }

  private static Cipher aes(int opmode, byte[] key) throws GeneralSecurityException {
    Cipher c = Cipher.getInstance("AES/ECB/NoPadding");
    c.init(opmode, new SecretKeySpec(key, "AES"));
    return c;
  }

  private static BlockDeviceException notBuilt(String what, String value, String expected) {
    return new BlockDeviceException(BlockError.ENOTSUP, "LUKS " + what + ": " + value + " (expected: " + expected
        + "; vdisk decrypts no other)");
  }
}
