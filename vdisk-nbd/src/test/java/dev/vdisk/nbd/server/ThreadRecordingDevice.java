package dev.vdisk.nbd.server;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.Set;

/** A device that records, by call and offset ("read@0", "write@1048576"), the thread that made each read and write. */
class ThreadRecordingDevice extends FilterDevice {
  private final Map<String, Thread> ranOn;

  ThreadRecordingDevice(BlockDevice next, Map<String, Thread> ranOn) {
    super(next);
    this.ranOn = ranOn;
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    ranOn.put("read@" + offset, Thread.currentThread());
    next.read(offset, dst);
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    ranOn.put("write@" + offset, Thread.currentThread());
    next.write(offset, src, flags);
  }
}
