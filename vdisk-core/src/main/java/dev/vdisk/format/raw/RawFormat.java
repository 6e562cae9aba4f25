package dev.vdisk.format.raw;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.FormatImage;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.MeasureSource;
import dev.vdisk.format.Measurement;
import dev.vdisk.format.internal.FormatRegistry;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.Preallocation;
import dev.vdisk.io.linux.ErrnoException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;

/** The raw format: guest offset = file offset. Options: {@code preallocation=off|falloc|full}. */
public final class RawFormat implements ImageFormat {
  static final List<Preallocation> PREALLOCATION = List.of(Preallocation.OFF, Preallocation.FALLOC, Preallocation.FULL);

  @Override
  public String name() {
    return "raw";
  }

  /** The guest's bytes are the file's: nothing of the format's own to protect. */
  @Override
  public boolean keepsMetadata() {
    return false;
  }

  /** Never claims a file: raw is what a probe falls back to. */
  @Override
  public int probe(ByteBuffer head) {
    return 0;
  }

  @Override
  public Set<String> createOptionNames() {
    return Set.of("preallocation");
  }

  @Override
  public void create(Path path, long size, Map<String, String> options, boolean overwrite) throws IOException {
    checkOptionNames(options);
    Preallocation prealloc = Preallocation.parse(options.getOrDefault("preallocation", "off"), name(), PREALLOCATION);
    if (overwrite && Files.exists(path) && !Files.isRegularFile(path)) {
      // Block devices and LVs are created elsewhere; "creating" one only sets nothing up.
      throw new IOException(path + ": not a regular file (expected: a path for a new image file)");
    }
    // As QEMU's file driver: whole 512-byte sectors. Where rounding up overflows, QEMU's ftruncate gets a negative
    // length; its message, before a file is made.
    if (size > Long.MAX_VALUE - 511) {
      throw new BlockDeviceException(BlockError.EINVAL, path + ": Could not resize file: Invalid argument");
    }
    long bytes = Math.ceilDiv(size, 512) * 512;
    FileDevice.create(path, overwrite, file -> {
      resize(file, bytes, path);
      file.preallocate(0, bytes, prealloc);
      if (prealloc != Preallocation.FULL && bytes > 0) {
        // As QEMU's file driver does: writing the first block lets later O_DIRECT opens probe the
        // alignment, and makes vdisk's images allocate exactly what qemu-img's do.
        file.write(0, java.nio.ByteBuffer.allocate((int) Math.min(bytes, 4096)), Set.of());
      }
      if (prealloc == Preallocation.FULL) {
        // As QEMU's file driver: only the zeroes of a full preallocation are flushed here. Otherwise the new file is
        // made durable by whoever writes it (convert's final flush, a guest's), so convert costs no extra fdatasync.
        file.flush();
      }
    });
  }

  /** Sets the new file's length; a length the file system cannot hold (EFBIG) refused with qemu-img's message. */
  private static void resize(FileDevice file, long bytes, Path path) throws IOException {
    try {
      file.resize(bytes);
    } catch (IOException e) {
      for (Throwable t = e; t != null; t = t.getCause()) {
        if (t instanceof ErrnoException x && x.errno() == ErrnoException.EFBIG) {
          throw new BlockDeviceException(BlockError.EINVAL,
              path + ": The image size is too large for file format 'raw'", e);
        }
      }
      throw e;
    }
  }

  /**
   * On a device the raw image is the device: its size must cover {@code size}, and the first sector is zeroed (as
   * QEMU's {@code hdev_co_create_opts} and {@code create_file_fallback_zero_first_sector} do), so no old header
   * makes a later probe take it for another format.
   */
  @Override
  public void createOn(BlockDevice device, long size, Map<String, String> options) throws IOException {
    checkOptionNames(options);
    Preallocation prealloc = Preallocation.parse(options.getOrDefault("preallocation", "off"), name(), PREALLOCATION);
    if (prealloc != Preallocation.OFF) {
      throw new IllegalArgumentException("preallocation: " + prealloc.spelling() + " on a device (expected: off: a "
          + "device is not grown or allocated)");
    }
    long bytes = Math.ceilDiv(size, 512) * 512;
    if (bytes > device.size()) {
      throw new IOException("the device has " + device.size() + " bytes, the image needs " + bytes
          + " (expected: a device at least as large as the image)");
    }
    if (bytes > 0) {
      device.write(0, ByteBuffer.allocate((int) Math.min(bytes, 512)), Set.of());
    }
    device.flush();
  }

  /** qemu-img's raw_measure: the source's size, or the size rounded up to 512 bytes; holes count, so both numbers agree. */
  @Override
  public Measurement measure(Map<String, String> options, long size, MeasureSource source) throws IOException {
    checkOptionNames(options);
    Preallocation.parse(options.getOrDefault("preallocation", "off"), name(), PREALLOCATION);
    long required = source != null ? source.size() : Math.ceilDiv(size, 512) * 512;
    return new Measurement(required, required, OptionalLong.empty());
  }

  /** The image is the device itself; a raw image names no other file, so {@code context} is not asked. */
  @Override
  public FormatImage open(BlockDevice file, ImageContext context, boolean probed) {
    return new RawImage(file, probed, this);
  }

  /** True if {@code sector0} would be taken for another format by a probe. */
  static boolean looksLikeAnotherFormat(ByteBuffer sector0) {
    return FormatRegistry.probeNonRaw(sector0).isPresent();
  }
}
