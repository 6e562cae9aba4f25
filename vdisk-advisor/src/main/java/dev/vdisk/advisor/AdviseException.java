package dev.vdisk.advisor;

/**
 * An input the advisor cannot read: malformed or refused XML (with its line and column), a command line it cannot
 * split, a bench report it cannot use. The message is one line in the {@code what (expected: ...)} form.
 */
public final class AdviseException extends Exception {
  public AdviseException(String message) {
    super(message);
  }

  public AdviseException(String message, Throwable cause) {
    super(message, cause);
  }
}
