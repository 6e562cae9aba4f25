package dev.vdisk.io.internal;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.RequestQueue;
import java.io.IOException;

/** Where a {@link RequestQueue} for a device comes from. */
public final class RequestQueues {
  private RequestQueues() {}

  /**
   * The device's own asynchronous queue if it has one ({@link BlockDevice#queue}), else the synchronous adapter, which runs
   * each request on the device as it is queued: every device has a queue.
   */
  public static RequestQueue open(BlockDevice device, int depth) throws IOException {
    RequestQueue q = asynchronous(device, depth);
    return q != null ? q : new SyncQueue(device, depth);
  }

  /** The device's own asynchronous queue, or null where it has none (then callers use threads, or {@link #open}). */
  public static RequestQueue asynchronous(BlockDevice device, int depth) throws IOException {
    return device.queue(depth);
  }
}
