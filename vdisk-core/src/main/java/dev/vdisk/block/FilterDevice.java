package dev.vdisk.block;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;

/**
 * Base of every layer that wraps another: each verb passes to {@link #next} unless overridden.
 * Closing a filter closes the device below it.
 */
public abstract class FilterDevice implements BlockDevice {
  /** The device this one wraps. */
  protected final BlockDevice next;

  /** A filter over {@code next}, which it closes when closed. */
  protected FilterDevice(BlockDevice next) {
    this.next = next;
  }

  /** The wrapped device. */
  public BlockDevice unwrap() {
    return next;
  }

  /** The first layer of type {@code type} in the stack from {@code device} down, or null. */
  public static <T> T find(BlockDevice device, Class<T> type) {
    for (BlockDevice d = device; d != null; d = d instanceof FilterDevice f ? f.next : null) {
      if (type.isInstance(d)) {
        return type.cast(d);
      }
    }
    return null;
  }

  @Override
  public long size() throws IOException {
    return next.size();
  }

  @Override
  public Capabilities capabilities() {
    return next.capabilities();
  }

  @Override
  public BlockLimits limits() {
    return next.limits();
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    next.read(offset, dst);
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    next.write(offset, src, flags);
  }

  @Override
  public void flush() throws IOException {
    next.flush();
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    next.discard(offset, length);
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    next.writeZeroes(offset, length, flags);
  }

  @Override
  public List<Extent> extents(long offset, long length) throws IOException {
    return next.extents(offset, length);
  }

  @Override
  public void resize(long newSize) throws IOException {
    next.resize(newSize);
  }

  @Override
  public void close() throws IOException {
    next.close();
  }

  /** {@code Name(next)}, so a stack prints as the stack it is. */
  @Override
  public String toString() {
    String name = getClass().getSimpleName();
    if (name.isEmpty()) {
      name = "Filter";
    }
    return name.replaceFirst("(Filter|Device)$", "") + "(" + next + ")";
  }
}
