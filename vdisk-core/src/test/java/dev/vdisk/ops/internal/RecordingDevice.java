package dev.vdisk.ops.internal;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** Records the ranges read, written and zeroed through it, in call order; can fail a read at one offset. */
final class RecordingDevice extends FilterDevice {
  /** One request: {@code [offset, offset + length)}. */
  record Range(long offset, long length) {
    long end() {
      return offset + length;
    }

    boolean overlaps(long from, long to) {
      return offset < to && from < end();
    }
  }

  final List<Range> reads = new ArrayList<>();
  final List<Range> writes = new ArrayList<>();
  final List<Range> zeroes = new ArrayList<>();
  private final long failReadAt;

  RecordingDevice(BlockDevice next) {
    this(next, -1);
  }

  /** Fails every read that covers byte {@code failReadAt} with EIO. */
  RecordingDevice(BlockDevice next, long failReadAt) {
    super(next);
    this.failReadAt = failReadAt;
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    Range r = new Range(offset, dst.remaining());
    synchronized (this) {
      reads.add(r);
    }
    if (failReadAt >= 0 && r.overlaps(failReadAt, failReadAt + 1)) {
      throw new BlockDeviceException(BlockError.EIO, "read offset " + offset + ": injected failure");
    }
    next.read(offset, dst);
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    synchronized (this) {
      writes.add(new Range(offset, src.remaining()));
    }
    next.write(offset, src, flags);
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    synchronized (this) {
      zeroes.add(new Range(offset, length));
    }
    next.writeZeroes(offset, length, flags);
  }
}
