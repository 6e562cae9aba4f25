package dev.vdisk.bench.matrix;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.vdisk.io.CacheMode;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * What one matrix run does.
 *
 * @param dir the folder the images are made in (the run's own, removed by the caller afterwards)
 * @param size virtual size of each image, a multiple of 1 MiB, at least 2 MiB
 * @param repeats runs of each cell, each on a fresh image
 * @param layouts image layouts, in report order
 * @param modes cache modes, in report order
 * @param budgetMillis time after which a workload starts no more requests
 * @param seed the random order's seed
 * @param device a block device to add as the {@link Layout#DEVICE} layout (its data is destroyed), or null
 */
@JsonPropertyOrder({"size", "repeats", "quick", "layouts", "modes", "budget-ms", "seed", "device"})
public record MatrixSettings(
    @JsonIgnore Path dir,
    @JsonProperty("size") long size,
    @JsonProperty("repeats") int repeats,
    @JsonProperty("quick") boolean quick,
    @JsonIgnore List<Layout> layouts,
    @JsonIgnore List<CacheMode> modes,
    @JsonProperty("budget-ms") long budgetMillis,
    @JsonProperty("seed") long seed,
    @JsonIgnore Path device) {

  /** Bytes per slot of the random workloads: one 64 KiB qcow2 cluster (qemu-img's default). */
  public static final int SLOT = 64 << 10;

  public MatrixSettings {
    if (size < 2L << 20 || size % (1 << 20) != 0) {
      throw new IllegalArgumentException("--size: " + size + " (expected: a multiple of 1 MiB, at least 2 MiB)");
    }
    if (repeats < 1) {
      throw new IllegalArgumentException("repeats: " + repeats + " (expected: >= 1)");
    }
    layouts = List.copyOf(layouts);
    modes = List.copyOf(modes);
  }

  /** The defaults: 3 repeats of at most 0.5 s per workload (at most about 5 minutes of measuring for the whole matrix). */
  public static MatrixSettings defaults(Path dir, long size, List<Layout> layouts, List<CacheMode> modes, Path device) {
    return new MatrixSettings(dir, size, 3, false, layouts, modes, 500, 42, device);
  }

  /** {@code --quick}: 2 repeats of 0.2 s per workload (under a minute). */
  public static MatrixSettings quick(Path dir, long size, List<Layout> layouts, List<CacheMode> modes, Path device) {
    return new MatrixSettings(dir, size, 2, true, layouts, modes, 200, 42, device);
  }

  @JsonProperty("layouts")
  public List<String> layoutNames() {
    return layouts.stream().map(Layout::key).toList();
  }

  @JsonProperty("modes")
  public List<String> modeNames() {
    return modes.stream().map(CacheMode::name).toList();
  }

  @JsonProperty("device")
  public String deviceName() {
    return device == null ? null : device.toString();
  }

  /** All layouts of the run: the file layouts asked for, then the block device if one was named. */
  public List<Layout> allLayouts() {
    return device == null ? layouts : Stream.concat(layouts.stream(), Stream.of(Layout.DEVICE)).toList();
  }

  /** The offsets of the workloads: an eighth of the slots for the depth-1 first writes, half for depth 16. */
  public OffsetPlan plan(long imageSize) {
    int slots = (int) Math.min(Integer.MAX_VALUE, imageSize / SLOT);
    return OffsetPlan.of(imageSize, SLOT, Math.max(1, slots / 8), slots / 2, seed);
  }
}
