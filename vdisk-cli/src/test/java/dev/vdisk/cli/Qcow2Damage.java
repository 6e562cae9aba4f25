package dev.vdisk.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Known damage to a qcow2 image, done as {@code dd} would do it: a few bytes overwritten at offsets found by
 * reading the image's own header, L1, L2 and refcount tables (written here from the specification, independently
 * of the code under test).
 */
enum Qcow2Damage {
  /** The first data cluster's refcount lowered by one (to 0 without snapshots). */
  REFCOUNT_LOWERED,
  /** The first data cluster's refcount raised by one (its COPIED flag is then wrong too). */
  REFCOUNT_RAISED,
  /** The refcount table's own cluster counted once more: a pure leak. */
  LEAK,
  /** The first data cluster's L2 entry points ten clusters past the end of the file. */
  L2_ENTRY_PAST_EOF,
  /** The first data cluster's L2 entry is 512 bytes off a cluster boundary. */
  L2_ENTRY_UNALIGNED,
  /** The first data cluster's L2 entry points at the refcount table. */
  L2_ENTRY_AT_REFCOUNT_TABLE,
  /** The first L1 entry names the header cluster as its L2 table (offset 0 with the COPIED bit). */
  L1_ENTRY_AT_HEADER,
  /** The first used L1 entry is 512 bytes off a cluster boundary. */
  L1_ENTRY_UNALIGNED,
  /** The first used L1 entry's COPIED bit flipped. */
  L1_COPIED_FLIPPED,
  /** The first data cluster's L2 COPIED bit flipped. */
  L2_COPIED_FLIPPED,
  /** A free L1 entry names the same L2 table as the first used one: two tables overlap. */
  L2_TABLES_OVERLAP,
  /** A reserved bit set in the first data cluster's L2 entry. */
  L2_RESERVED_BIT,
  /** The first compressed cluster's descriptor points past the end of the file. */
  COMPRESSED_PAST_EOF,
  /** The first compressed cluster's descriptor has the COPIED bit, which compressed clusters never have. */
  COMPRESSED_COPIED,
  /** The first refcount table entry is 512 bytes off a cluster boundary: refcounts cannot be read. */
  REFCOUNT_BLOCK_UNALIGNED,
  /** The first refcount table entry cleared: every refcount reads 0. */
  REFCOUNT_TABLE_CLEARED,
  /** The first refcount table entry with its top bits set: a block past what a read can address (CheckFuzzIT). */
  REFCOUNT_BLOCK_BEYOND_2_63,
  /** A second refcount table entry names the first refcount block too. */
  REFCOUNT_BLOCK_SHARED,
  /** The first snapshot's L1 table offset is 512 bytes off a cluster boundary. */
  SNAPSHOT_L1_UNALIGNED,
  /** The first snapshot's l1_size raised to 2^25 entries, past QEMU's 32 MiB L1 limit. */
  SNAPSHOT_L1_TOO_LARGE,
  /** The first snapshot's L1 table offset sixteen clusters past the end of the file. */
  SNAPSHOT_L1_PAST_EOF,
  /** The refcount of the first snapshot's L1 table cluster lowered by one (to 0). */
  SNAPSHOT_L1_REFCOUNT_LOWERED,
  /** The header's snapshots_offset 1 GiB past the end of the file: every entry reads as zeroes (incomplete). */
  SNAPSHOT_TABLE_PAST_EOF,
  /** The first snapshot's extra_data_size set to 2000, past QEMU's 1024. */
  SNAPSHOT_EXTRA_DATA_TOO_LARGE,
  /**
   * 65,537 snapshots, one past QEMU's limit: the table moved to the end of the file and grown with empty disk-only
   * entries (no L1 table), its clusters counted in place of the old ones (only the count is wrong).
   */
  SNAPSHOTS_OVERHANGING,
  /** The autoclear bits cleared, as a program without bitmap support leaves them: QEMU ignores the bitmaps. */
  BITMAPS_AUTOCLEAR_CLEARED,
  /** A reserved bit set in the first entry of the first persistent bitmap's table. */
  BITMAP_TABLE_RESERVED_BIT,
  /** The first persistent bitmap's granularity_bits set to 40, past QEMU's 31. */
  BITMAP_GRANULARITY_TOO_LARGE,
  /** The first persistent bitmap's table entry 0 pointing at the refcount table. */
  BITMAP_DATA_AT_REFCOUNT_TABLE,
  /** Extended L2: the first data cluster's bitmap says subcluster 0 is both allocated and zero. */
  SUBCLUSTER_BITMAP_CONFLICT,
  /** The corrupt bit (incompatible feature bit 1) set, as QEMU sets it when it finds damage. */
  MARKED_CORRUPT,
  /** The dirty bit (incompatible feature bit 0) set and a leak, as a crash with lazy refcounts leaves an image. */
  MARKED_DIRTY_WITH_LEAK;

