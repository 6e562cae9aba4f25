package dev.vdisk.format;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * What a format driver knows about one open image beyond its bytes: the typed part of {@code qemu-img info}.
 *
 * @param clusterSize the allocation unit ({@code cluster-size}), empty for formats without one (raw)
 * @param dirty refcounts may be behind the data ({@code dirty-flag}: lazy refcounts, not closed cleanly)
 * @param backingFile the backing file's name as the image records it, if it has one (opened or not)
 * @param backingFormat the backing file's format as the image records it, if it does
 * @param dataFile the external data file's name as the image records it, if it has one
 * @param snapshots the internal snapshots in table order
 * @param bitmaps the number of persistent dirty bitmaps the image records
 * @param encrypted the guest's bytes are stored encrypted ({@code encrypted})
 * @param formatSpecific qemu-img info's {@code format-specific} {@code data}, keys in QEMU's order, or empty
 */
public record FormatFacts(OptionalInt clusterSize, boolean dirty, Optional<String> backingFile,
    Optional<String> backingFormat, Optional<String> dataFile, List<Snapshot> snapshots,
    long bitmaps, boolean encrypted, Map<String, Object> formatSpecific) {

  /** Copies the snapshot list and the format-specific map, keeping its order. */
  public FormatFacts {
    snapshots = List.copyOf(snapshots);
    formatSpecific = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(formatSpecific));
  }

  /** The facts of a format that has none beyond its bytes (raw). */
  public static FormatFacts none() {
    return new FormatFacts(OptionalInt.empty(), false, Optional.empty(), Optional.empty(), Optional.empty(), List.of(), 0,
        false, Map.of());
  }
}
