package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Records a new backing file name and format in the header of a qcow2 image that is not open, as QEMU's
 * {@code qcow2_change_backing_file} does (qemu-img rebase's last step): the backing format extension first, then
 * the other extensions in their order, the end marker, and the name.
 *
 * <p>QEMU rewrites the header cluster in one write, which a power loss can tear. Here every step leaves a header
 * that names either the old backing file or the new one, on a disk that keeps or loses each 512-byte sector of an
 * unflushed write on its own: where the new header and name fit in the first sector they are written there at once;
 * otherwise the new name goes first to bytes no header refers to (after the old name and after the new extensions),
 * then the header that points at it, sector 0 last. Where the new extensions reach past the first sector and differ
 * there from the bytes on disk, a header without the feature name table (which only names feature bits for humans)
 * is written in sector 0 first, then the rest of the new extensions, then the full sector 0; where they are the same
 * there (a rebase from one qcow2 backing file to another), sector 0 alone.
 */
final class BackingFileChange {
  /** The unit a power loss keeps or loses whole. */
  private static final int SECTOR = 512;
  private static final int BACKING_FILE_OFFSET_FIELD = 8;
  private static final int BACKING_FILE_SIZE_FIELD = 16;

  private BackingFileChange() {}

  /**
   * Writes {@code name} (none: the image gets no backing file) and {@code format} (none: no backing format
   * extension) into the header of the image in {@code file}, flushing after each step.
   *
   * @throws BlockDeviceException EINVAL for a name over QEMU's 1023 bytes, a format name over 15 bytes, a format
   *     without a name, or a backing file for an image whose external data file is raw (QEMU's errors); ENOSPC
   *     if the header, its extensions and the name do not fit in the first cluster
   */
  static void change(BlockDevice file, Optional<String> name, Optional<String> format) throws IOException {
    ImageHead head = ImageHead.read(new HostReader(file, "image file"));
    Qcow2Header header = head.header();
    byte[] nameBytes = name.map(n -> n.getBytes(StandardCharsets.UTF_8)).orElse(new byte[0]);
    check(header, name, format, nameBytes);
    ByteBuffer first = head.firstCluster();
    HeaderExtensionArea.Scan scan = HeaderExtensionArea.scan(first, header);
    ByteBuffer area = area(first, header, scan, format, true);
    int clusterSize = header.clusterSize();
    int areaEnd = area.limit();
    if (areaEnd + nameBytes.length <= SECTOR || clusterSize <= SECTOR) {
      // One sector: header, extensions and name at once, where QEMU puts them.
      if (areaEnd + nameBytes.length > clusterSize) {
        throw noSpace(clusterSize);
      }
      ByteBuffer out = ByteBuffer.allocate(areaEnd + nameBytes.length).put(area).put(nameBytes).flip();
      pointAt(out, nameBytes.length > 0 ? areaEnd : 0, nameBytes.length);
      write(file, 0, out);
      return;
    }
    long oldNameEnd = header.hasBackingFile() ? header.backingFileOffset() + header.backingFileSize() : 0;
    int at = (int) align8(Math.max(areaEnd, Math.max(scan.end(), oldNameEnd)));
    if (nameBytes.length > 0) {
      if (at + nameBytes.length > clusterSize) {
        throw noSpace(clusterSize);
      }
      write(file, at, ByteBuffer.wrap(nameBytes));
    }
    int nameAt = nameBytes.length > 0 ? at : 0;
    pointAt(area, nameAt, nameBytes.length);
    if (areaEnd > SECTOR && !first.slice(SECTOR, areaEnd - SECTOR).equals(area.slice(SECTOR, areaEnd - SECTOR))) {
      ByteBuffer compact = area(first, header, scan, format, false);
      if (compact.limit() > SECTOR) {
        throw new BlockDeviceException(BlockError.ENOTSUP, "header extensions: " + compact.limit()
            + " bytes without the feature name table (expected: at most " + SECTOR + " to change the backing file "
            + "safely)");
      }
      pointAt(compact, nameAt, nameBytes.length);
      write(file, 0, compact);
      write(file, SECTOR, area.slice(SECTOR, areaEnd - SECTOR));
      write(file, 0, area.slice(0, SECTOR));
    } else {
      // Whatever of the new extensions lies past the first sector is on disk already: sector 0 alone.
      write(file, 0, area.slice(0, Math.min(areaEnd, SECTOR)));
    }
  }

  private static void check(Qcow2Header header, Optional<String> name, Optional<String> format, byte[] nameBytes)
      throws BlockDeviceException {
    if (format.isPresent() && name.isEmpty()) {
      throw invalid("backing format: " + format.get() + " without a backing file (expected: a backing file name)");
    }
    if (nameBytes.length > Qcow2Header.MAX_BACKING_FILE_NAME) {
      throw invalid("backing file name: " + nameBytes.length + " bytes (expected: at most "
          + Qcow2Header.MAX_BACKING_FILE_NAME + ")");
    }
    if (format.isPresent() && format.get().getBytes(StandardCharsets.UTF_8).length > HeaderExtensions.MAX_BACKING_FORMAT) {
      throw invalid("backing format: '" + format.get() + "' (expected: at most " + HeaderExtensions.MAX_BACKING_FORMAT
          + " bytes)");
    }
    if (name.isPresent() && (header.autoclearFeatures() & Features.AUTOCLEAR_DATA_FILE_RAW) != 0) {
      throw invalid("backing file: " + name.get() + " for an image whose external data file is raw (expected: no "
          + "backing file with data_file_raw=on)");
    }
  }

  /**
   * The header and its extensions up to and including the end marker: the new backing format extension first,
   * then the others in their order (all of them, or without the feature name table), as QEMU orders them.
   */
  private static ByteBuffer area(ByteBuffer first, Qcow2Header header, HeaderExtensionArea.Scan scan,
      Optional<String> format, boolean featureNames) throws BlockDeviceException {
    List<ByteBuffer> known = new ArrayList<>();
    List<ByteBuffer> bitmaps = new ArrayList<>();
    List<ByteBuffer> unknown = new ArrayList<>();
    for (ByteBuffer ext : scan.extensions()) {
      int type = ext.getInt(0);
      if (type == HeaderExtensions.BACKING_FORMAT || type == HeaderExtensions.FEATURE_NAME_TABLE && !featureNames) {
        continue;
      }
      (type == HeaderExtensions.BITMAPS ? bitmaps : HeaderExtensionArea.known(type) ? known : unknown).add(ext);
    }
    int clusterSize = header.clusterSize();
    ByteBuffer out = ByteBuffer.allocate(clusterSize);
    out.put(first.slice(0, header.headerLength()));
    try {
      format.ifPresent(f -> {
        byte[] bytes = f.getBytes(StandardCharsets.UTF_8);
        out.putInt(HeaderExtensions.BACKING_FORMAT).putInt(bytes.length).put(bytes).put(new byte[pad(bytes.length)]);
      });
      for (List<ByteBuffer> group : List.of(known, bitmaps, unknown)) {
        group.forEach(e -> out.put(e.duplicate()));
      }
      out.putLong(0);
    } catch (java.nio.BufferOverflowException e) {
      throw noSpace(clusterSize);
    }
    return out.flip();
  }

  private static void pointAt(ByteBuffer header, long offset, int length) {
    header.putLong(BACKING_FILE_OFFSET_FIELD, offset).putInt(BACKING_FILE_SIZE_FIELD, length);
  }

  private static void write(BlockDevice file, long offset, ByteBuffer bytes) throws IOException {
    file.write(offset, bytes.duplicate(), Set.of());
    file.flush();
  }

  private static int pad(int length) {
    return (8 - length % 8) % 8;
  }

  private static long align8(long n) {
    return (n + 7) & ~7L;
  }

  private static BlockDeviceException invalid(String message) {
    return new BlockDeviceException(BlockError.EINVAL, message);
  }

  private static BlockDeviceException noSpace(int clusterSize) {
    return new BlockDeviceException(BlockError.ENOSPC, "header: the extensions and the backing file name need more "
        + "than the first cluster (expected: at most " + clusterSize + " bytes)");
  }
}