  private static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L;
  private static final long COMPRESSED = 1L << 62;
  private static final long COPIED = 1L << 63;

  /** Applies the damage to {@code image} in place. */
  void apply(Path image) throws IOException {
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      Tables t = new Tables(ch);
      switch (this) {
        case REFCOUNT_LOWERED -> t.addRefcount(t.firstData().offset() >>> t.clusterBits, -1);
        case REFCOUNT_RAISED -> t.addRefcount(t.firstData().offset() >>> t.clusterBits, 1);
        case LEAK -> t.addRefcount(t.refcountTableOffset >>> t.clusterBits, 1);
        case L2_ENTRY_PAST_EOF -> t.setOffset(t.firstData(), ch.size() + 10L * t.clusterSize());
        case L2_ENTRY_UNALIGNED -> t.setOffset(t.firstData(), t.firstData().offset() + 512);
        case L2_ENTRY_AT_REFCOUNT_TABLE -> t.setOffset(t.firstData(), t.refcountTableOffset);
        case L1_ENTRY_AT_HEADER -> t.put(t.l1Offset, COPIED);
        case L1_ENTRY_UNALIGNED -> t.put(t.firstL1(), t.get(t.firstL1()) + 512);
        case L1_COPIED_FLIPPED -> t.put(t.firstL1(), t.get(t.firstL1()) ^ COPIED);
        case L2_COPIED_FLIPPED -> t.put(t.firstData().at(), t.firstData().word() ^ COPIED);
        case L2_TABLES_OVERLAP -> t.put(t.freeL1(), t.get(t.firstL1()));
        case L2_RESERVED_BIT -> t.put(t.firstData().at(), t.firstData().word() | 4);
        case COMPRESSED_PAST_EOF -> {
          Entry c = t.firstCompressed();
          long mask = (1L << (62 - (t.clusterBits - 8))) - 1;
          t.put(c.at(), (c.word() & ~mask) | (ch.size() + 3L * t.clusterSize() + 100));
        }
        case COMPRESSED_COPIED -> t.put(t.firstCompressed().at(), t.firstCompressed().word() | COPIED);
        case REFCOUNT_BLOCK_UNALIGNED -> t.put(t.refcountTableOffset, t.get(t.refcountTableOffset) + 512);
        case REFCOUNT_TABLE_CLEARED -> t.put(t.refcountTableOffset, 0);
        case REFCOUNT_BLOCK_BEYOND_2_63 -> t.put(t.refcountTableOffset, t.get(t.refcountTableOffset) | 0xffff_0000_0000_0000L);
        case REFCOUNT_BLOCK_SHARED -> t.put(t.refcountTableOffset + 8, t.get(t.refcountTableOffset));
        case SNAPSHOT_L1_UNALIGNED -> t.put(t.snapshotsOffset, t.get(t.snapshotsOffset) + 512);
        case SNAPSHOT_L1_TOO_LARGE -> t.put(t.snapshotsOffset + 8, (0x200_0000L << 32) | (t.get(t.snapshotsOffset + 8) & 0xffff_ffffL));
        case SNAPSHOT_L1_PAST_EOF -> t.put(t.snapshotsOffset, ch.size() + 16L * t.clusterSize());
        case SNAPSHOT_L1_REFCOUNT_LOWERED -> t.addRefcount(t.get(t.snapshotsOffset) >>> t.clusterBits, -1);
        case SNAPSHOT_TABLE_PAST_EOF -> t.put(64, ch.size() + (1L << 30));
        case SNAPSHOT_EXTRA_DATA_TOO_LARGE -> t.put(t.snapshotsOffset + 32, (t.get(t.snapshotsOffset + 32) & 0xffff_ffff_0000_0000L) | 2000);
        case SNAPSHOTS_OVERHANGING -> t.overhangingSnapshots(65537);
        case BITMAPS_AUTOCLEAR_CLEARED -> t.put(88, 0);
        case BITMAP_TABLE_RESERVED_BIT -> t.put(t.bitmapTable(), t.get(t.bitmapTable()) | 2);
        case BITMAP_GRANULARITY_TOO_LARGE -> {
          long at = t.bitmapDirectory() + 16;
          t.put(at, (t.get(at) & 0xffff_00ff_ffff_ffffL) | (40L << 48));
        }
        case BITMAP_DATA_AT_REFCOUNT_TABLE -> t.put(t.bitmapTable(), t.refcountTableOffset);
        case SUBCLUSTER_BITMAP_CONFLICT -> t.put(t.firstData().at() + 8, 0x0000_0001_0000_0001L);
        case MARKED_CORRUPT -> t.put(72, t.get(72) | 2);
        case MARKED_DIRTY_WITH_LEAK -> {
          t.put(72, t.get(72) | 1);
          t.addRefcount(t.refcountTableOffset >>> t.clusterBits, 1);
        }
      }
    }
  }

  /**
   * Where {@code image} keeps its metadata, as {@code {offset, length}} pairs: the header and its extensions, the
   * L1 table, each L2 table, the refcount table, each refcount block and the start of the snapshot table.
   */
  static List<long[]> metadata(Path image) throws IOException {
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.READ)) {
      Tables t = new Tables(ch);
      List<long[]> out = new ArrayList<>();
      out.add(new long[] {0, Math.min(t.clusterSize(), 1024)});
      out.add(new long[] {t.l1Offset, 8L * t.l1Size});
      t.entries.stream().mapToLong(e -> e.at() & -t.clusterSize()).distinct().forEach(l2 -> out.add(new long[] {l2, t.clusterSize()}));
      long tableBytes = (long) t.read(56, 4).getInt(0) << t.clusterBits;
      out.add(new long[] {t.refcountTableOffset, tableBytes});
      for (long at = t.refcountTableOffset; at < t.refcountTableOffset + tableBytes; at += 8) {
        long block = t.get(at) & ~0x1ffL;
        if (block != 0) {
          out.add(new long[] {block, t.clusterSize()});
        }
      }
      if (t.snapshotsOffset != 0) {
        out.add(new long[] {t.snapshotsOffset, 256});
      }
      return out;
    }
  }

  /** One L2 entry: where it is and what it holds. */
  private record Entry(long at, long word) {
    long offset() {
      return word & OFFSET_MASK;
    }
  }

  /** The image's tables, read from its header. */
  private static final class Tables {
    final FileChannel ch;
    final int clusterBits;
    final long l1Offset;
    final int l1Size;
    final long refcountTableOffset;
    final long snapshotsOffset;
    final int refcountOrder;
    final int entryBytes;
    final List<Entry> entries = new ArrayList<>();

    Tables(FileChannel ch) throws IOException {
      this.ch = ch;
      ByteBuffer h = read(0, 112);
      clusterBits = h.getInt(20);
      l1Size = h.getInt(36);
      l1Offset = h.getLong(40);
      refcountTableOffset = h.getLong(48);
      snapshotsOffset = h.getLong(64);
      boolean v3 = h.getInt(4) == 3;
      refcountOrder = v3 ? h.getInt(96) : 4;
      entryBytes = v3 && (h.getLong(72) & 16) != 0 ? 16 : 8;
      for (int i = 0; i < l1Size; i++) {
        long l2 = get(l1Offset + 8L * i) & OFFSET_MASK;
        if (l2 != 0) {
          ByteBuffer table = read(l2, clusterSize());
          for (int j = 0; j < clusterSize() / entryBytes; j++) {
            entries.add(new Entry(l2 + (long) j * entryBytes, table.getLong(j * entryBytes)));
          }
        }
      }
    }

    int clusterSize() {
      return 1 << clusterBits;
    }

    /** Where the bitmap directory starts, as the bitmaps header extension says. */
    long bitmapDirectory() throws IOException {
      ByteBuffer first = read(0, clusterSize());
      for (int at = first.getInt(100); at + 8 <= clusterSize() && first.getInt(at) != 0; ) {
        if (first.getInt(at) == 0x23852875) {
          return first.getLong(at + 8 + 16);
        }
        at += 8 + ((first.getInt(at + 4) + 7) & ~7);
      }
      throw new IllegalStateException("no bitmaps header extension");
    }

    /** Where the first bitmap's table starts. */
    long bitmapTable() throws IOException {
      return get(bitmapDirectory());
    }

    Entry firstData() {
      return entries.stream().filter(e -> (e.word() & COMPRESSED) == 0 && e.offset() != 0 && (e.word() & 1) == 0)
          .findFirst().orElseThrow(() -> new IllegalStateException("no data cluster"));
    }

    Entry firstCompressed() {
      return entries.stream().filter(e -> (e.word() & COMPRESSED) != 0).findFirst()
          .orElseThrow(() -> new IllegalStateException("no compressed cluster"));
    }

    long firstL1() throws IOException {
      for (int i = 0; i < l1Size; i++) {
        if (get(l1Offset + 8L * i) != 0) {
          return l1Offset + 8L * i;
        }
      }
      throw new IllegalStateException("no L2 table");
    }

    long freeL1() throws IOException {
      for (int i = 0; i < l1Size; i++) {
        if (get(l1Offset + 8L * i) == 0) {
          return l1Offset + 8L * i;
        }
      }
      throw new IllegalStateException("no free L1 entry");
    }

    void setOffset(Entry e, long offset) throws IOException {
      put(e.at(), (e.word() & ~OFFSET_MASK) | (offset & OFFSET_MASK));
    }

    /**
     * Rewrites the snapshot table at the end of the file (cluster-aligned) with {@code total} entries: the image's
     * own, then empty disk-only ones (ID {@code n}, no name, no L1 table); the new clusters' refcounts raised by
     * one, the old table's lowered by one, nb_snapshots and snapshots_offset set.
     */
    void overhangingSnapshots(int total) throws IOException {
      int own = read(60, 4).getInt(0);
      long end = snapshotsOffset;
      for (int i = 0; i < own; i++) {
        ByteBuffer f = read(end, 40);
        end = (end + 40 + f.getInt(36) + (f.getShort(12) & 0xffff) + (f.getShort(14) & 0xffff) + 7) & ~7L;
      }
      ByteBuffer table = ByteBuffer.allocate((int) (end - snapshotsOffset) + (total - own) * 64);
      table.put(read(snapshotsOffset, (int) (end - snapshotsOffset)));
      long virtualSize = get(24);
      for (int i = own; i < total; i++) {
        byte[] id = Integer.toString(i + 1).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        int at = table.position();
        table.putLong(0).putInt(0).putShort((short) id.length).putShort((short) 0).putInt(0).putInt(0).putLong(0)
            .putInt(0).putInt(16).putLong(0).putLong(virtualSize).put(id);
        table.position((at + 56 + id.length + 7) & ~7);
      }
      table.flip();
      long cluster = clusterSize();
      long at = (ch.size() + cluster - 1) / cluster * cluster;
      ch.write(table, at);
      for (long c = at / cluster; c * cluster < at + table.limit(); c++) {
        addRefcount(c, 1);
      }
      for (long c = snapshotsOffset / cluster; c * cluster < Math.max(end, snapshotsOffset + 1); c++) {
        addRefcount(c, -1);
      }
      ch.write(ByteBuffer.allocate(12).putInt(0, total).putLong(4, at), 60);
    }

    /** Adds {@code delta} to the stored refcount of {@code cluster}, whatever the refcount width. */
    void addRefcount(long cluster, int delta) throws IOException {
      int bits = 1 << refcountOrder;
      int blockBits = clusterBits + 3 - refcountOrder;
      long block = get(refcountTableOffset + 8 * (cluster >>> blockBits)) & ~0x1ffL;
      long index = cluster & ((1L << blockBits) - 1);
      long bitPos = index * bits;
      int bytes = Math.max(1, bits / 8);
      long at = block + bitPos / 8;
      ByteBuffer b = read(at, bytes);
      long v = 0;
      for (int i = 0; i < bytes; i++) {
        v = (v << 8) | (b.get(i) & 0xff);
      }
      if (bits < 8) {
        int shift = (int) (bitPos % 8);
        long mask = ((1L << bits) - 1) << shift;
        v = (v & ~mask) | ((((v & mask) >>> shift) + delta) << shift & mask);
      } else {
        v += delta;
      }
      for (int i = bytes - 1; i >= 0; i--) {
        b.put(i, (byte) v);
        v >>>= 8;
      }
      ch.write(b.clear(), at);
    }

    long get(long at) throws IOException {
      return read(at, 8).getLong(0);
    }

    void put(long at, long value) throws IOException {
      ch.write(ByteBuffer.allocate(8).putLong(0, value), at);
    }

    ByteBuffer read(long at, int n) throws IOException {
      ByteBuffer b = ByteBuffer.allocate(n);
      ch.read(b, at);
      return b.clear();
    }
  }
}
