package dev.vdisk.block;

import java.io.IOException;

/** An {@link IOException} with the {@link BlockError} a peer is told. Messages follow {@code what: value (expected: ...)}. */
public class BlockDeviceException extends IOException {
  private final BlockError error;

  public BlockDeviceException(BlockError error, String message) {
    super(message);
    this.error = error;
  }

  public BlockDeviceException(BlockError error, String message, Throwable cause) {
    super(message, cause);
    this.error = error;
  }

  public BlockError error() {
    return error;
  }

  /** The error a peer should see for any {@link IOException}: its own if it has one, else EIO. */
  public static BlockError errorOf(IOException e) {
    return e instanceof BlockDeviceException b ? b.error : BlockError.EIO;
  }
}
