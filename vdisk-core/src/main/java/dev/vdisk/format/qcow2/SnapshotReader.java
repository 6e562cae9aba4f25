package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import dev.vdisk.format.SnapshotNotFoundException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * An internal snapshot read without applying it, as {@code qemu-img convert -l} and {@code qemu-nbd -l} read it
 * (QEMU 7.2's {@code qcow2_snapshot_load_tmp}): the snapshot's L1 table maps the guest disk, at the image's current
 * virtual size (zeroes, or the backing image, past what the snapshot's table maps), read-only.
 *
 * <p>Memory: the snapshot's L1 table (at most {@link Qcow2Header#MAX_L1_BYTES}) and an L2 cache of the image's size.
 */
final class SnapshotReader {
  private SnapshotReader() {}

  /**
   * Snapshot {@code spec} of {@code image}: {@code snapshot.id=ID}, {@code snapshot.name=NAME}, or a bare ID or
   * name (the ID first, as QEMU's {@code bdrv_snapshot_load_tmp_by_id_or_name}).
   *
   * @throws SnapshotNotFoundException where no snapshot matches
   */
  static Qcow2Image open(Qcow2Image image, String spec, long l2CacheSize) throws IOException {
    HostReader reader = new HostReader(image.file(), "image file");
    SnapshotTable.Entry e = find(SnapshotTable.parse(reader, image.header(), false), spec);
    Geometry g = image.geometry();
    String where = "L1 table of snapshot " + e.snapshot().id();
    if (e.l1Size() > Qcow2Header.MAX_L1_BYTES / 8) {
      throw invalid(where + ": l1_size", e.l1Size(), "at most " + Qcow2Header.MAX_L1_BYTES / 8 + " entries");
    }
    if (e.l1Size() > 0 && (e.l1TableOffset() & g.clusterMask()) != 0) {
      throw invalid(where + ": l1_table_offset", e.l1TableOffset(), "a multiple of the cluster size " + g.clusterSize());
    }
    long[] entries = new long[(int) e.l1Size()];
    reader.readMetadata(where, e.l1TableOffset(), entries.length * 8).asLongBuffer().get(entries);
    for (int i = 0; i < entries.length; i++) {
      long l2 = entries[i] & Geometry.OFFSET_MASK;
      if ((l2 & g.clusterMask()) != 0) {
        throw invalid(where + ": entry " + i + ": L2 table offset", l2, "a multiple of the cluster size " + g.clusterSize());
      }
    }
    long needed = g.l1EntriesFor(image.size());
    L1Table l1 = L1Table.ofSnapshot(e.l1TableOffset(), Arrays.copyOf(entries, (int) Math.max(needed, entries.length)));
    L2Cache cache = new L2Cache(l2CacheSize, g.clusterSize(), offset -> {
      // Past the end of the file an L2 table reads as zeroes (unallocated), as QEMU reads it.
      ByteBuffer b = ByteBuffer.allocate(g.clusterSize());
      reader.readData(offset, b);
      long[] words = new long[g.clusterSize() / 8];
      b.flip().asLongBuffer().get(words);
      return words;
    });
    boolean dataFile = image.hasFeature(Features.INCOMPAT_DATA_FILE);
    return image.snapshotView(new ClusterMapper(g, l1, cache, new L2Entry.Decoder(g, image.header().version(), dataFile)));
  }

  private static SnapshotTable.Entry find(SnapshotTable.Parsed table, String spec) throws IOException {
    if (spec.startsWith("snapshot.")) {
      // qemu-img's internal snapshot options: snapshot.id=ID and/or snapshot.name=NAME, comma-separated.
      String id = null;
      String name = null;
      for (String part : spec.split(",")) {
        if (part.startsWith("snapshot.id=")) {
          id = part.substring("snapshot.id=".length());
        } else if (part.startsWith("snapshot.name=")) {
          name = part.substring("snapshot.name=".length());
        } else {
          throw invalid("snapshot option", "'" + part + "'", "snapshot.id=ID or snapshot.name=NAME");
        }
      }
      for (SnapshotTable.Entry e : table.entries()) {
        if ((id == null || e.snapshot().id().equals(id)) && (name == null || e.snapshot().name().equals(name))) {
          return e;
        }
      }
      throw new SnapshotNotFoundException(spec);
    }
    for (SnapshotTable.Entry e : table.entries()) {
      if (e.snapshot().id().equals(spec)) {
        return e;
      }
    }
    for (SnapshotTable.Entry e : table.entries()) {
      if (e.snapshot().name().equals(spec)) {
        return e;
      }
    }
    throw new SnapshotNotFoundException(spec);
  }
}
