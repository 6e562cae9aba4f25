package dev.vdisk.format.internal;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.Backing;
import dev.vdisk.format.ImageContext;
import dev.vdisk.io.CacheMode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The context of an image on RBD: a backing file named {@code rbd:...} is opened on RBD, read-only, with its own
 * backing chain below it (at most {@link FileContext#MAX_DEPTH} images, which also ends a loop); a local backing
 * file or an external data file is refused with one line (a name inside an image on a cluster has no directory to
 * be relative to).
 *
 * @param name the image's name as given
 * @param readOnly the image is opened without write access
 * @param backing backing images are opened (false: qemu-img info's open, which names them without opening)
 * @param cache the cache mode backing images are opened with
 * @param depth how many images sit above this one (0 for the top)
 */
record RbdContext(Path name, boolean readOnly, boolean backing, CacheMode cache, int depth) implements ImageContext {
  @Override
  public BlockDevice openDataFile(String file) throws IOException {
    throw new BlockDeviceException(BlockError.ENOTSUP, "external data file '" + file + "' of " + name
        + ": not opened for an image on RBD (expected: an image without one)");
  }

  @Override
  public Optional<Backing> openBacking(String file, Optional<String> format) throws IOException {
    if (!backing) {
      return Optional.empty();
    }
    if (!RbdImages.isRbd(file)) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "backing file '" + file + "' of " + name
          + ": a local file behind an image on RBD (expected: an rbd: name)");
    }
    if (depth + 1 >= FileContext.MAX_DEPTH) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "backing chain depth: " + (depth + 2) + " images (expected: at most "
          + FileContext.MAX_DEPTH + ")");
    }
    return Optional.of(RbdImages.openBacking(file, format, cache, depth + 1));
  }
}
