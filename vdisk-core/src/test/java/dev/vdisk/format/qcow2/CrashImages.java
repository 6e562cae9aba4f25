package dev.vdisk.format.qcow2;

import dev.vdisk.block.FilterDevice;
import dev.vdisk.format.BitmapEdit;
import dev.vdisk.format.FormatImage;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.format.Images;
import dev.vdisk.format.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
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
 * and 512-byte granularity, and a disabled one).
 */
final class CrashImages {
  private CrashImages() {}

  /**
   * Creates image {@code name} of {@code size} bytes in {@code dir} with {@code layout}, and returns what the guest
   * sees in it, {@code maxSize} bytes (a backing file's data, zeroes elsewhere).
   */
  static byte[] create(Path dir, String name, String layout, int size, int maxSize) throws IOException {
    byte[] guest = new byte[maxSize];
    Path image = dir.resolve(name);
    Map<String, String> options = options(layout.replace(" + backing", "").replace(" + bitmaps", ""));
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

  /** {@code a=1,b=2} as a map, in order. */
  private static Map<String, String> options(String list) {
    Map<String, String> options = new LinkedHashMap<>();
    for (String kv : list.split(",")) {
      if (!kv.isBlank()) {
        int eq = kv.indexOf('=');
        options.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
      }
    }
    return options;
  }
}
