package dev.vdisk.cli;

import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.format.BitmapEdit;
import dev.vdisk.io.CacheMode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b SOURCE_FILE
 * [-F SOURCE_FMT]] [-g GRANULARITY] [-f FMT] FILE BITMAP}: qemu-img bitmap. The operations run in the order given
 * on one persistent dirty bitmap of a qcow2 image, with qemu-img's checks, messages and exit code 1 on failure
 * (operations before a failing one stay applied, as in qemu-img).
 */
@Command(name = "bitmap", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk bitmap --add disk.qcow2 backup-1", "  vdisk bitmap --remove disk.qcow2 backup-1"},
    description = "Add, remove, clear, enable, disable or "
    + "merge persistent dirty bitmaps of a qcow2 image.")
final class BitmapCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Mixin ImageOptions image;

  /** The operations in command-line order (a merge's source image is added when it is open). */
  private final List<BitmapEdit> ops = new ArrayList<>();

  @Option(names = "--add", description = "Create the bitmap (enabled, empty).")
  void add(boolean on) {
    ops.add(BitmapEdit.add(0));
  }

  @Option(names = "--remove", description = "Delete the bitmap.")
  void remove(boolean on) {
    ops.add(BitmapEdit.of(BitmapEdit.Op.REMOVE));
  }

  @Option(names = "--clear", description = "Clear every bit of the bitmap.")
  void clear(boolean on) {
    ops.add(BitmapEdit.of(BitmapEdit.Op.CLEAR));
  }

  @Option(names = "--enable", description = "Let the bitmap track writes.")
  void enable(boolean on) {
    ops.add(BitmapEdit.of(BitmapEdit.Op.ENABLE));
  }

  @Option(names = "--disable", description = "Stop the bitmap tracking writes.")
  void disable(boolean on) {
    ops.add(BitmapEdit.of(BitmapEdit.Op.DISABLE));
  }

  @Option(names = "--merge", paramLabel = "SOURCE", description = "Set the bits that bitmap SOURCE has set.")
  void merge(String source) {
    ops.add(BitmapEdit.merge(source, null));
  }

  @Option(names = "-g", paramLabel = "GRANULARITY", description = "Bytes per bit of a bitmap --add creates (a power of "
      + "2 from 512; default: the cluster size within 4k to 64k).")
  String granularity;

  @Option(names = "-b", paramLabel = "SOURCE_FILE", description = "The image whose bitmap --merge reads.")
  String sourceFile;

  @Option(names = "-F", paramLabel = "SOURCE_FMT", description = "The format of SOURCE_FILE.")
  String sourceFormat;

  @Parameters(paramLabel = "FILE BITMAP", arity = "0..*", description = "The image and the bitmap's name.")
  List<String> args = new ArrayList<>();

  @Override
  public Integer call() throws IOException {
    long g = granularity == null ? 0 : granularity();
    if (ops.isEmpty()) {
      throw new CliException("Need at least one of --add, --remove, --clear, --enable, --disable, or --merge");
    }
    if (g != 0 && ops.stream().noneMatch(o -> o.op() == BitmapEdit.Op.ADD)) {
      throw new CliException("granularity only supported with --add");
    }
    if (sourceFormat != null && sourceFile == null) {
      throw new CliException("-F only supported with -b");
    }
    if (sourceFile != null && ops.stream().noneMatch(o -> o.op() == BitmapEdit.Op.MERGE)) {
      throw new CliException("Merge bitmap source file only supported with --merge");
    }
    if (args.size() != 2) {
      throw new CliException("Expecting filename and bitmap name");
    }
    String name = args.get(1);
    try (Image img = image.open(args.get(0), CacheMode.WRITEBACK, false, main.err());
        Image source = sourceFile == null ? null
            : Vdisk.open(Path.of(sourceFile), OpenOptions.builder().format(sourceFormat).readOnly(true).build())) {
      List<BitmapEdit> actions = new ArrayList<>();
      for (BitmapEdit op : ops) {
        actions.add(new BitmapEdit(op.op(), op.op() == BitmapEdit.Op.ADD ? g : 0, op.source(), source));
      }
      if (!img.format().equals("qcow2")) {
        // Only qcow2 stores bitmaps: QEMU finds none elsewhere, and cannot add one.
        String first = name(actions.getFirst());
        throw new CliException("Operation " + first + " on bitmap " + name + " failed: " + (first.equals("add")
            ? "Can't store persistent bitmaps to '" + args.get(0) + "': Operation not supported"
            : "Dirty bitmap '" + name + "' not found"));
      }
      for (BitmapEdit a : actions) {
        try {
          img.editBitmap(name, a);
        } catch (BlockDeviceException e) {
          throw new CliException("Operation " + name(a) + " on bitmap " + name + " failed: " + e.getMessage());
        }
      }
    }
    return 0;
  }

  /** The operation as qemu-img names it in its messages: {@code add}, {@code merge}, ... */
  private static String name(BitmapEdit edit) {
    return edit.op().name().toLowerCase(Locale.ROOT);
  }

  /** qemu-img's {@code cvtnum} of {@code -g}, with its message for what it cannot read. */
  private long granularity() {
    try {
      return Sizes.parse("-g", granularity);
    } catch (IllegalArgumentException e) {
      throw new CliException("Invalid granularity specified. You may use k, M, G, T, P or E suffixes for "
          + "kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
    }
  }
}
