package dev.vdisk.io.internal;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.RequestQueue;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.Set;

/**
 * The synchronous adapter: each request runs on the device when it is queued, and its completion waits for the next
 * {@link #reap}. What a device without an asynchronous path offers, so that every device has a queue.
 */
final class SyncQueue implements RequestQueue {
  private final BlockDevice device;
  private final int depth;
  private final ArrayDeque<Done> done = new ArrayDeque<>();

  private record Done(int tag, IOException error) {}

  SyncQueue(BlockDevice device, int depth) {
    if (depth < 1) {
      throw new IllegalArgumentException("depth: " + depth + " (expected: at least 1)");
    }
    this.device = device;
    this.depth = depth;
  }

  @Override
  public int depth() {
    return depth;
  }

  @Override
  public boolean asynchronous() {
    return false;
  }

  @Override
  public void read(long offset, ByteBuffer dst, int tag) {
    room();
    IOException error = null;
    try {
      device.read(offset, dst);
    } catch (IOException e) {
      error = e;
    }
    done.add(new Done(tag, error));
  }

  @Override
  public void write(long offset, ByteBuffer src, int tag) {
    room();
    IOException error = null;
    try {
      device.write(offset, src, Set.of());
    } catch (IOException e) {
      error = e;
    }
    done.add(new Done(tag, error));
  }

  private void room() {
    if (done.size() >= depth) {
      throw new IllegalStateException("request queue: " + depth + " requests in flight (expected: reap first)");
    }
  }

  @Override
  public int reap(int min, Completion completion) throws IOException {
    // Only what is done now: requests the completions queue (and so run) wait for the next reap.
    int n = done.size();
    for (int i = 0; i < n; i++) {
      Done d = done.poll();
      completion.completed(d.tag(), d.error());
    }
    return n;
  }

  @Override
  public int inFlight() {
    return done.size();
  }

  @Override
  public void close() {
    done.clear();
  }
}
