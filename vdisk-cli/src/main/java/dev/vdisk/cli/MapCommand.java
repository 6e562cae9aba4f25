package dev.vdisk.cli;

import dev.vdisk.Image;
import dev.vdisk.format.BlockStatus;
import dev.vdisk.format.ImageChain;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk map [-f fmt] [-U] [--output=human|json] [--start-offset N] [--max-length N] FILE}: qemu-img
 * map's ranges, merged and printed as qemu-img 7.2 does (JSON: one object per line; human: the table of
 * ranges holding data). Opens the image read-only.
 */
@Command(name = "map", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk map --output=json disk.qcow2"},
    description = "Show an image's allocation map.")
final class MapCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Mixin ImageOptions image;

  @Mixin OutputOption output;

  @Option(names = "--start-offset", paramLabel = "N", description = "First byte to map (default 0).")
  String startOffset;

  @Option(names = "--max-length", paramLabel = "N", description = "Bytes to map at most (default: to the end).")
  String maxLength;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image.")
  String file;

  /** qemu-img map's JSON object for one range, keys in its order: {@code offset} only where the range has a place in a file. */
  static Map<String, Object> json(BlockStatus e) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("start", e.offset());
    m.put("length", e.length());
    m.put("depth", e.depth());
    m.put("present", e.allocated());
    m.put("zero", e.zero());
    m.put("data", e.data());
    if (e.hasOffset()) {
      m.put("offset", e.hostOffset());
    }
    return m;
  }

  @Override
  public Integer call() throws IOException {
    boolean json = output.json();
    long start = startOffset == null ? 0 : Sizes.parse("--start-offset", startOffset);
    long max = maxLength == null ? -1 : Sizes.parse("--max-length", maxLength);
    try (Image img = image.openImage(file, true)) {
      print(img, start, max, json, main.out());
    }
    return 0;
  }

  /**
   * Prints the map of {@code image}'s chain ({@link Image#map}) from {@code start} as qemu-img 7.2's
   * {@code dump_map_entry} does.
   */
  static void print(Image image, long start, long maxLength, boolean json, PrintWriter out) throws IOException {
    out.print(json ? "[" : String.format("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File"));
    boolean[] first = {true};
    image.map(start, maxLength, e -> {
      if (json) {
        out.print((first[0] ? "" : ",\n") + Json.line(json(e)));
      } else {
        human(e, first[0], image.chain(), out);
      }
      first[0] = false;
    });
    if (json) {
      out.println("]");
    }
  }

  /**
   * One line of the human table: ranges holding data. The table ignores the difference between unallocated, zero
   * and zero-with-data after the first range (qemu-img clears DATA on the ranges it has not printed yet), which
   * decides which ranges count as holding data with no place in the file.
   */
  private static void human(BlockStatus e, boolean first, ImageChain chain, PrintWriter out) throws IOException {
    boolean data = e.data() && (first || !e.zero());
    if (data && !e.hasOffset()) {
      throw new CliException("range at " + e.offset() + " holds data with no place in the file "
          + "(expected: --output=json for images with external, encrypted or compressed data)");
    }
    if (data && !e.zero()) {
      out.printf("%-16s%-16s%-16s%s\n", hex(e.offset()), hex(e.length()), hex(e.hostOffset()),
          chain.layers().get(e.depth()).dataName());
    }
  }

  /** C's {@code %#x}: {@code 0x} before non-zero values only. */
  private static String hex(long v) {
    return v == 0 ? "0" : "0x" + Long.toHexString(v);
  }
}
