package dev.vdisk.testkit;

import java.io.IOException;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Keeps subprocess starts apart from image set-ups, for tests whose cases run side by side in one JVM. A child
 * process starts with a copy of the JVM's descriptors and drops them (close-on-exec) only when it executes its
 * program: an image file closed and reopened in that window finds its old open file description still alive in the
 * child, with the OFD locks on it ("Failed to get "write" lock. Is another process using the image"). Set-ups that
 * close and reopen an image run under {@link #setUp} (any number at once), subprocesses start under {@link #start}
 * (one at a time, and none while a set-up runs); {@link ProcessBuilder#start} returns once the child runs its program.
 */
public final class SpawnGuard {
  private static final ReentrantReadWriteLock LOCK = new ReentrantReadWriteLock();

  private SpawnGuard() {}

  /** Work on image files that may throw {@link IOException}. */
  @FunctionalInterface
  public interface FileWork<T> {
    T run() throws IOException;
  }

  /** Starts {@code builder}'s process while no set-up runs. */
  public static Process start(ProcessBuilder builder) throws IOException {
    return locked(LOCK.writeLock(), builder::start);
  }

  /** Runs {@code work}, which closes and reopens image files, while no subprocess starts. */
  public static <T> T setUp(FileWork<T> work) throws IOException {
    return locked(LOCK.readLock(), work);
  }

  private static <T> T locked(Lock lock, FileWork<T> work) throws IOException {
    lock.lock();
    try {
      return work.run();
    } finally {
      lock.unlock();
    }
  }
}
