package dev.vdisk.cli;

/** Integer arguments that are not byte counts (counts, depths, pattern bytes), read the way QEMU's tools read them. */
final class Args {
  private Args() {}

  /**
   * C's {@code strtol} with base 0, as qemu-img and qemu-io use it: decimal, {@code 0x} hex or {@code 0}
   * octal, within {@code [min, max]}.
   *
   * @throws CliException {@code what: 'text' (expected: an integer from min to max)}
   */
  static int integer(String what, String text, int min, int max) {
    long value;
    try {
      value = Long.decode(text.strip());
    } catch (NumberFormatException e) {
      value = Long.MIN_VALUE;
    }
    if (value < min || value > max) {
      throw new CliException(what + ": '" + text + "' (expected: an integer from " + min + " to " + max + ")");
    }
    return (int) value;
  }
}
