package dev.vdisk.cli;

import dev.vdisk.Image;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.ImageUser;
import dev.vdisk.io.internal.DirectBuffers;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine;

/**
 * {@code vdisk io [-f fmt] [-t cache] [-r] [-U] -c CMD... FILE}: qemu-io's scripted mode. Each {@code -c} is
 * one of {@code read}, {@code write}, {@code discard}, {@code flush}, {@code map}, printed as qemu-io prints
 * it. Every command is parsed before the image is opened; then they run in order, and, as in qemu-io, a
 * failed command does not stop the ones after it: its error goes to stderr and the exit status becomes 1.
 */
@Command(name = "io", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk io -c 'write -P 0xab 0 64k' -c 'read -P 0xab 0 64k' disk.qcow2"},
    description = "Run qemu-io style I/O commands on an image.")
final class IoCommand implements Callable<Integer> {
  /** qemu-io's default pattern byte for writes. */
  static final int DEFAULT_PATTERN = 0xcd;

  @ParentCommand Main main;

  @Mixin ImageOptions image;

  @Mixin AioOption aio;

  @Option(names = "-t", paramLabel = "CACHE", defaultValue = "writeback",
      description = "Cache mode: writeback (default), writethrough, none, directsync, unsafe.")
  String cache;

  @Option(names = "-r", description = "Open read-only.")
  boolean readOnly;

  @Option(names = "-c", paramLabel = "CMD", required = true,
      description = "A command (repeatable): read [-P pattern] [-q] OFF LEN; write [-P pattern | -z [-u]] [-c] [-f] [-q] OFF LEN; "
          + "discard [-q] OFF LEN; flush; map.")
  List<String> commands;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image.")
  String file;

  @Override
  public Integer call() throws IOException {
    CacheMode mode = CacheMode.parse(cache);
    List<Op> ops = new ArrayList<>();
    for (String c : commands) {
      ops.add(parse(c));
    }
    PrintWriter out = main.out();
    boolean ok = true;
    try (Image img = image.open(file, mode, aio.mode(mode), readOnly, ImageUser.TOOL, main.err())) {
      for (Op op : ops) {
        try {
          ok &= op.run(img, out);
        } catch (IOException | RuntimeException e) {
          out.flush();
          main.err().println(Main.errorLine("io", Main.describe(e)));
          ok = false;
        }
        out.flush();
      }
    }
    return ok ? 0 : 1;
  }

  /** One parsed {@code -c} command. */
  interface Op {
    /** Converts and checks the arguments picocli took as text. */
    void prepare();

    /** Runs the command and prints its report; false if it ran but found a problem (a pattern mismatch). */
    boolean run(BlockDevice device, PrintWriter out) throws IOException;
  }

  /** The {@code -c} grammar, parsed by picocli like every other command line of vdisk. */
  @Command(name = "-c", subcommands = {Read.class, Write.class, Discard.class, Flush.class, MapOp.class})
  static final class Commands {}

  static Op parse(String text) {
    List<String> words = words(text);
    if (words.isEmpty()) {
      throw new CliException("-c '': empty command (expected: read, write, discard, flush or map)");
    }
    CommandLine cl = new CommandLine(new Commands());
    try {
      CommandLine.ParseResult parsed = cl.parseArgs(words.toArray(String[]::new));
      Op op = parsed.subcommand().commandSpec().commandLine().getCommand();
      op.prepare();
      return op;
    } catch (ParameterException e) {
      String usage = e.getCommandLine() == cl ? "read, write, discard, flush or map"
          : "vdisk io -c '" + e.getCommandLine().getCommandSpec().usageMessage().customSynopsis()[0] + "'";
      String what = e.getCommandLine() == cl ? "unknown command '" + words.getFirst() + "'" : e.getMessage();
      throw new CliException("-c '" + text + "': " + what + " (expected: " + usage + ")");
    } catch (CliException | IllegalArgumentException e) {
      throw new CliException("-c '" + text + "': " + e.getMessage());
    }
  }

