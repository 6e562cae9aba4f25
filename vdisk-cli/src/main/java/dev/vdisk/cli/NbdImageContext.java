package dev.vdisk.cli;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.format.Backing;
import dev.vdisk.format.ImageContext;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The context of an image on an NBD export: it is printed under QEMU's name for the export, and it names no file
 * vdisk could open beside it, so an external data file is refused and so is a backing file, except where the open
 * is for the image's own facts (qemu-img info), which does not open the backing file.
 */
final class NbdImageContext implements ImageContext {
  private final String label;
  private final ImageContext refusing;
  private final boolean backing;

  NbdImageContext(String label, boolean readOnly, boolean backing) {
    this.label = label;
    this.refusing = ImageContext.standalone(Path.of(label), readOnly);
    this.backing = backing;
  }

  @Override
  public Path name() {
    return refusing.name();
  }

  @Override
  public String label() {
    return label;
  }

  @Override
  public boolean readOnly() {
    return refusing.readOnly();
  }

  @Override
  public BlockDevice openDataFile(String name) throws IOException {
    return refusing.openDataFile(name);
  }

  @Override
  public Optional<Backing> openBacking(String name, Optional<String> format) throws IOException {
    return backing ? refusing.openBacking(name, format) : Optional.empty();
  }
}
