package dev.vdisk.bench.matrix;

import dev.vdisk.CreateOptions;
import dev.vdisk.Vdisk;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * The image layouts the matrix compares: the seed's raw sparse file and LVM volume ({@link #DEVICE}, an existing
 * block device), raw files with storage reserved, and qcow2 with each of qemu-img's preallocation modes. Images are
 * made with vdisk's create, which writes the same bytes as qemu-img 7.2.
 */
public enum Layout {
  RAW_SPARSE("raw-sparse", "raw", "off"),
  RAW_FALLOC("raw-falloc", "raw", "falloc"),
  RAW_FULL("raw-full", "raw", "full"),
  QCOW2_OFF("qcow2-off", "qcow2", "off"),
  QCOW2_METADATA("qcow2-metadata", "qcow2", "metadata"),
  QCOW2_FALLOC("qcow2-falloc", "qcow2", "falloc"),
  QCOW2_FULL("qcow2-full", "qcow2", "full"),
  /** A raw block device named with {@code --device}; its data is destroyed. */
  DEVICE("raw-device", "raw", null);

  private final String key;
  private final String format;
  private final String preallocation;

  Layout(String key, String format, String preallocation) {
    this.key = key;
    this.format = format;
    this.preallocation = preallocation;
  }

  /** The name in JSON and in {@code --layouts}. */
  public String key() {
    return key;
  }

  /** {@code raw} or {@code qcow2}. */
  public String format() {
    return format;
  }

  /** qemu-img's {@code preallocation} option value; null for a block device, which is not created. */
  public String preallocation() {
    return preallocation;
  }

  public boolean qcow2() {
    return format.equals("qcow2");
  }

  /** Creates a fresh image of this layout at {@code path}, replacing what is there. */
  public void create(Path path, long size) throws IOException {
    if (this == DEVICE) {
      throw new IllegalStateException("a block device layout is not created");
    }
    Vdisk.create(path, size, CreateOptions.parse(format, Map.of("preallocation", preallocation)), true);
  }

  /** The file layouts, in the order the report shows them. */
  public static Layout[] files() {
    return Arrays.stream(values()).filter(l -> l != DEVICE).toArray(Layout[]::new);
  }

  /** The layout named {@code key}. */
  public static Layout parse(String key) {
    for (Layout l : files()) {
      if (l.key.equals(key)) {
        return l;
      }
    }
    throw new IllegalArgumentException("layout: '" + key + "' (expected: one of "
        + String.join(", ", Arrays.stream(files()).map(Layout::key).toList()) + ")");
  }
}