  /** Splits a command into words at blanks; single or double quotes keep blanks inside a word. */
  static List<String> words(String text) {
    List<String> words = new ArrayList<>();
    StringBuilder word = null;
    char quote = 0;
    for (char c : text.toCharArray()) {
      if (quote != 0) {
        if (c == quote) {
          quote = 0;
        } else {
          word.append(c);
        }
      } else if (c == '"' || c == '\'') {
        quote = c;
        word = word == null ? new StringBuilder() : word;
      } else if (Character.isWhitespace(c)) {
        if (word != null) {
          words.add(word.toString());
          word = null;
        }
      } else {
        word = word == null ? new StringBuilder() : word;
        word.append(c);
      }
    }
    if (quote != 0) {
      throw new CliException("-c '" + text + "': unbalanced quote (expected: quotes in pairs)");
    }
    if (word != null) {
      words.add(word.toString());
    }
    return words;
  }

  /** Offset and length, the two positional arguments of read, write and discard. */
  abstract static class Range {
    @Parameters(index = "0", paramLabel = "OFF") String offsetText;
    @Parameters(index = "1", paramLabel = "LEN") String lengthText;
    @Option(names = "-q", description = "Print no report.") boolean quiet;
    long offset;
    long length;

    void prepareRange(boolean buffered) {
      offset = Sizes.parse("offset", offsetText);
      length = Sizes.parse("length", lengthText);
      if (buffered && length > DirectBuffers.MAX_SIZE) {
        throw new CliException("length: '" + lengthText + "' is too large for one request (expected: at most "
            + DirectBuffers.MAX_SIZE + " bytes)");
      }
    }

    ByteBuffer buffer() {
      return DirectBuffers.aligned((int) length);
    }

    void report(PrintWriter out, String verb, long nanos) {
      if (!quiet) {
        out.println(verb + " " + length + "/" + length + " bytes at offset " + offset);
        out.println(timing(length, 1, nanos));
      }
    }
  }

  @Command(name = "read", customSynopsis = "read [-P pattern] [-q] OFF LEN", description = "Read LEN bytes at OFF.")
  static final class Read extends Range implements Op {
    @Option(names = "-P", paramLabel = "PATTERN", description = "Check that every byte read is PATTERN.")
    String patternText;

    int pattern = -1;

    @Override
    public void prepare() {
      prepareRange(true);
      if (patternText != null) {
        pattern = patternByte(patternText);
      }
    }

    @Override
    public boolean run(BlockDevice device, PrintWriter out) throws IOException {
      ByteBuffer buf = buffer();
      long t0 = System.nanoTime();
      device.read(offset, buf);
      long nanos = System.nanoTime() - t0;
      boolean ok = true;
      if (pattern >= 0) {
        buf.flip();
        while (buf.hasRemaining()) {
          if (buf.get() != (byte) pattern) {
            // qemu-io names the request, not the first differing byte.
            out.println("Pattern verification failed at offset " + offset + ", " + length + " bytes");
            ok = false;
            break;
          }
        }
      }
      report(out, "read", nanos);
      return ok;
    }
  }

  @Command(name = "write", customSynopsis = "write [-P pattern | -z [-u]] [-c] [-f] [-q] OFF LEN",
      description = "Write LEN bytes of a pattern (default 0xcd), or zeroes, at OFF.")
  static final class Write extends Range implements Op {
    @Option(names = "-P", paramLabel = "PATTERN", description = "The byte to write (default 0xcd).")
    String patternText;

    @Option(names = "-z", description = "Write zeroes without a data transfer.")
    boolean zeroes;

    @Option(names = "-u", description = "With -z: the zeroed range may give its storage back.")
    boolean unmap;

    @Option(names = "-f", description = "Force unit access: durable on return.")
    boolean fua;

    @Option(names = "-c", description = "Store the data compressed (qcow2; whole clusters not yet allocated).")
    boolean compressed;

    int pattern = DEFAULT_PATTERN;

    @Override
    public void prepare() {
      if (zeroes && patternText != null) {
        throw new CliException("-z and -P together (expected: only one of -z and -P)");
      }
      if (unmap && !zeroes) {
        throw new CliException("-u without -z (expected: -u only with -z)");
      }
      if (compressed && zeroes) {
        throw new CliException("-c and -z together (expected: only one of -c and -z)");
      }
      prepareRange(!zeroes);
      if (patternText != null) {
        pattern = patternByte(patternText);
      }
    }

