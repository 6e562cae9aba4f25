package dev.vdisk.format.luks;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Decrypts and encrypts data encrypted sector by sector ({@link LuksHeader#SECTOR_SIZE} bytes), each sector's IV derived from its
 * number as the volume's IV generator says. Implementations are safe for concurrent use (a JDK {@code Cipher} is
 * not: each call takes its own).
 */
public interface SectorCipher {
  /**
   * Decrypts {@code data} (from its position to its limit, a whole number of sectors) in place.
   *
   * @param offset the byte offset whose sector number gives the first sector's IV: a multiple of the sector size
   *     (in a qcow2 image, the host offset: QEMU's {@code crypt_physical_offset})
   * @throws IOException if no key was given to decrypt with, or the cipher fails
   */
  void decrypt(long offset, ByteBuffer data) throws IOException;

  /**
   * Encrypts {@code data} (from its position to its limit, a whole number of sectors) in place: what {@link #decrypt}
   * at the same {@code offset} turns back into it.
   *
   * @param offset as {@link #decrypt}'s
   * @throws IOException if no key was given to encrypt with, or the cipher fails
   */
  void encrypt(long offset, ByteBuffer data) throws IOException;
}
