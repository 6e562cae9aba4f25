package dev.vdisk.cli;

/**
 * A wrong argument or an unusable file, found by the CLI itself. Its message is the text of the error line
 * after {@code vdisk <cmd>: }, in the form {@code what is wrong (expected: ...)}.
 */
final class CliException extends RuntimeException {
  CliException(String message) {
    super(message);
  }

  /** The same, for a failure of a lower layer ({@code --debug} prints its trace). */
  CliException(String message, Throwable cause) {
    super(message, cause);
  }
}
