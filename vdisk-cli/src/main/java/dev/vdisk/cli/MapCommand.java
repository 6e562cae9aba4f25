package dev.vdisk.cli;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.vdisk.block.Extent;
import dev.vdisk.format.ImageChain;
import dev.vdisk.format.OpenImage;
import dev.vdisk.io.CacheMode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
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
@Command(name = "map", mixinStandardHelpOptions = true, description = "Show an image's allocation map.")
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

  /**
   * One range of qemu-img map's output (its MapEntry).
   *
   * @param depth the layer of the backing chain that defines the range (0 is the image itself)
   * @param offset where the range lives in the file, or null when it has no place there
   */
  @JsonPropertyOrder({"start", "length", "depth", "present", "zero", "data", "offset"})
  @JsonInclude(JsonInclude.Include.NON_NULL)
  record Entry(
      @JsonProperty("start") long start,
      @JsonProperty("length") long length,
      @JsonProperty("depth") int depth,
      @JsonProperty("present") boolean present,
      @JsonProperty("zero") boolean zero,
      @JsonProperty("data") boolean data,
      @JsonProperty("offset") Long offset) {

    static Entry of(ImageChain.Status s) {
      Extent e = s.extent();
      return new Entry(e.offset(), e.length(), s.depth(), e.present(), e.zero(), e.data(),
          e.hostOffset() == Extent.NO_OFFSET ? null : e.hostOffset());
    }

    /** qemu-img's entry_mergeable. */
    boolean mergeableWith(Entry next) {
      if (length == 0 || zero != next.zero || data != next.data || depth != next.depth || present != next.present) {
        return false;
      }
      if ((offset == null) != (next.offset == null)) {
        return false;
      }
      return offset == null || offset + length == next.offset;
    }

    Entry grow(long bytes) {
      return new Entry(start, length + bytes, depth, present, zero, data, offset);
    }

    /** The human table ignores the difference between unallocated, zero and zero-with-data (qemu-img's note). */
    Entry asHumanSees() {
      return !data || zero ? new Entry(start, length, depth, present, true, false, offset) : this;
    }
  }

  @Override
  public Integer call() throws IOException {
    boolean json = output.json();
    long start = startOffset == null ? 0 : Sizes.parse("--start-offset", startOffset);
    long max = maxLength == null ? -1 : Sizes.parse("--max-length", maxLength);
    try (OpenImage img = image.open(file, CacheMode.WRITEBACK, true, main.err())) {
      print(ImageChain.of(img, Path.of(file)), start, max, json, main.out());
    }
    return 0;
  }

  /** img_map's loop: asks for extents until the end, merges what qemu-img merges, prints each finished range. */
  static void print(ImageChain chain, long start, long maxLength, boolean json, PrintWriter out) throws IOException {
    long end = chain.layers().getFirst().device().size();
    if (maxLength >= 0) {
      end = Math.min(end, start > Long.MAX_VALUE - maxLength ? Long.MAX_VALUE : start + maxLength);
    }
    out.print(json ? "[" : String.format("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File"));
    Entry current = new Entry(start, 0, 0, false, false, false, null);
    while (current.start() + current.length() < end) {
      long at = current.start() + current.length();
      for (ImageChain.Status s : chain.status(at, end - at)) {
        Entry next = Entry.of(s);
        if (current.mergeableWith(next)) {
          current = current.grow(next.length());
          continue;
        }
        if (current.length() > 0) {
          next = dump(current, next, json, chain, out);
        }
        current = next;
      }
    }
    dump(current, null, json, chain, out);
    if (json) {
      out.println("]");
    }
  }

  /** Prints {@code e} the way dump_map_entry does; returns {@code next} as the human table then sees it. */
  private static Entry dump(Entry e, Entry next, boolean json, ImageChain chain, PrintWriter out) {
    if (json) {
      out.print(Json.line(e));
      if (next != null) {
        out.println(",");
      }
      return next;
    }
    if (e.data() && e.offset() == null) {
      throw new CliException("range at " + e.start() + " holds data with no place in the file "
          + "(expected: --output=json for images with external, encrypted or compressed data)");
    }
    if (e.data() && !e.zero()) {
      out.printf("%-16s%-16s%-16s%s\n", hex(e.start()), hex(e.length()), hex(e.offset() == null ? 0 : e.offset()),
          chain.layers().get(e.depth()).dataName());
    }
    return next == null ? null : next.asHumanSees();
  }

  /** C's {@code %#x}: {@code 0x} before non-zero values only. */
  private static String hex(long v) {
    return v == 0 ? "0" : "0x" + Long.toHexString(v);
  }
}
