package dev.vdisk.format.qcow2;

import dev.vdisk.OpenOptions;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.format.BitmapEdit;
import dev.vdisk.format.FormatImage;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.testkit.SpawnGuard;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The starting images of the crash tests, made by vdisk itself (its {@code create} writes qemu-img's bytes, see
 * {@code Qcow2CreateInteropIT}), so that the crash tests run where QEMU is not installed. A layout is a qemu-img
 * {@code -o} option list, optionally followed by {@code " + backing"} (an overlay over a qcow2 backing file holding
 * data, a zero cluster and unallocated space) or {@code " + bitmaps"} (two enabled persistent bitmaps, of 64 KiB
 * and 512-byte granularity, and a disabled one). {@link #make} builds other tests' layouts from qemu-img's and
 * qemu-io's words, also through vdisk.
 */
final class CrashImages {
  private CrashImages() {}

  /**
   * Creates image {@code name} of {@code size} bytes in {@code dir} with {@code layout}, and returns what the guest
   * sees in it, {@code maxSize} bytes (a backing file's data, zeroes elsewhere).
   */
  static byte[] create(Path dir, String name, String layout, int size, int maxSize) throws IOException {
    // It closes and reopens the image while other cases may start qemu-img.
    return SpawnGuard.setUp(() -> createUnguarded(dir, name, layout, size, maxSize));
  }

  private static byte[] createUnguarded(Path dir, String name, String layout, int size, int maxSize) throws IOException {
    byte[] guest = new byte[maxSize];
    Path image = dir.resolve(name);
    Map<String, String> options = options(dir, layout.replace(" + backing", "").replace(" + bitmaps", ""));
    if (layout.endsWith(" + backing")) {
      String backing = "backing-" + name;
      new Qcow2Format().create(dir.resolve(backing), size, Map.of(), false);
      try (OpenImage b = Images.open(dir.resolve(backing), "qcow2", FileOptions.of(CacheMode.WRITEBACK, false))) {
        BlockDevice d = b.device();
        byte[] data = new byte[3 << 20];
        Arrays.fill(data, (byte) 0x5a);
        d.write(0, ByteBuffer.wrap(data), Set.of());
        d.writeZeroes(1 << 20, 64 << 10, Set.of());
        d.flush();
      }
      Arrays.fill(guest, 0, 3 << 20, (byte) 0x5a);
      Arrays.fill(guest, 1 << 20, (1 << 20) + (64 << 10), (byte) 0);
      options.put("backing_file", backing);
      options.put("backing_fmt", "qcow2");
    }
    new Qcow2Format().create(image, size, options, false);
    if (layout.endsWith(" + bitmaps")) {
      try (OpenImage img = Images.open(image, "qcow2", FileOptions.of(CacheMode.WRITEBACK, false))) {
        FormatImage q = FilterDevice.find(img.device(), FormatImage.class);
        q.editBitmap("b1", BitmapEdit.add(65536));
        q.editBitmap("b2", BitmapEdit.add(512));
        q.editBitmap("b3", BitmapEdit.add(65536));
        q.editBitmap("b3", BitmapEdit.of(BitmapEdit.Op.DISABLE));
      }
    }
    return guest;
  }

  /**
   * {@code a=1,b=2} as a map, in order; a {@code data_file} name made absolute in {@code dir}, since a relative one is
   * relative to the current directory (as in QEMU), which is not the test's.
   */
  private static Map<String, String> options(Path dir, String list) {
    Map<String, String> options = new LinkedHashMap<>();
    for (String kv : list.split(",")) {
      if (!kv.isBlank()) {
        int eq = kv.indexOf('=');
        options.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
      }
    }
    options.computeIfPresent("data_file", (k, name) -> dir.resolve(name).toString());
    return options;
  }

  /**
   * Creates qcow2 image {@code name} of {@code size} bytes in {@code dir} with qemu-img's {@code -o} list
   * {@code createOptions} ({@code backing_file} and {@code backing_fmt} included), then runs {@code commands} on it as
   * qemu-io and qemu-img would, through vdisk: {@code write [-c] [-z] [-P BYTE] OFFSET LENGTH} ({@code -c}: one
   * compressed write per cluster, as qemu-io splits it), {@code discard OFFSET LENGTH}, {@code snapshot NAME}
   * ({@code qemu-img snapshot -c}) and {@code bitmap NAME} ({@code qemu-img bitmap --add}, qemu-img's default
   * granularity). Offsets and lengths take qemu-io's k and M suffixes.
   *
   * @return the image's path
   */
  static Path make(Path dir, String name, String createOptions, long size, String... commands) throws IOException {
    // As create.
    return SpawnGuard.setUp(() -> makeUnguarded(dir, name, createOptions, size, commands));
  }

  private static Path makeUnguarded(Path dir, String name, String createOptions, long size, String... commands)
      throws IOException {
    Path image = dir.resolve(name);
    Map<String, String> options = options(dir, createOptions);
    new Qcow2Format().create(image, size, options, false);
    OpenImage open = null;
    try {
      for (String command : commands) {
        String[] w = command.trim().split("\\s+");
        if (w[0].equals("snapshot")) {
          if (open != null) {
            open.close();
            open = null;
          }
          dev.vdisk.Vdisk.createSnapshot(image, w[1], OpenOptions.builder().build());
          continue;
        }
        if (open == null) {
          open = Images.open(image, "qcow2", FileOptions.of(CacheMode.WRITEBACK, false));
        }
        BlockDevice d = open.device();
        FormatImage q = FilterDevice.find(d, FormatImage.class);
        int clusterSize = q.facts().clusterSize().orElseThrow();
        switch (w[0]) {
          case "bitmap" -> q.editBitmap(w[1], BitmapEdit.add(0));
          case "discard" -> d.discard(bytes(w[1]), bytes(w[2]));
          case "write" -> write(d, clusterSize, command, Arrays.copyOfRange(w, 1, w.length));
          default -> throw new IllegalArgumentException("layout command: " + command
              + " (expected: write, discard, snapshot or bitmap)");
        }
      }
    } finally {
      if (open != null) {
        open.close();
      }
    }
    return image;
  }

  /** qemu-io's {@code write [-c] [-z] [-P BYTE] OFFSET LENGTH}, its words after "write". */
  private static void write(BlockDevice d, int clusterSize, String command, String[] w) throws IOException {
    boolean compressed = false;
    boolean zero = false;
    int pattern = 0xcd; // qemu-io's default pattern
    int i = 0;
    for (; w[i].startsWith("-"); i++) {
      switch (w[i]) {
        case "-c" -> compressed = true;
        case "-z" -> zero = true;
        case "-P" -> pattern = Integer.decode(w[++i]);
        default -> throw new IllegalArgumentException("layout command: " + command + " (expected: -c, -z or -P)");
      }
    }
    long offset = bytes(w[i]);
    long length = bytes(w[i + 1]);
    if (zero) {
      d.writeZeroes(offset, length, Set.of());
      return;
    }
    byte[] data = new byte[(int) length];
    Arrays.fill(data, (byte) pattern);
    int step = compressed ? clusterSize : data.length;
    for (int at = 0; at < data.length; at += step) {
      int n = Math.min(step, data.length - at);
      d.write(offset + at, ByteBuffer.wrap(data, at, n), compressed ? Set.of(WriteFlag.COMPRESSED) : Set.of());
    }
  }

  /** A qemu-io size: bytes, or with a k or M suffix. */
  private static long bytes(String s) {
    return switch (s.charAt(s.length() - 1)) {
      case 'k', 'K' -> Long.parseLong(s.substring(0, s.length() - 1)) << 10;
      case 'M' -> Long.parseLong(s.substring(0, s.length() - 1)) << 20;
      default -> Long.parseLong(s);
    };
  }
}
