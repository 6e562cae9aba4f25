package dev.vdisk.block;

import java.io.IOException;

/** An {@link IOException} with the {@link BlockError} a peer is told. Messages follow {@code what: value (expected: ...)}. */
public class BlockDeviceException extends IOException {
  /** The errno-like code. */
  private final BlockError error;

  /** A failure with an errno-like {@code error} and a message in the {@code what: value (expected: ...)} form. */
  public BlockDeviceException(BlockError error, String message) {
    super(message);
    this.error = error;
  }

  /** A failure with an errno-like {@code error}, a message in the {@code what: value (expected: ...)} form, and its cause. */
  public BlockDeviceException(BlockError error, String message, Throwable cause) {
    super(message, cause);
    this.error = error;
  }

  /** The errno-like code: what kind of failure this is (NBD and the CLI map it to their error codes). */
  public BlockError error() {
    return error;
  }

  /** The error a peer should see for any {@link IOException}: its own if it has one, else EIO. */
  public static BlockError errorOf(IOException e) {
    return e instanceof BlockDeviceException b ? b.error : BlockError.EIO;
  }
}
