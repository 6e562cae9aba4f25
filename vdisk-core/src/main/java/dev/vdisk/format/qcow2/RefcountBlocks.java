package dev.vdisk.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Where the {@link RefcountAllocator}'s refcount blocks and table live, and when they reach the file: the storage
 * and write-back policy apart from the allocation decisions. A new image keeps them in its {@link PendingFile}
 * ({@link PendingRefcountBlocks}); an open image caches blocks and writes them back in crash-safe order at its flush
 * ({@link RefcountStore}).
 */
interface RefcountBlocks {
  /**
   * The refcount block at {@code offset} (entry {@code index} of the table), as the allocator may change it in place
   * (followed by {@link #changed}). The buffer stays valid until another block is loaded.
   */
  ByteBuffer load(long index, long offset) throws IOException;

  /**
   * A new, zeroed refcount block at {@code offset}, already {@link #changed}.
   *
   * @param reserve take its disk space now (a refcount block placed on demand, as QEMU writes it at once), so a full
   *     disk fails the allocation that needed it rather than a later flush
   */
  ByteBuffer fresh(long offset, boolean reserve) throws IOException;

  /**
   * Takes the disk space of {@code [offset, offset + length)} now, where new refcount blocks and a new table are about
   * to be placed (QEMU writes them at once), so a full disk fails the allocation that needed them before anything
   * changed, rather than every later flush.
   */
  void reserve(long offset, long length) throws IOException;

  /** The block at {@code offset} was changed: its bytes must reach the file. */
  void changed(long offset);

  /** Entry {@code index} of {@code table} (at {@code tableOffset}) changed. */
  void entryChanged(long[] table, long tableOffset, long index);

  /**
   * The table moved to {@code tableOffset} with the contents {@code table}: to be written whole there. The clusters
   * of the old one ({@code oldBytes} from {@code oldOffset}) are still counted.
   */
  void tableMoved(long[] table, long tableOffset, long oldOffset, long oldBytes) throws IOException;

  /**
   * Whether the allocator frees an old table's clusters as soon as the table moved (a new image, written whole at the
   * end); if not, {@link #tableMoved} arranges their release once the header names the new table.
   */
  boolean freesOldTableAtOnce();

  /** The block at {@code offset} left the table: forget any copy of it. */
  void forget(long offset);
}
