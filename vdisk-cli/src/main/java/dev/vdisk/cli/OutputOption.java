package dev.vdisk.cli;

import picocli.CommandLine.Option;

/** {@code --output=human|json}, as in qemu-img. */
final class OutputOption {
  @Option(names = "--output", paramLabel = "human|json", defaultValue = "human",
      description = "Output format: human (default) or json.")
  String output;

  /** True for json, false for human. */
  boolean json() {
    return switch (output) {
      case "human" -> false;
      case "json" -> true;
      default -> throw new CliException("--output: '" + output + "' (expected: human or json)");
    };
  }
}
