package dev.vdisk.cli;

import dev.vdisk.CreateOptions;
import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.internal.FormatRegistry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk dd [-f FMT] [-O OUTPUT_FMT] [-U] [--image-opts] [bs=BYTES] [count=BLOCKS] [skip=BLOCKS] if=INPUT
 * of=OUTPUT}: qemu-img 7.2's dd. The output is created (replaced if it exists) with the size of what is copied:
 * {@code min(input size, count * bs) - skip * bs} (0 when skip lies past the input, with qemu-img's warning and exit
 * 0), then filled block by block from input offset {@code skip * bs}; every block is written, zeroes too, as
 * qemu-img writes them. {@code bs} defaults to 512 and takes 1 to 2147483647 bytes, {@code count} and {@code skip}
 * are in blocks; all three take qemu-img's size syntax (suffixes k to E). Messages and exit codes are qemu-img's.
 */
@Command(name = "dd", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk dd -O qcow2 bs=1M count=64 if=disk.raw of=head.qcow2"},
    description = "Copy part of an image into a new image, as dd(1).")
final class DdCommand implements Callable<Integer> {
  private static final String SUFFIX_HELP = "You may use k, M, G, T, P or E suffixes for\n"
      + "kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.";

  @ParentCommand Main main;

  @Option(names = "-f", paramLabel = "FMT", description = "Input format; probed when absent.")
  String format;

  @Option(names = "-O", paramLabel = "OUTPUT_FMT", defaultValue = "raw", description = "Output format (default: raw).")
  String outputFormat;

  @Option(names = "-U", description = "Open the input even if another process holds it.")
  boolean forceShare;

  @Option(names = "--image-opts", description = "INPUT is driver=raw|qcow2,file.filename=PATH[,encrypt.key-secret=ID].")
  boolean imageOpts;

  @Option(names = "--object", paramLabel = "OBJECT", description = "secret,id=ID,data=TEXT|file=PATH[,format=raw|base64]: "
      + "an encrypted input's password (encrypt.key-secret=ID in --image-opts).")
  List<String> objects = new ArrayList<>();

  @Parameters(arity = "0..*", paramLabel = "OPERAND", description = "bs=BYTES, count=BLOCKS, skip=BLOCKS, if=INPUT, of=OUTPUT.")
  List<String> operands = new ArrayList<>();

  @Override
  public Integer call() throws IOException {
    long bs = 512;
    Long count = null;
    long skip = 0;
    String in = null;
    String out = null;
    for (String operand : operands) {
      int eq = operand.indexOf('=');
      String name = eq < 0 ? operand : operand.substring(0, eq);
      String value = eq < 0 ? "" : operand.substring(eq + 1);
      switch (eq < 0 ? "" : name) {
        case "bs" -> bs = number("bs", value, 1, Integer.MAX_VALUE);
        case "count" -> count = number("count", value, 0, Long.MAX_VALUE);
        case "skip" -> skip = number("skip", value, 0, Long.MAX_VALUE);
        case "if" -> in = value;
        case "of" -> out = value;
        default -> throw new CliException("unrecognized operand " + name);
      }
    }
    if (in == null || out == null) {
      throw new CliException("Must specify both input and output files");
    }
    String inFormat = format;
    byte[] key = null;
    if (imageOpts) {
      ImageOptsFile opts = ImageOptsFile.parseWithKey(in);
      inFormat = opts.format();
      in = opts.file();
      key = opts.keySecret() == null ? null : SecretObject.value(secrets(), opts.keySecret());
    }
    try (Image input = openInput(in, inFormat, key)) {
      ImageFormat target = outputFormat(outputFormat);
      long size = input.size();
      if (count != null && count <= Long.MAX_VALUE / bs && size > count * bs) {
        size = count * bs;
      }
      boolean pastEnd = skip > Long.MAX_VALUE / bs || size < skip * bs;
      create(target, out, pastEnd ? 0 : size - skip * bs);
      try (Image output = Vdisk.open(Path.of(out), OpenOptions.builder().format(target.name()).build())) {
        long inPos = skip * bs;
        if (pastEnd) {
          main.err().println("vdisk dd: " + in + ": cannot skip to specified offset");
          main.err().flush();
          inPos = size;
        }
        copy(input, output, inPos, size, (int) bs);
        output.flush();
      }
    }
    return 0;
  }

  /** qemu-img's copy loop: blocks of {@code bs} bytes (the last one shorter) from {@code inPos} up to {@code end}. */
  private static void copy(Image input, Image output, long inPos, long end, int bs) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(bs);
    for (long outPos = 0; inPos < end; ) {
      int bytes = (int) Math.min(bs, end - inPos);
      buf.clear().limit(bytes);
      input.read(inPos, buf);
      buf.flip();
      output.write(outPos, buf, Set.of());
      inPos += bytes;
      outPos += bytes;
    }
  }

  /** The {@code --object secret} values by id; other objects are refused. */
  private Map<String, byte[]> secrets() {
    Map<String, byte[]> secrets = new HashMap<>();
    for (String o : objects) {
      if (!SecretObject.isSecret(o)) {
        throw new CliException("--object " + o + ": not a secret (expected: secret,id=ID,data=TEXT|file=PATH)");
      }
      SecretObject secret = SecretObject.parse(o);
      secrets.put(secret.id(), secret.value());
    }
    return secrets;
  }

  private Image openInput(String in, String inFormat, byte[] key) throws IOException {
    Path path = Path.of(in);
    if (in.isEmpty()) {
      throw new CliException("Could not open '': The 'file' block driver requires a file name");
    }
    if (!Files.exists(path)) {
      throw new CliException("Could not open '" + in + "': Could not open '" + in + "': No such file or directory");
    }
    try {
      return Vdisk.open(path, OpenOptions.builder().format(inFormat).readOnly(true).forceShare(forceShare)
          .encryptionKey(key).build());
    } catch (IOException | IllegalArgumentException e) {
      throw new CliException("Could not open '" + in + "': " + Main.describe(e), e);
    }
  }

  private static ImageFormat outputFormat(String name) {
    try {
      return FormatRegistry.byName(name);
    } catch (IllegalArgumentException e) {
      throw new CliException("Unknown file format");
    }
  }

  /** Creates (or replaces) the output of {@code size} bytes, which the format rounds up to 512 as qemu-img's does. */
  private static void create(ImageFormat target, String out, long size) throws IOException {
    try {
      Vdisk.create(Path.of(out), size, CreateOptions.parse(target.name(), Map.of()), true);
    } catch (NoSuchFileException e) {
      throw new CliException(out + ": error while creating output image: Could not create '" + out
          + "': No such file or directory", e);
    } catch (IOException e) {
      throw new CliException(out + ": error while creating output image: " + Main.describe(e), e);
    }
  }

  /** qemu-img's {@code cvtnum_full}: a size in its syntax, within {@code [min, max]}, else its two messages. */
  private static long number(String name, String value, long min, long max) {
    long n;
    try {
      n = Sizes.parse(name, value);
    } catch (IllegalArgumentException e) {
      if (e.getMessage().contains("too large")) {
        throw range(name, min, max);
      }
      throw new CliException("Invalid " + name + " specified. " + SUFFIX_HELP);
    }
    if (n < min || n > max) {
      throw range(name, min, max);
    }
    return n;
  }

  private static CliException range(String name, long min, long max) {
    return new CliException("Invalid " + name + " specified. Must be between " + min + " and " + max + ".");
  }
}
