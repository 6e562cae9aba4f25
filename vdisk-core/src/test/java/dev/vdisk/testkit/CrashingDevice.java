package dev.vdisk.testkit;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockLimits;
import dev.vdisk.block.Capabilities;
import dev.vdisk.block.Extent;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * A file with a volatile write cache that can lose power at any point of its history: the device a format
 * driver's crash-consistency tests put an image on. Like a file, it grows when written past its end.
 *
 * <p>Every change (write, zeroing, discard, resize) and every flush is recorded in order. {@link #crash} rebuilds
 * the disk as a power loss after the first {@code point} recorded operations could leave it:
 *
 * <ul>
 *   <li>every change recorded before the last flush among them survives (a flush covers the changes that
 *       completed before it was called; a change still running when a flush begins is recorded after it, so it is
 *       never wrongly counted as covered);
 *   <li>a FUA write or zeroing survives: it was durable when it completed;
 *   <li>each later change survives or is lost at random, and with {@link Tearing#SECTORS} each 512-byte sector of
 *       a surviving write does so on its own (the file keeps the size the write gave it). Survivors are applied in their recorded order: a page cache writes
 *       back a page's newest contents, so an older write never lands over a newer one.
 * </ul>
 *
 * Reads see every change, as the running system does. Thread-safe.
 */
public final class CrashingDevice implements BlockDevice {
  /** How much of an unflushed write a power loss may keep. */
  public enum Tearing {
    /** All of it or none of it. */
    NONE,
    /** Any subset of its 512-byte sectors (the atomic unit QEMU's qcow2 relies on). */
    SECTORS
  }

  private static final int SECTOR = 512;

  private sealed interface Op {}

  private record Write(long offset, byte[] data, boolean fua) implements Op {}

  private record Zero(long offset, long length, boolean fua) implements Op {}

  private record Resize(long size) implements Op {}

  private record Flush() implements Op {}

  private final MemoryDevice durableStart;
  private final MemoryDevice current;
  private final List<Op> history = new ArrayList<>();

  /** A disk whose durable contents are a copy of {@code start}'s. */
  public CrashingDevice(MemoryDevice start) {
    this.durableStart = start.copy();
    this.current = start.copy();
  }

  /** The number of recorded operations: crash points are 0 to this, inclusive. */
  public synchronized int historyLength() {
    return history.size();
  }

  /** The number of recorded flushes. */
  public synchronized int flushes() {
    return (int) history.stream().filter(Flush.class::isInstance).count();
  }

  /**
   * The disk after a power loss that struck once the first {@code point} operations had been recorded.
   *
   * @param random chooses which unflushed changes survive
   */
  public MemoryDevice crash(int point, Random random, Tearing tearing) {
    List<Op> ops;
    synchronized (this) {
      if (point < 0 || point > history.size()) {
        throw new IllegalArgumentException("crash point: " + point + " (expected: 0 to " + history.size() + ")");
      }
      ops = List.copyOf(history.subList(0, point));
    }
    int lastFlush = -1;
    for (int i = 0; i < ops.size(); i++) {
      if (ops.get(i) instanceof Flush) {
        lastFlush = i;
      }
    }
    MemoryDevice disk = durableStart.copy();
    for (int i = 0; i < ops.size(); i++) {
      Op op = ops.get(i);
      boolean covered = i < lastFlush || op instanceof Write w && w.fua() || op instanceof Zero z && z.fua();
      if (covered) {
        apply(disk, op);
      } else if (random.nextBoolean()) {
        if (op instanceof Write w && tearing == Tearing.SECTORS) {
          applyTorn(disk, w, random);
        } else {
          apply(disk, op);
        }
      }
    }
    return disk;
  }

  private static void apply(MemoryDevice disk, Op op) {
    switch (op) {
      case Write w -> {
        grow(disk, w);
        disk.write(w.offset(), ByteBuffer.wrap(w.data()), Set.of());
      }
      case Zero z -> disk.writeZeroes(z.offset(), z.length(), Set.of());
      case Resize r -> disk.resize(r.size());
      case Flush f -> {}
    }
  }

  /** Applies each 512-byte-aligned piece of {@code w} or not, at random (sectors past the disk's end are lost). */
  private static void grow(MemoryDevice disk, Write w) {
    long end = w.offset() + w.data().length;
    if (end > disk.size()) {
      disk.resize(end);
    }
  }

  private static void applyTorn(MemoryDevice disk, Write w, Random random) {
    grow(disk, w);
    long end = w.offset() + w.data().length;
    for (long at = w.offset(); at < end; ) {
      long next = Math.min(end, (at / SECTOR + 1) * SECTOR);
      if (random.nextBoolean() && next <= disk.size()) {
        int from = (int) (at - w.offset());
        disk.write(at, ByteBuffer.wrap(w.data(), from, (int) (next - at)), Set.of());
      }
      at = next;
    }
  }

  @Override
  public long size() {
    return current.size();
  }

  @Override
  public Capabilities capabilities() {
    return Capabilities.ALL_NATIVE;
  }

  @Override
  public BlockLimits limits() {
    return current.limits();
  }

  @Override
  public void read(long offset, ByteBuffer dst) {
    current.read(offset, dst);
  }

  @Override
  public synchronized void write(long offset, ByteBuffer src, Set<WriteFlag> flags) {
    byte[] data = new byte[src.remaining()];
    src.get(data);
    Write w = new Write(offset, data, flags.contains(WriteFlag.FUA));
    grow(current, w);
    current.write(offset, ByteBuffer.wrap(data), Set.of());
    history.add(w);
  }

  @Override
  public synchronized void flush() {
    history.add(new Flush());
  }

  @Override
  public synchronized void discard(long offset, long length) {
    zero(offset, length, false);
  }

  @Override
  public synchronized void writeZeroes(long offset, long length, Set<WriteFlag> flags) {
    zero(offset, length, flags.contains(WriteFlag.FUA));
  }

  private void zero(long offset, long length, boolean fua) {
    current.writeZeroes(offset, length, Set.of());
    history.add(new Zero(offset, length, fua));
  }

  @Override
  public List<Extent> extents(long offset, long length) {
    return current.extents(offset, length);
  }

  @Override
  public synchronized void resize(long newSize) {
    current.resize(newSize);
    history.add(new Resize(newSize));
  }

  @Override
  public void close() {}

  @Override
  public String toString() {
    return "CrashingDevice[" + current.size() + ", " + historyLength() + " ops]";
  }
}
