package dev.vdisk.testkit;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicBoolean;

/** Races platform threads against one action, for tests of what concurrent requests leave behind. */
public final class Racers {
  private Racers() {}

  /** What each racing thread does until {@code done} is set. */
  @FunctionalInterface
  public interface Racer {
    void run(int id, AtomicBoolean done) throws Exception;
  }

  /** The action raced against them. */
  @FunctionalInterface
  public interface Action {
    void run() throws Exception;
  }

  /**
   * Starts {@code racers} threads running {@code racer} together with this one, spins {@code spins} times (so that
   * rounds meet the racers at different points), runs {@code action}, then sets {@code done} and waits for the racers;
   * throws what a racer threw, if any.
   */
  public static void race(int racers, Racer racer, int spins, Action action) throws Exception {
    CyclicBarrier start = new CyclicBarrier(racers + 1);
    AtomicBoolean done = new AtomicBoolean();
    List<Thread> threads = new ArrayList<>();
    Exception[] failure = new Exception[1];
    for (int r = 0; r < racers; r++) {
      int id = r;
      threads.add(Thread.ofPlatform().start(() -> {
        try {
          start.await();
          racer.run(id, done);
        } catch (Exception e) {
          synchronized (failure) {
            failure[0] = e;
          }
        }
      }));
    }
    start.await();
    for (int spin = spins; spin > 0; spin--) {
      Thread.onSpinWait();
    }
    try {
      action.run();
    } finally {
      done.set(true);
      for (Thread t : threads) {
        t.join();
      }
    }
    synchronized (failure) {
      if (failure[0] != null) {
        throw failure[0];
      }
    }
  }
}
