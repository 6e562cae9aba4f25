package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.HostRange;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.format.luks.LuksHeader;
import dev.vdisk.format.luks.SectorCipher;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The device a LUKS encrypted image's writer writes its data clusters to: every byte written reaches the device below
 * encrypted per 512-byte sector with the sector number of its host offset (QEMU's {@code qcow2_co_encrypt} at
 * {@code crypt_physical_offset}), so the one place that encrypts is here, whichever write path (overwrite,
 * copy-on-write, zeroes written as data, growth) sent the bytes. Zeroes are written as encrypted zeroes: a hole or a
 * zeroed range of the file would decrypt to noise, not to zeroes. A write that starts or ends inside a sector reads
 * that sector, decrypts it, puts the new bytes in and encrypts it whole (QEMU's request alignment of 512 for an
 * encrypted image makes its block layer do the same); such writes run one at a time, so two of them in one sector
 * keep each other's bytes. Bytes past the end of the device read as zeroes there and are decrypted, as the image's
 * {@link HostReader} reads them. Reads pass through as they are (the image's reader decrypts); a discard passes
 * through, as the writer discards only clusters it freed. Nothing goes around the cipher: no host ranges, no copy
 * from another file, no queue.
 */
final class EncryptingDevice extends FilterDevice {
  private static final int SECTOR = LuksHeader.SECTOR_SIZE;
  /** Bytes of zeroes encrypted and written per request. */
  private static final int ZERO_CHUNK = 1 << 20;

  private final SectorCipher cipher;
  /** Reads the sectors a partial write patches, with the device's alignment and zeroes past its end. */
  private final HostReader below;
  private final ReentrantLock partialSectors = new ReentrantLock();

  EncryptingDevice(BlockDevice next, SectorCipher cipher) {
    super(next);
    this.cipher = cipher;
    this.below = new HostReader(next, "data file");
  }

  /**
   * True if {@code data}, the device the writer writes clusters to, is another file than the image file {@code file}
   * (an external data file), seen through the encryption.
   */
  static boolean external(BlockDevice file, BlockDevice data) {
    return (data instanceof EncryptingDevice e ? e.unwrap() : data) != file;
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    int length = src.remaining();
    long start = offset & -SECTOR;
    long end = (offset + length + SECTOR - 1) & -SECTOR;
    ByteBuffer buf = ByteBuffer.allocate((int) (end - start));
    if (start == offset && end == offset + length) {
      buf.put(0, src, src.position(), length);
      src.position(src.limit());
      encryptAndWrite(start, buf, flags);
      return;
    }
    partialSectors.lock();
    try {
      int head = (int) (offset - start);
      if (head > 0) {
        readSector(start, buf.slice(0, SECTOR));
      }
      if (end != offset + length && (end - SECTOR > start || head == 0)) {
        readSector(end - SECTOR, buf.slice(buf.limit() - SECTOR, SECTOR));
      }
      buf.put(head, src, src.position(), length);
      src.position(src.limit());
      encryptAndWrite(start, buf, flags);
    } finally {
      partialSectors.unlock();
    }
  }

  /** Writes encrypted zeroes: the device's own zeroing would leave bytes that decrypt to noise. */
  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    if (flags.contains(WriteFlag.FAST_ZERO)) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "writeZeroes: " + length + " bytes at host offset " + offset
          + " of an encrypted image cannot be zeroed fast (expected: zeroes written as encrypted data)");
    }
    for (long pos = offset; pos < offset + length; pos += ZERO_CHUNK) {
      write(pos, ByteBuffer.allocate((int) Math.min(ZERO_CHUNK, offset + length - pos)), Set.of());
    }
  }

  @Override
  public List<HostRange> hostRanges(long offset, long length) {
    return List.of();
  }

  @Override
  public boolean writeFrom(long offset, HostRange src) {
    return false;
  }

  @Override
  public RequestQueue queue(int depth) {
    return null;
  }

  /** Fills {@code dst} (one sector) with the plaintext of the sector at {@code offset}. */
  private void readSector(long offset, ByteBuffer dst) throws IOException {
    below.readData(offset, dst.duplicate());
    cipher.decrypt(offset, dst);
  }

  private void encryptAndWrite(long offset, ByteBuffer buf, Set<WriteFlag> flags) throws IOException {
    cipher.encrypt(offset, buf);
    next.write(offset, buf, flags);
  }
}
