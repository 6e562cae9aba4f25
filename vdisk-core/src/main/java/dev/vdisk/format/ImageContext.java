package dev.vdisk.format;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.io.rbd.RbdName;
import java.io.IOException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * What a format driver needs from its surroundings to open an image that sits on some {@link BlockDevice}: the
 * image's name, whether the open is read-only, and how the other files the image names (a backing file, an
 * external data file) become devices. A driver never opens a file by path itself, so the same driver opens an
 * image in a host file (as {@link dev.vdisk.Vdisk#open(java.nio.file.Path, dev.vdisk.OpenOptions)} does), in
 * memory, inside a crash simulator, or on a network device.
 */
public interface ImageContext {
  /** The image's name as given: for messages, and what backing file names recorded in the image are relative to. */
  Path name();

  /**
   * The image's name as the user wrote it, for what vdisk prints ({@code qemu-img info}'s "image:", map's file
   * column): {@link #name()} unless that name is no path (an {@code nbd://} URI, which a {@link Path} would
   * normalise).
   */
  default String label() {
    return name().toString();
  }

  /** The image is opened without write access: the driver must not write, not even to repair it. */
  boolean readOnly();

  /**
   * True if the image is opened for its own facts only, as qemu-img info opens one (QEMU's BDRV_O_NO_IO): its data is
   * never read, so an encrypted image opens without its key.
   */
  default boolean factsOnly() {
    return false;
  }

  /**
   * The password of this image if it is encrypted (the secret QEMU's {@code encrypt.key-secret} names); never its
   * backing images' (each has its own in QEMU). Empty by default.
   */
  default Optional<byte[]> encryptionKey() {
    return Optional.empty();
  }


  /**
   * Opens the external data file that the image records as {@code name}, with this open's access; the image owns
   * the device from here on and closes it.
   *
   * @throws IOException naming the data file when it cannot be opened
   */
  BlockDevice openDataFile(String name) throws IOException;

  /**
   * Opens the backing image that the image records as {@code name}, read-only and guarded, with its own backing
   * chain below it; or nothing, for a context that opens images for their own facts only (qemu-img info).
   *
   * @param format the format the image records for it, or empty to probe
   * @throws IOException prefixed with the backing file's name, whatever layer below failed
   */
  Optional<Backing> openBacking(String name, Optional<String> format) throws IOException;

  /**
   * Where {@code file} (a backing file name written in the image named {@code image}) points: QEMU's
   * {@code path_combine}, relative to the directory of the image's name as given, so the combined name is the
   * full-backing-filename qemu-img prints and still opens from the current directory.
   *
   * @throws BlockDeviceException for names that are not local paths (json:, URLs) or not valid paths
   */
  static Path resolve(Path image, String file) throws IOException {
    Path p = resolveDataFile(file);   // the checks a data file name gets, then the name as given
    // A protocol name (RBD) is not relative to the image's directory either, as in QEMU.
    return p.isAbsolute() || RbdName.isRbd(file) ? p : image.resolveSibling(p);
  }

  /**
   * Where {@code file} (an external data file name written in an image) points: the name as given, so a relative
   * one is relative to the current directory, as QEMU 7.2 creates it (qcow2_co_create_opts) and opens it at every
   * open (qcow2_do_open opens {@code image_data_file} without path_combine), wherever the image lies.
   *
   * @throws BlockDeviceException for names that are not local paths (json:, URLs) or not valid paths
   */
  static Path resolveDataFile(String file) throws IOException {
    if (RbdName.isRbd(file)) {
      return Path.of(file);   // a protocol name, as in QEMU
    }
    if (file.startsWith("json:") || file.contains("://")) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "file name: '" + file + "' (expected: a local file path)");
    }
    try {
      return Path.of(file);
    } catch (InvalidPathException e) {
      throw new BlockDeviceException(BlockError.EINVAL, "file name: '" + file + "' (expected: a valid path ("
          + e.getReason() + "))", e);
    }
  }

  /**
   * A context for an image that names no other file, on any device: opening a backing or data file is refused
   * with {@link BlockError#ENOTSUP}.
   */
  static ImageContext standalone(Path name, boolean readOnly) {
    return new ImageContext() {
      @Override
      public Path name() {
        return name;
      }

      @Override
      public boolean readOnly() {
        return readOnly;
      }

      @Override
      public BlockDevice openDataFile(String file) throws IOException {
        throw refused("external data file", file);
      }

      @Override
      public Optional<Backing> openBacking(String file, Optional<String> format) throws IOException {
        throw refused("backing file", file);
      }

      private BlockDeviceException refused(String what, String file) {
        return new BlockDeviceException(BlockError.ENOTSUP, what + " '" + file + "' of " + name
            + ": not available on this device (expected: an image without one, or a context that opens it)");
      }
    };
  }
}
