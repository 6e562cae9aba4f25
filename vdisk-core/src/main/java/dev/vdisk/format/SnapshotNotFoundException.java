package dev.vdisk.format;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;

/** No internal snapshot has the ID or name asked for (QEMU: ENOENT). */
public final class SnapshotNotFoundException extends BlockDeviceException {
  private static final long serialVersionUID = 1L;

  /** No snapshot has the ID or name {@code idOrName}. */
  public SnapshotNotFoundException(String idOrName) {
    super(BlockError.EINVAL, "snapshot '" + idOrName + "': not found (expected: the ID or name of a snapshot the "
        + "image has)");
  }
}
