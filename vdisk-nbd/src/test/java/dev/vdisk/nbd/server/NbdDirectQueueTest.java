package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.ForwardingQueue;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.io.internal.RequestQueues;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Which path a request of an export that bypasses the page cache takes ({@link DirectQueue}): aligned reads and
 * writes without FUA go through the device's request queue on the connection's queue thread, the rest to the
 * workers; an export through the page cache never opens a queue; a queue that fails answers its requests EIO and the
 * connection goes on serving through the device's own calls. The device here has the synchronous adapter as its
 * queue ({@link RequestQueues#open}), which runs each request as it is queued; the bytes an O_DIRECT file's queue
 * returns are judged by real peers in the CLI's DirectExportInteropIT.
 */
class NbdDirectQueueTest {
  private static final int MIB = 1 << 20;
  /** The thread that made each call, by call and offset: "queue-write@0" (through the queue), "write@0" (the device). */
  private final Map<String, Thread> ranOn = new ConcurrentHashMap<>();
  private final AtomicBoolean failReap = new AtomicBoolean();
  private NbdServer server;

  private InetSocketAddress start(boolean pageCache) throws IOException {
    FilterDevice recording = new ThreadRecordingDevice(new MemoryDevice(8 * MIB), ranOn) {
      @Override
      public RequestQueue queue(int depth) throws IOException {
        return new ForwardingQueue(RequestQueues.open(next, depth)) {
          @Override
          public void read(long offset, ByteBuffer dst, int tag) throws IOException {
            ranOn.put("queue-read@" + offset, Thread.currentThread());
            super.read(offset, dst, tag);
          }

          @Override
          public void write(long offset, ByteBuffer src, int tag) throws IOException {
            ranOn.put("queue-write@" + offset, Thread.currentThread());
            super.write(offset, src, tag);
          }

          @Override
          public int reap(int min, Completion done) throws IOException {
            if (failReap.getAndSet(false)) {
              throw new IOException("the queue broke");
            }
            return super.reap(min, done);
          }
        };
      }
    };
    server = new NbdServer(List.of(new Export("", "", new CheckedDevice(recording), DiscardMode.UNMAP, pageCache)),
        ServerConfig.DEFAULTS, new EventLog(new PrintWriter(Writer.nullWriter())));
    return (InetSocketAddress) server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
  }

  @AfterEach
  void stop() {
    if (server != null) {
      server.stop(Duration.ofSeconds(5));
    }
  }

  private static int write(RawClient c, int flags, long offset, int length, int fill) throws IOException {
    ByteBuffer data = ByteBuffer.allocate(length);
    while (data.hasRemaining()) {
      data.put((byte) fill);
    }
    c.request(flags, NBD_CMD_WRITE, offset, offset, length, data.flip());
    return c.reply(0).error();
  }

  private static ByteBuffer read(RawClient c, long offset, int length) throws IOException {
    c.request(0, NBD_CMD_READ, offset, offset, length, null);
    RawClient.Reply r = c.reply(length);
    assertThat(r.error()).isZero();
    return r.simpleData();
  }

  private static ByteBuffer filled(int length, int fill) {
    ByteBuffer b = ByteBuffer.allocate(length);
    while (b.hasRemaining()) {
      b.put((byte) fill);
    }
    return b.flip();
  }

  @Test
  void alignedReadsAndWritesWithoutFuaGoThroughTheQueueTheRestToTheWorkers() throws IOException {
    try (RawClient c = RawClient.connect(start(false)).greet().go("", false)) {
      assertThat(write(c, 0, 0, 4096, 0x11)).isZero();
      assertThat(read(c, 0, 4096)).isEqualTo(filled(4096, 0x11));
      assertThat(write(c, NBD_CMD_FLAG_FUA, 2 * MIB, 4096, 0x22)).isZero();
      assertThat(write(c, 0, 3 * MIB + 512, 4096, 0x33)).isZero(); // not 4 KiB-aligned
      assertThat(read(c, 3 * MIB + 512, 4096)).isEqualTo(filled(4096, 0x33));
    }
    assertThat(ranOn.get("queue-write@0").getName()).isEqualTo("nbd-queue");
    assertThat(ranOn.get("queue-read@0").getName()).isEqualTo("nbd-queue");
    assertThat(ranOn).doesNotContainKeys("queue-write@" + 2 * MIB, "queue-write@" + (3 * MIB + 512),
        "queue-read@" + (3 * MIB + 512));
    for (String call : List.of("write@" + 2 * MIB, "write@" + (3 * MIB + 512), "read@" + (3 * MIB + 512))) {
      assertThat(ranOn.get(call).getName()).as(call).isEqualTo("nbd-request");
    }
  }

  @Test
  void anExportThroughThePageCacheHasNoQueue() throws IOException {
    try (RawClient c = RawClient.connect(start(true)).greet().go("", false)) {
      assertThat(write(c, 0, 0, 4096, 0x11)).isZero();
      assertThat(read(c, 0, 4096)).isEqualTo(filled(4096, 0x11));
    }
    assertThat(ranOn.keySet()).noneMatch(k -> k.startsWith("queue-"));
  }

  @Test
  void aFailedQueueAnswersEioAndTheConnectionServesOnThroughTheDevice() throws IOException {
    try (RawClient c = RawClient.connect(start(false)).greet().go("", false)) {
      failReap.set(true);
      assertThat(write(c, 0, 0, 4096, 0x11)).isEqualTo(NBD_EIO);
      assertThat(write(c, 0, 8192, 4096, 0x44)).isZero();
      assertThat(read(c, 8192, 4096)).isEqualTo(filled(4096, 0x44));
    }
    assertThat(ranOn.get("write@8192").getName()).isEqualTo("nbd-queue");
    assertThat(ranOn.get("read@8192").getName()).isEqualTo("nbd-queue");
  }
}