    @Override
    public boolean run(BlockDevice device, PrintWriter out) throws IOException {
      Set<WriteFlag> flags = EnumSet.noneOf(WriteFlag.class);
      if (fua) {
        flags.add(WriteFlag.FUA);
      }
      if (compressed) {
        flags.add(WriteFlag.COMPRESSED);
      }
      long nanos;
      if (zeroes) {
        if (unmap) {
          flags.add(WriteFlag.MAY_TRIM);
        }
        long t0 = System.nanoTime();
        device.writeZeroes(offset, length, flags);
        nanos = System.nanoTime() - t0;
      } else {
        ByteBuffer buf = buffer();
        while (buf.hasRemaining()) {
          buf.put((byte) pattern);
        }
        buf.flip();
        long t0 = System.nanoTime();
        device.write(offset, buf, flags);
        nanos = System.nanoTime() - t0;
      }
      report(out, "wrote", nanos);
      return true;
    }
  }

  @Command(name = "discard", customSynopsis = "discard [-q] OFF LEN", description = "Discard LEN bytes at OFF.")
  static final class Discard extends Range implements Op {
    @Override
    public void prepare() {
      prepareRange(false);
    }

    @Override
    public boolean run(BlockDevice device, PrintWriter out) throws IOException {
      long t0 = System.nanoTime();
      device.discard(offset, length);
      report(out, "discard", System.nanoTime() - t0);
      return true;
    }
  }

  @Command(name = "flush", customSynopsis = "flush", description = "Make completed writes durable.")
  static final class Flush implements Op {
    @Override
    public void prepare() {}

    @Override
    public boolean run(BlockDevice device, PrintWriter out) throws IOException {
      device.flush();
      return true;
    }
  }

  @Command(name = "map", customSynopsis = "map", description = "List allocated and unallocated ranges.")
  static final class MapOp implements Op {
    @Override
    public void prepare() {}

    /** qemu-io's map: runs of the same allocation state, merged. */
    @Override
    public boolean run(BlockDevice device, PrintWriter out) throws IOException {
      long size = device.size();
      long runStart = 0;
      Boolean runPresent = null;
      long at = 0;
      while (at < size) {
        for (Extent e : device.extents(at, size - at)) {
          if (runPresent != null && e.present() != runPresent) {
            printRun(out, runStart, e.offset() - runStart, runPresent);
            runStart = e.offset();
          }
          runPresent = e.present();
          at = e.end();
        }
      }
      if (runPresent != null) {
        printRun(out, runStart, size - runStart, runPresent);
      }
      return true;
    }

    private static void printRun(PrintWriter out, long start, long length, boolean present) {
      out.println(Sizes.ioAmount(length) + " (0x" + Long.toHexString(length) + ") bytes "
          + (present ? "    allocated" : "not allocated") + " at offset " + Sizes.ioAmount(start)
          + " (0x" + Long.toHexString(start) + ")");
    }
  }

  /** qemu-io's pattern byte: strtol base 0, 0 to 255. */
  static int patternByte(String text) {
    return Args.integer("pattern", text, 0, 255);
  }

  /**
   * qemu-io's second report line: {@code 64 KiB, 1 ops; 00.00 sec (43.525 MiB/sec and 696.3963 ops/sec)};
   * from one second on the time reads {@code 0:00:01.90}.
   */
  static String timing(long bytes, int ops, long nanos) {
    double seconds = Math.max(nanos, 1) / 1e9;
    long whole = nanos / 1_000_000_000L;
    double frac = (nanos % 1_000_000_000L) / 1e9;
    String time = whole == 0
        ? zeroPad(Sizes.fixed(frac, 2)) + " sec"
        : String.format("%d:%02d:%s", whole / 3600, whole % 3600 / 60, zeroPad(Sizes.fixed(whole % 60 + frac, 2)));
    return Sizes.ioAmount(bytes) + ", " + ops + " ops; " + time + " (" + Sizes.ioAmount(bytes / seconds) + "/sec and "
        + Sizes.fixed(ops / seconds, 4) + " ops/sec)";
  }

  // C's %05.2f: at least five characters, zeroes in front.
  private static String zeroPad(String s) {
    return "0".repeat(Math.max(0, 5 - s.length())) + s;
  }
}
