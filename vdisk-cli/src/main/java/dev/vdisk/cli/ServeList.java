package dev.vdisk.cli;

import dev.vdisk.nbd.client.ExportListing;
import dev.vdisk.nbd.client.NbdClientOptions;
import dev.vdisk.nbd.client.NbdExports;
import dev.vdisk.nbd.client.NbdTarget;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;

/**
 * {@code vdisk serve --list}: connects to an NBD server as a client and prints its exports in {@code qemu-nbd --list}'s
 * format (name, description, size, transmission flags by name, block sizes, meta contexts).
 */
final class ServeList {
  /** qemu-nbd's names of the transmission flags from bit 1 on (bit 0 says that flags are there). */
  private static final List<String> FLAG_NAMES = List.of("readonly", "flush", "fua", "rotational", "trim", "zeroes",
      "df", "multi", "resize", "cache", "fast-zero");

  private ServeList() {}

  /** Lists the exports of the server on unix socket {@code socket}, or else at {@code host}:{@code port}. */
  static void print(String socket, String host, int port, PrintWriter out) throws IOException {
    NbdTarget target = socket != null ? new NbdTarget(null, 0, socket, "", false, socket)
        : new NbdTarget(host, port, null, "", false, host + ":" + port);
    print(NbdExports.list(target, NbdClientOptions.defaults(true)), out);
  }

  static void print(List<ExportListing> exports, PrintWriter out) {
    out.printf("exports available: %d%n", exports.size());
    for (ExportListing e : exports) {
      out.printf(" export: '%s'%n", e.name());
      if (!e.description().isEmpty()) {
        out.printf("  description: %s%n", e.description());
      }
      out.printf("  size:  %d%n", e.size());
      StringBuilder flags = new StringBuilder();
      for (int bit = 1; bit <= FLAG_NAMES.size(); bit++) {
        if ((e.flags() & (1 << bit)) != 0) {
          flags.append(' ').append(FLAG_NAMES.get(bit - 1));
        }
      }
      out.printf("  flags: 0x%x (%s )%n", e.flags(), flags);
      if (e.minBlock() != 0) {
        out.printf("  min block: %d%n", e.minBlock());
        out.printf("  opt block: %d%n", e.preferredBlock());
        out.printf("  max block: %d%n", Integer.toUnsignedLong(e.maxBlock()));
      }
      if (!e.contexts().isEmpty()) {
        out.printf("  available meta contexts: %d%n", e.contexts().size());
        for (String c : e.contexts()) {
          out.printf("   %s%n", c);
        }
      }
    }
    out.flush();
  }
}
