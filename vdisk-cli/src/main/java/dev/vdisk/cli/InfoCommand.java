package dev.vdisk.cli;

import dev.vdisk.Image;
import dev.vdisk.format.ImageInfo;
import dev.vdisk.bench.matrix.SpaceBreakdown;
import dev.vdisk.io.CacheMode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk info [-f fmt] [-U] [--backing-chain] [--output=human|json] FILE}: qemu-img info's fields, human and
 * JSON text, for the image or, with {@code --backing-chain}, for every image of its chain. Opens read-only.
 * {@code --breakdown} prints instead where the image's bytes are ({@link SpaceBreakdown}), a vdisk extension.
 */
@Command(name = "info", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk info disk.qcow2", "  vdisk info --backing-chain --output=json overlay.qcow2"},
    description = "Show an image's format and sizes.")
final class InfoCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Mixin ImageOptions image;

  @Mixin OutputOption output;

  @Option(names = "--backing-chain", description = "Show every image of the backing chain, top first.")
  boolean backingChain;

  @Option(names = "--breakdown", description = "Show where the image's bytes are: metadata, data, zeroes, unused (vdisk only).")
  boolean breakdown;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image.")
  String file;

  /** qemu-img info's JSON object ({@link #json()}); absent members are null. */
  record Info(
      String backingFilenameFormat,
      List<SnapshotList.Entry> snapshots,
      long virtualSize,
      String filename,
      Integer clusterSize,
      String format,
      Long actualSize,
      FormatSpecific formatSpecific,
      String fullBackingFilename,
      Boolean encrypted,
      String backingFilename,
      Boolean dirtyFlag) implements Json.Members {
    /** The members in the order qemu-img 7.2 prints them; absent ones left out. */
    @Override
    public Map<String, Object> json() {
      Map<String, Object> m = new LinkedHashMap<>();
      putPresent(m, "backing-filename-format", backingFilenameFormat);
      putPresent(m, "snapshots", snapshots);
      m.put("virtual-size", virtualSize);
      putPresent(m, "filename", filename);
      putPresent(m, "cluster-size", clusterSize);
      putPresent(m, "format", format);
      putPresent(m, "actual-size", actualSize);
      putPresent(m, "format-specific", formatSpecific);
      putPresent(m, "full-backing-filename", fullBackingFilename);
      putPresent(m, "encrypted", encrypted);
      putPresent(m, "backing-filename", backingFilename);
      putPresent(m, "dirty-flag", dirtyFlag);
      return m;
    }

    private static void putPresent(Map<String, Object> m, String key, Object value) {
      if (value != null) {
        m.put(key, value);
      }
    }

    /**
     * This image's facts reported under a protocol's name (opened without a format layer): QEMU's rbd driver has
     * format-specific facts (empty for an image without encryption), NBD's and file's have none.
     */
    Info withFormat(String name) {
      return new Info(backingFilenameFormat, snapshots, virtualSize, filename, clusterSize, name, actualSize,
          name.equals("rbd") ? new FormatSpecific(name, Map.of()) : formatSpecific, fullBackingFilename, encrypted,
          backingFilename, dirtyFlag);
    }

    /** This image's facts under another name. */
    Info withFilename(String name) {
      return new Info(backingFilenameFormat, snapshots, virtualSize, name, clusterSize, format, actualSize,
          formatSpecific, fullBackingFilename, encrypted, backingFilename, dirtyFlag);
    }
  }

  /** {@code "format-specific": {"type": fmt, "data": {...}}}. */
  record FormatSpecific(String type, Map<String, Object> data) implements Json.Members {
    @Override
    public Map<String, Object> json() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("type", type);
      m.put("data", data);
      return m;
    }
  }

  @Override
  public Integer call() throws IOException {
    if (breakdown) {
      if (backingChain) {
        throw new CliException("--breakdown: not with --backing-chain (expected: one of them)");
      }
      SpaceBreakdown b;
      try (Image img = image.open(file, CacheMode.WRITEBACK, true, main.err())) {
        b = SpaceBreakdown.of(img, img.file().orElseThrow(() -> new CliException("--breakdown: " + file
            + " is not in a host file (expected: a local image file)")));
      }
      main.out().print(output.json() ? Json.pretty(b) + "\n" : breakdownText(file, b));
      return 0;
    }
    List<Info> infos = new ArrayList<>();
    // Without --backing-chain the backing image is not opened (qemu-img's BDRV_O_NO_BACKING): info works when it is
    // missing.
    try (Image img = image.openImage(file, backingChain)) {
      for (ImageInfo info : backingChain ? img.backingChain() : List.of(img.info())) {
        infos.add(info(info));
      }
      image.protocolFormat(file).ifPresent(name -> infos.set(0, infos.getFirst().withFormat(name)));
      image.optionsName(file).ifPresent(name -> infos.set(0, infos.getFirst().withFilename(name)));
    }
    PrintWriter out = main.out();
    if (output.json()) {
      out.println(Json.pretty(backingChain ? infos : infos.getFirst()));
    } else {
      out.print(infos.stream().map(InfoCommand::human).collect(Collectors.joining("\n")));
    }
    return 0;
  }

  /**
   * qemu-img info's JSON members for one image's facts. Where the image is in no host file (an NBD export, RBD) QEMU
   * knows no actual size; a raw image's dirty flag and cluster size come from the protocol layer, which for NBD cannot
   * tell (both left out, as qemu-img leaves them out) and for RBD can (the object size, not dirty).
   */
  static Info info(ImageInfo i) {
    List<SnapshotList.Entry> snapshots = SnapshotList.entries(i.snapshots());
    return new Info(
        i.backingFormat().orElse(null),
        snapshots.isEmpty() ? null : snapshots,
        i.virtualSize(),
        i.filename(),
        i.clusterSize().isPresent() ? i.clusterSize().getAsInt() : null,
        i.format(),
        i.actualSize().isPresent() ? i.actualSize().getAsLong() : null,
        i.formatSpecific().isEmpty() ? null : new FormatSpecific(i.format(), i.formatSpecific()),
        i.fullBackingFilename().map(Path::toString).orElse(null),
        i.encrypted() ? true : null,
        i.backingFilename().orElse(null),
        i.actualSize().isEmpty() && i.format().equals("raw") && i.clusterSize().isEmpty() ? null : i.dirty());
  }

  /** {@code --breakdown}'s human form: one {@code name: size (bytes)} line per part. */
  static String breakdownText(String file, SpaceBreakdown b) {
    StringBuilder s = new StringBuilder();
    s.append("image: ").append(file).append('\n');
    s.append("file format: ").append(b.format()).append('\n');
    line(s, "virtual size", b.virtualSize());
    line(s, "file size", b.fileSize());
    line(s, "allocated on the host", b.allocatedBytes());
    if (b.clusterSize() != 0) {
      s.append("cluster_size: ").append(b.clusterSize()).append('\n');
    }
    line(s, "metadata", b.metadata());
    line(s, "data", b.data());
    line(s, "zero (storage kept)", b.zero());
    line(s, "unused", b.unused());
    line(s, "unallocated (guest)", b.unallocated());
    return s.toString();
  }

  private static void line(StringBuilder s, String name, long bytes) {
    s.append(name).append(": ").append(Sizes.human(bytes)).append(" (").append(bytes).append(" bytes)\n");
  }

  /** qemu-img 7.2's human form. */
  static String human(Info info) {
    StringBuilder s = new StringBuilder();
    s.append("image: ").append(info.filename()).append('\n');
    s.append("file format: ").append(info.format()).append('\n');
    s.append("virtual size: ").append(Sizes.human(info.virtualSize())).append(" (").append(info.virtualSize()).append(" bytes)\n");
    s.append("disk size: ").append(info.actualSize() == null ? "unavailable" : Sizes.human(info.actualSize())).append('\n');
    if (Boolean.TRUE.equals(info.encrypted())) {
      s.append("encrypted: yes\n");
    }
    if (info.clusterSize() != null) {
      s.append("cluster_size: ").append(info.clusterSize()).append('\n');
    }
    if (Boolean.TRUE.equals(info.dirtyFlag())) {
      s.append("cleanly shut down: no\n");
    }
    if (info.backingFilename() != null) {
      s.append("backing file: ").append(info.backingFilename());
      if (!info.backingFilename().equals(info.fullBackingFilename())) {
        s.append(" (actual path: ").append(info.fullBackingFilename()).append(')');
      }
      s.append('\n');
      if (info.backingFilenameFormat() != null) {
        s.append("backing file format: ").append(info.backingFilenameFormat()).append('\n');
      }
    }
    if (info.snapshots() != null) {
      s.append("Snapshot list:\n").append(SnapshotList.table(info.snapshots()));
    }
    if (info.formatSpecific() != null) {
      s.append("Format specific information:\n");
      dump(s, 1, info.formatSpecific().data());
    }
    return s.toString();
  }

  /** QEMU's dump_qdict/dump_qlist: {@code key: value} four spaces a level, dashes in keys shown as spaces. */
  private static void dump(StringBuilder s, int level, Object value) {
    if (value instanceof Map<?, ?> map) {
      map.forEach((k, v) -> {
        s.append("    ".repeat(level)).append(k.toString().replace('-', ' ')).append(':');
        entry(s, level, v);
      });
    } else if (value instanceof List<?> list) {
      for (int i = 0; i < list.size(); i++) {
        s.append("    ".repeat(level)).append('[').append(i).append("]:");
        entry(s, level, list.get(i));
      }
    }
  }

  private static void entry(StringBuilder s, int level, Object v) {
    if (v instanceof Map<?, ?> || v instanceof List<?>) {
      s.append('\n');
      dump(s, level + 1, v);
    } else {
      s.append(' ').append(v).append('\n');
    }
  }
}
