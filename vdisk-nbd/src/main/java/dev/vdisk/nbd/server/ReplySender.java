package dev.vdisk.nbd.server;

import dev.vdisk.nbd.wire.Wire;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Writes replies of one connection, each whole and uninterrupted: requests run concurrently and finish in
 * any order, and a reply's header, chunks and data must not interleave with another reply's bytes.
 * Once a write fails (the client went away) every later reply is dropped.
 */
final class ReplySender {
  private final Wire wire;
  private final ReentrantLock lock = new ReentrantLock();
  private volatile boolean broken;

  ReplySender(Wire wire) {
    this.wire = wire;
  }

  /** Writes {@code parts} as one reply; returns false if the connection is broken. */
  boolean send(ByteBuffer... parts) {
    if (broken) {
      return false;
    }
    lock.lock();
    try {
      wire.writeFully(parts);
      return true;
    } catch (IOException e) {
      broken = true;
      return false;
    } finally {
      lock.unlock();
    }
  }

  boolean broken() {
    return broken;
  }
}
