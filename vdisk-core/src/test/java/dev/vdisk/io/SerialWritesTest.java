package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link SerialWrites} makes concurrent writes one at a time, each before its caller returns and with its own outcome;
 * a {@link FileDevice} under writeback and {@code aio=threads} sends its large writes through it, but for an NBD
 * export's.
 */
@Timeout(60)
class SerialWritesTest {
  private static final int THREADS = 8;
  private static final int WRITES_PER_THREAD = 40;

  /** A write target that records how many writes run at once, and which offsets were written. */
  private static final class Recorder implements SerialWrites.Write {
    final AtomicInteger running = new AtomicInteger();
    final AtomicInteger most = new AtomicInteger();
    final Set<Long> written = ConcurrentHashMap.newKeySet();
    /** Offsets of the writes made on their caller's thread (see {@link #recorded}). */
    final Set<Long> ownThread = ConcurrentHashMap.newKeySet();

    @Override
    public void write(long offset, ByteBuffer src) throws IOException {
      enter();
      try {
        src.position(src.limit());
        written.add(offset);
      } finally {
        running.decrementAndGet();
      }
    }

    /** Counts a write in, and stays long enough for others to come in beside it if they can. */
    void enter() {
      most.accumulateAndGet(running.incrementAndGet(), Math::max);
      try {
        Thread.sleep(1);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  @Test
  void concurrentWritesAreMadeOneAtATimeEachBeforeItsCallerReturns() throws Exception {
    Recorder target = new Recorder();
    SerialWrites serial = new SerialWrites(target);
    runConcurrently(t -> {
      for (int i = 0; i < WRITES_PER_THREAD; i++) {
        long offset = (long) t * WRITES_PER_THREAD + i;
        ByteBuffer src = ByteBuffer.allocate(16);
        serial.write(offset, src);
        assertThat(target.written).as("the caller's write, made when the call returns").contains(offset);
        assertThat(src.hasRemaining()).isFalse();
      }
      return null;
    });
    assertThat(target.written).hasSize(THREADS * WRITES_PER_THREAD);
    assertThat(target.most.get()).as("writes running at once").isEqualTo(1);
  }

  @Test
  void eachCallerGetsItsOwnWritesFailureAndTheOthersGoOn() throws Exception {
    Recorder recorder = new Recorder();
    SerialWrites serial = new SerialWrites((offset, src) -> {
      recorder.write(offset, src);
      if (offset % WRITES_PER_THREAD == 7) {
        throw new IOException("no space at " + offset);
      }
      if (offset % WRITES_PER_THREAD == 9) {
        throw new AssertionError("an error at " + offset);
      }
    });
    runConcurrently(t -> {
      for (int i = 0; i < WRITES_PER_THREAD; i++) {
        long offset = (long) t * WRITES_PER_THREAD + i;
        if (i == 7) {
          assertThatThrownBy(() -> serial.write(offset, ByteBuffer.allocate(1))).isInstanceOf(IOException.class)
              .hasMessage("no space at " + offset);
        } else if (i == 9) {
          assertThatThrownBy(() -> serial.write(offset, ByteBuffer.allocate(1))).isInstanceOf(AssertionError.class)
              .hasMessage("an error at " + offset);
        } else {
          serial.write(offset, ByteBuffer.allocate(1));
        }
      }
      return null;
    });
    assertThat(recorder.written).hasSize(THREADS * WRITES_PER_THREAD);
  }

  /** For the write at offset 0: says it is held, and holds it until {@code release}. */
  private static void holdWriteZero(long offset, CountDownLatch held, CountDownLatch release) throws IOException {
    if (offset == 0) {
      held.countDown();
      try {
        release.await();
      } catch (InterruptedException e) {
        throw new InterruptedIOException();
      }
    }
  }

  /** The caller holding the turn makes {@value SerialWrites#TURN} writes at most, and others take the rest. */
  @Test
  void aTurnEndsAfterItsLimitAndTheOldestWaiterTakesTheNext() throws Exception {
    CountDownLatch firstWriteHeld = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger made = new AtomicInteger();
    AtomicInteger madeByHolder = new AtomicInteger();
    Thread[] holder = new Thread[1];
    SerialWrites serial = new SerialWrites((offset, src) -> {
      holdWriteZero(offset, firstWriteHeld, release);
      made.incrementAndGet();
      if (Thread.currentThread() == holder[0]) {
        madeByHolder.incrementAndGet();
      }
    });
    holder[0] = Thread.ofPlatform().unstarted(() -> write(serial, 0));
    holder[0].start();
    firstWriteHeld.await();
    List<Thread> waiters = new ArrayList<>();
    for (int i = 1; i <= 3 * SerialWrites.TURN; i++) {
      long offset = i;
      waiters.add(Thread.ofPlatform().start(() -> write(serial, offset)));
    }
    for (Thread w : waiters) {
      while (w.getState() != Thread.State.WAITING) {
        Thread.onSpinWait(); // until it waits behind the held write
      }
    }
    release.countDown();
    holder[0].join();
    for (Thread w : waiters) {
      w.join();
    }
    assertThat(madeByHolder.get()).as("writes the first turn's holder made").isEqualTo(SerialWrites.TURN);
    assertThat(made.get()).isEqualTo(3 * SerialWrites.TURN + 1);
  }

  /**
   * While the holder wakes a caller whose write it made, the turn is free: that caller's next write does not wait for
   * the holder (which the scheduler may have preempted for it) but is made on the caller's own thread.
   */
  @Test
  void aWokenCallersNextWriteTakesTheTurnWhileTheHolderWakesIt() throws Exception {
    CountDownLatch firstWriteHeld = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch nextWriteMade = new CountDownLatch(1);
    Map<Long, Thread> madeOn = new ConcurrentHashMap<>();
    AtomicInteger wakes = new AtomicInteger();
    SerialWrites serial = new SerialWrites((offset, src) -> {
      holdWriteZero(offset, firstWriteHeld, release);
      madeOn.put(offset, Thread.currentThread());
      if (offset == 2) {
        nextWriteMade.countDown();
      }
    }, () -> {
      if (wakes.getAndIncrement() == 0) { // the holder, preempted where it wakes the caller of write 1
        try {
          nextWriteMade.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    });
    Thread holder = Thread.ofPlatform().start(() -> write(serial, 0));
    firstWriteHeld.await();
    Thread[] woken = new Thread[1];
    woken[0] = Thread.ofPlatform().start(() -> {
      write(serial, 1);
      write(serial, 2);
    });
    while (woken[0].getState() != Thread.State.WAITING) {
      Thread.onSpinWait(); // until write 1 waits behind the held write
    }
    release.countDown();
    woken[0].join();
    holder.join();
    assertThat(madeOn.get(1L)).as("write 1, made by the holder").isEqualTo(holder);
    assertThat(madeOn.get(2L)).as("write 2, made while the holder was waking its caller").isEqualTo(woken[0]);
  }

  private static void write(SerialWrites serial, long offset) {
    try {
      serial.write(offset, ByteBuffer.allocate(1));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Large writes into a page-cache regular file under aio=threads go one at a time; small ones straight in. */
  @Test
  void aFileDeviceUnderWritebackMakesItsLargeWritesOneAtATime() throws Exception {
    Recorder recorder = new Recorder();
    int large = BufferedPath.SERIAL_MIN;
    FilterDevice disk = recorded(recorder, large);
    FileOptions options = FileOptions.of(CacheMode.WRITEBACK, false);
    try (FileDevice device = SimulatedHostFile.create(disk, 4096, options, () -> { }).fileDevice("a.raw", options)) {
      runConcurrently(t -> {
        for (int i = 0; i < 4; i++) {
          device.write((long) (t * 4 + i) * large, filled(large, t), Set.of());
        }
        return null;
      });
      assertThat(recorder.most.get()).as("large writes running at once").isEqualTo(1);
      recorder.most.set(0);
      runConcurrently(t -> {
        for (int i = 0; i < 4; i++) {
          device.write((long) (t * 4 + i) * large, filled(large - 4096, t), Set.of());
        }
        return null;
      });
      assertThat(recorder.most.get()).as("smaller writes running at once").isGreaterThan(1);
      ByteBuffer back = ByteBuffer.allocate(large);
      device.read(5L * 4 * large, back);
      assertThat(back.get(0)).isEqualTo((byte) 5);
    }
  }

  /**
   * An NBD export's large writes go straight in, each on its caller's thread and beside the others: its connections'
   * threads read their sockets between writes, and a turn's holder would make the others' writes before its next read.
   */
  @Test
  void anExportsLargeWritesRunOnTheirOwnThreadsAtOnce() throws Exception {
    Recorder recorder = new Recorder();
    int large = BufferedPath.SERIAL_MIN;
    FilterDevice disk = recorded(recorder, large);
    FileOptions options = new FileOptions(CacheMode.WRITEBACK, false, false, true, ImageUser.EXPORT);
    try (FileDevice device = SimulatedHostFile.create(disk, 4096, options, () -> { }).fileDevice("a.raw", options)) {
      runConcurrently(t -> {
        byte mark = (byte) Thread.currentThread().threadId();
        for (int i = 0; i < 4; i++) {
          device.write((long) (t * 4 + i) * large, filled(large, mark), Set.of());
        }
        return null;
      });
    }
    assertThat(recorder.most.get()).as("large writes running at once").isGreaterThan(1);
    assertThat(recorder.ownThread).as("writes made on their callers' threads").hasSize(THREADS * 4);
  }

  /**
   * A disk of 4 large writes per thread that counts its writes into {@code recorder}, and notes those made on the
   * thread whose id's low byte fills them (the caller's own, where each fills its writes with its id).
   */
  private static FilterDevice recorded(Recorder recorder, int large) {
    return new FilterDevice(new MemoryDevice((long) THREADS * 4 * large)) {
      @Override
      public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
        recorder.enter();
        try {
          if (src.get(src.position()) == (byte) Thread.currentThread().threadId()) {
            recorder.ownThread.add(offset);
          }
          super.write(offset, src, flags);
        } finally {
          recorder.running.decrementAndGet();
        }
      }
    };
  }

  private static ByteBuffer filled(int length, int value) {
    ByteBuffer b = ByteBuffer.allocate(length);
    while (b.hasRemaining()) {
      b.put((byte) value);
    }
    return b.flip();
  }

  /** A task of thread {@code t}. */
  @FunctionalInterface
  private interface Task {
    Void run(int t) throws Exception;
  }

  /** Runs {@code task} on {@value #THREADS} threads started together; rethrows the first failure. */
  private static void runConcurrently(Task task) throws Exception {
    CyclicBarrier start = new CyclicBarrier(THREADS);
    try (ExecutorService pool = Executors.newFixedThreadPool(THREADS)) {
      List<Future<Void>> done = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        int thread = t;
        Callable<Void> c = () -> {
          start.await();
          return task.run(thread);
        };
        done.add(pool.submit(c));
      }
      for (Future<Void> f : done) {
        f.get();
      }
    }
  }
}
