package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A request offered to {@link DirectQueue} while its thread waits in the queue's reap for a request that does not
 * complete goes to the queue at once, through the queue's {@link RequestQueue#wake}, rather than after that
 * completion: the wait of a direct export's connection never holds a client's later requests back behind a slow one.
 * The queue here is scripted: a write at {@link #STALL} completes only when the test lets it.
 */
class NbdDirectQueueWakeTest {
  private static final int MIB = 1 << 20;
  private static final long STALL = MIB;
  private final StallingQueue queue = new StallingQueue();
  private NbdServer server;

  /** A wakeable queue whose write at {@link #STALL} completes once {@link #release}d; the others at once. */
  private static final class StallingQueue implements RequestQueue {
    /** Released each time a reap starts to wait with the stalled write in flight. */
    final Semaphore waiting = new Semaphore(0);
    private final ArrayDeque<Integer> done = new ArrayDeque<>();
    private int stalled = -1;
    private boolean released;
    private boolean woken;

    @Override
    public int depth() {
      return DirectQueue.DEPTH;
    }

    @Override
    public boolean asynchronous() {
      return true;
    }

    @Override
    public synchronized void read(long offset, ByteBuffer dst, int tag) {
      dst.position(dst.limit());
      done.add(tag);
    }

    @Override
    public synchronized void write(long offset, ByteBuffer src, int tag) {
      src.position(src.limit());
      if (offset == STALL) {
        stalled = tag;
      } else {
        done.add(tag);
      }
    }

    @Override
    public synchronized int reap(int min, Completion completion) throws IOException {
      boolean told = false;
      while (done.size() < min && !woken && !(released && stalled >= 0)) {
        if (!told && stalled >= 0) {
          waiting.release();
          told = true;
        }
        try {
          wait();
        } catch (InterruptedException e) {
          throw new InterruptedIOException("reap");
        }
      }
      woken = false;
      if (released && stalled >= 0) {
        done.add(stalled);
        stalled = -1;
      }
      int n = 0;
      for (Integer tag; (tag = done.poll()) != null; n++) {
        completion.completed(tag, null);
      }
      return n;
    }

    @Override
    public boolean wakeable() {
      return true;
    }

    @Override
    public synchronized void wake() {
      woken = true;
      notifyAll();
    }

    synchronized void release() {
      released = true;
      notifyAll();
    }

    @Override
    public synchronized int inFlight() {
      return done.size() + (stalled >= 0 ? 1 : 0);
    }

    @Override
    public void close() {}
  }

  private InetSocketAddress start() throws IOException {
    BlockDevice device = new FilterDevice(new MemoryDevice(8 * MIB)) {
      @Override
      public RequestQueue queue(int depth) {
        return queue;
      }
    };
    server = new NbdServer(List.of(new Export("", "", new CheckedDevice(device), DiscardMode.UNMAP, false)),
        ServerConfig.DEFAULTS, new EventLog(new PrintWriter(Writer.nullWriter())));
    return (InetSocketAddress) server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
  }

  @AfterEach
  void stop() {
    queue.release(); // a failed test leaves the stalled write in flight: the connection ends only once it completes
    if (server != null) {
      server.stop(Duration.ofSeconds(5));
    }
  }

  private static void write(RawClient c, long offset) throws IOException {
    c.request(0, NBD_CMD_WRITE, offset, offset, 4096, ByteBuffer.allocate(4096));
  }

  @Test
  void aWriteOfferedWhileTheQueueWaitsForAStalledOneIsAnsweredBeforeIt() throws Exception {
    try (RawClient c = RawClient.connect(start()).greet().go("", false)) {
      write(c, STALL);
      assertThat(queue.waiting.tryAcquire(10, TimeUnit.SECONDS)).as("the queue thread waits for the stalled write")
          .isTrue();
      write(c, 0);
      // Without the wake the queue's thread sits in the reap until the stalled write completes: this times out.
      RawClient.Reply first = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> c.reply(0),
          "the later write waited for the stalled one");
      assertThat(first.cookie()).isZero();
      assertThat(first.error()).isZero();
      queue.release();
      RawClient.Reply second = c.reply(0);
      assertThat(second.cookie()).isEqualTo(STALL);
      assertThat(second.error()).isZero();
    }
  }
}
