package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockLimits;
import dev.vdisk.format.luks.LuksHeader;
import dev.vdisk.format.luks.SectorCipher;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Reads byte ranges of a lower device (the image file, the external data file, a backing image) without ever
 * asking it for bytes outside its size, and honouring its request alignment (an O_DIRECT file wants aligned
 * requests; qcow2 metadata and compressed clusters sit at any byte). The data reader of an encrypted image decrypts
 * what {@link #readData} reads, whole sectors at their host offsets.
 */
final class HostReader {
  private static final byte[] ZEROES = new byte[64 << 10];
  /** Upper bound of one bounce buffer, so an aligned read of a big range needs no big allocation. */
  private static final int BOUNCE_CHUNK = 1 << 20;

  private final BlockDevice device;
  private final String name;
  /** Decrypts what {@link #readData} reads; null where the device holds plain bytes. */
  private final SectorCipher cipher;

  /** @param name how messages call the device, e.g. "image file" */
  HostReader(BlockDevice device, String name) {
    this(device, name, null);
  }

  /**
   * A reader whose {@link #readData} decrypts with {@code cipher} (null: none): an encrypted image's data reader.
   */
  HostReader(BlockDevice device, String name, SectorCipher cipher) {
    this.device = device;
    this.name = name;
    this.cipher = cipher;
  }

  /** True if {@link #readData} decrypts: the device's bytes are not the guest's. */
  boolean encrypted() {
    return cipher != null;
  }

  BlockDevice device() {
    return device;
  }

  long size() throws IOException {
    return device.size();
  }

  /**
   * Reads exactly {@code length} bytes of metadata at {@code offset}.
   *
   * @param what the structure being read, for the message when it lies outside the file
   * @return a heap buffer holding the bytes, position 0
   */
  ByteBuffer readMetadata(String what, long offset, int length) throws IOException {
    long size = size();
    if (offset < 0 || length < 0 || offset > size || length > size - offset) {
      throw Qcow2Errors.invalid(what, "offset " + Long.toUnsignedString(offset) + " length " + length,
          "inside the " + name + " of " + size + " bytes");
    }
    ByteBuffer b = ByteBuffer.allocate(length);
    readInside(offset, b);
    return b.flip();
  }

  /**
   * True if {@link #readData} of {@code length} bytes at {@code offset} is one plain read of the device: inside it,
   * within its request alignment and transfer size (so that a queue of the device may take it as it is), and not
   * decrypted.
   */
  boolean plain(long offset, int length) throws IOException {
    BlockLimits limits = device.limits();
    return cipher == null && offset >= 0 && length > 0 && length <= size() - offset && limits.requestAlignment() == 1
        && length <= limits.maxTransfer();
  }

  /**
   * Fills {@code dst} with the bytes at {@code offset}; bytes at or beyond the end of the device read as zeroes
   * (as QEMU reads them), and are not requested from it. An offset with bit 63 set (taken unsigned, as image
   * fields are) is beyond every device's end. An encrypted image's reader decrypts: the whole sectors around the
   * range are read and decrypted, then the range copied out.
   */
  void readData(long offset, ByteBuffer dst) throws IOException {
    if (cipher != null) {
      readDecrypted(offset, dst);
      return;
    }
    readPlain(offset, dst);
  }

  private void readDecrypted(long offset, ByteBuffer dst) throws IOException {
    long start = offset & -LuksHeader.SECTOR_SIZE;
    int skip = (int) (offset - start);
    int length = (skip + dst.remaining() + LuksHeader.SECTOR_SIZE - 1) & -LuksHeader.SECTOR_SIZE;
    boolean whole = skip == 0 && length == dst.remaining();
    ByteBuffer sectors = whole ? dst.slice() : ByteBuffer.allocate(length);
    readPlain(start, sectors.duplicate());
    cipher.decrypt(start, sectors.duplicate());
    if (whole) {
      dst.position(dst.limit());
    } else {
      dst.put(sectors.position(skip).limit(skip + dst.remaining()));
    }
  }

  private void readPlain(long offset, ByteBuffer dst) throws IOException {
    long inDevice = offset < 0 ? 0 : Math.clamp(size() - offset, 0, dst.remaining());
    if (inDevice == dst.remaining()) {
      readInside(offset, dst); // all inside the device (the usual case): no slice to allocate
      return;
    }
    if (inDevice > 0) {
      ByteBuffer part = dst.slice(dst.position(), (int) inDevice);
      readInside(offset, part);
      dst.position(dst.position() + (int) inDevice);
    }
    zeroFill(dst);
  }

  /** Fills the rest of {@code dst} with zeroes. */
  static void zeroFill(ByteBuffer dst) {
    while (dst.hasRemaining()) {
      dst.put(ZEROES, 0, Math.min(ZEROES.length, dst.remaining()));
    }
  }

  private void readInside(long offset, ByteBuffer dst) throws IOException {
    int align = device.limits().requestAlignment();
    int max = device.limits().maxTransfer() & -align;
    if (align == 1) {
      int end = dst.limit();
      long pos = offset;
      while (dst.position() < end) {
        int n = Math.min(max, end - dst.position());
        dst.limit(dst.position() + n);
        device.read(pos, dst);
        dst.limit(end);
        pos += n;
      }
      return;
    }
    readBounced(offset, dst, align, Math.min(max, BOUNCE_CHUNK));
  }

  /** Reads through an aligned buffer: the aligned range may pass the end of the device by less than {@code align}. */
  private void readBounced(long offset, ByteBuffer dst, int align, int chunk) throws IOException {
    ByteBuffer bounce = ByteBuffer.allocateDirect(Math.max(chunk, align) + align).alignedSlice(align);
    long pos = offset;
    while (dst.hasRemaining()) {
      long start = pos & -align;
      int skip = (int) (pos - start);
      int want = Math.min(dst.remaining(), bounce.capacity() - skip);
      int len = (int) (((skip + want) + align - 1L) & -align);
      bounce.clear().limit(len);
      device.read(start, bounce);
      dst.put(bounce.flip().position(skip).limit(skip + want));
      pos += want;
    }
  }
}
