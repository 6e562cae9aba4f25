package dev.vdisk.format.qcow2;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * One entry of the bitmap directory (qcow2 spec, "Bitmap directory"):
 *
 * <pre>
 * 0-7 bitmap_table_offset  8-11 bitmap_table_size (entries)  12-15 flags  16 type  17 granularity_bits
 * 18-19 name_size  20-23 extra_data_size, then extra data (none here) and the name, padded to a multiple of 8
 * </pre>
 *
 * @param tableOffset where the bitmap table starts
 * @param tableSize its number of 8-byte entries
 * @param flags bit 0 in_use (the data may be stale), bit 1 auto (the bitmap tracks writes)
 * @param granularityBits log2 of the bytes one bit covers
 * @param name the bitmap's name
 */
record BitmapEntry(long tableOffset, long tableSize, int flags, int granularityBits, String name) {
  static final int FIXED = 24;
  static final int FLAG_IN_USE = 1;
  static final int FLAG_AUTO = 1 << 1;
  static final int TYPE_DIRTY_TRACKING = 1;

  boolean inUse() {
    return (flags & FLAG_IN_USE) != 0;
  }

  boolean auto() {
    return (flags & FLAG_AUTO) != 0;
  }

  long granularity() {
    return 1L << granularityBits;
  }

  BitmapEntry withFlags(int newFlags) {
    return new BitmapEntry(tableOffset, tableSize, newFlags, granularityBits, name);
  }

  BitmapEntry withTable(long offset, long size) {
    return new BitmapEntry(offset, size, flags, granularityBits, name);
  }

  /** Bytes this entry takes in the directory, padding included. */
  int encodedSize() {
    return (FIXED + name.getBytes(StandardCharsets.UTF_8).length + 7) & ~7;
  }

  /** Appends this entry at {@code out}'s position (which advances by {@link #encodedSize}). */
  void encode(ByteBuffer out) {
    byte[] raw = name.getBytes(StandardCharsets.UTF_8);
    int start = out.position();
    out.putLong(tableOffset).putInt((int) tableSize).putInt(flags).put((byte) TYPE_DIRTY_TRACKING)
        .put((byte) granularityBits).putShort((short) raw.length).putInt(0).put(raw);
    while (out.position() < start + encodedSize()) {
      out.put((byte) 0);
    }
  }

  /** The directory holding {@code entries} in order. */
  static ByteBuffer encodeAll(Iterable<BitmapEntry> entries) {
    int size = 0;
    for (BitmapEntry e : entries) {
      size += e.encodedSize();
    }
    ByteBuffer out = ByteBuffer.allocate(size);
    for (BitmapEntry e : entries) {
      e.encode(out);
    }
    return out.flip();
  }
}
