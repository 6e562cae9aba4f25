package dev.vdisk.cli;

import dev.vdisk.io.CacheMode;
import java.nio.file.Files;
import java.nio.file.Path;

/** Argument checks that rebase and commit share, with qemu-img's messages. */
final class Commands {
  private Commands() {}

  /** {@code -t}/{@code -T}: a cache mode, or qemu-img's error. */
  static CacheMode cacheMode(String text) {
    try {
      return CacheMode.parse(text);
    } catch (IllegalArgumentException e) {
      throw new CliException("Invalid cache option: " + text, e);
    }
  }

  /**
   * The image rebase or commit writes, named as given or, with {@code imageOpts}, by a QEMU option string
   * ({@code --image-opts}: its file and format); an NBD export is refused.
   */
  static ImageSpec localImage(String file, boolean imageOpts) {
    ImageSpec spec = ImageSpec.parse(file, imageOpts);
    if (spec.isNbd()) {
      throw new CliException("'" + spec.label() + "': an NBD export (expected: an image in a host file)");
    }
    return spec;
  }

  /** {@code file} as a path, or qemu-img's error for an image that does not exist. */
  static Path existing(String file) {
    Path path = Path.of(file);
    if (!Files.exists(path)) {
      throw new CliException("Could not open '" + file + "': Could not open '" + file + "': No such file or directory");
    }
    return path;
  }
}
