package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.ForwardingQueue;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The connection's reader owning an O_DIRECT export's io_uring queue ({@link DirectQueue#onReader}): it submits the
 * aligned reads and writes itself and waits for the client's next request in the queue's ring, beside the disk's
 * completions. The export is a real file under {@code cache=none}, {@code aio=io_uring}; the queue is wrapped to
 * record on which thread each call ran, the order of completions and flushes, and to fail on demand. The protocol's
 * rules hold on this path: replies come only after the disk completed (a FLUSH covers every write answered before
 * it), a client that leaves in the middle of a payload ends the connection without losing what it sent whole before,
 * a server stop ends a connection that waits in the ring, and a failed queue answers EIO and serves on.
 */
@Timeout(60)
class NbdReaderLoopTest {
  private static final int MIB = 1 << 20;
  private static final int PAGE = 4096;
  @TempDir Path dir;
  /** The thread of each call by call and offset ("queue-write@0"), and of the waits ("await"). */
  private final Map<String, Thread> ranOn = new ConcurrentHashMap<>();
  /** Completions handed over by the queue ("done@OFFSET") and the device's flushes ("flush"), in order. */
  private final List<String> events = Collections.synchronizedList(new ArrayList<>());
  private final AtomicBoolean failAwait = new AtomicBoolean();
  private final StringWriter log = new StringWriter();
  private NbdServer server;

  private InetSocketAddress start() throws IOException {
    Path file = dir.resolve("disk.raw");
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(8 * MIB);
    }
    FileDevice file0 = FileDevice.open(file, FileOptions.of(CacheMode.NONE, false).withAio(Aio.IO_URING));
    if (file0.aio() != Aio.IO_URING) {
      file0.close();
      assumeTrue(false, "io_uring is not available here");
    }
    BlockDevice recording = new FilterDevice(file0) {
      @Override
      public void flush() throws IOException {
        events.add("flush");
        next.flush();
      }

      @Override
      public RequestQueue queue(int depth) throws IOException {
        RequestQueue below = next.queue(depth);
        long[] offsets = new long[depth];
        return new ForwardingQueue(below) {
          @Override
          public void read(long offset, ByteBuffer dst, int tag) throws IOException {
            ranOn.put("queue-read@" + offset, Thread.currentThread());
            offsets[tag] = offset;
            super.read(offset, dst, tag);
          }

          @Override
          public void write(long offset, ByteBuffer src, int tag) throws IOException {
            ranOn.put("queue-write@" + offset, Thread.currentThread());
            offsets[tag] = offset;
            super.write(offset, src, tag);
          }

          @Override
          public int reap(int min, Completion done) throws IOException {
            return super.reap(min, recorded(done));
          }

          @Override
          public boolean awaitReadable(int fd, Completion done) throws IOException {
            ranOn.put("await", Thread.currentThread());
            if (inFlight() > 0 && failAwait.getAndSet(false)) { // with the write in flight, not before it came
              throw new IOException("the queue broke");
            }
            return super.awaitReadable(fd, recorded(done));
          }

          private Completion recorded(Completion done) {
            return (tag, error) -> {
              events.add("done@" + offsets[tag]);
              done.completed(tag, error);
            };
          }
        };
      }
    };
    server = new NbdServer(List.of(new Export("", "", new CheckedDevice(recording), DiscardMode.UNMAP, false)),
        ServerConfig.DEFAULTS, new EventLog(new PrintWriter(log, true)));
    return (InetSocketAddress) server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
  }

  @AfterEach
  void stop() {
    if (server != null) {
      server.stop(Duration.ofSeconds(10));
    }
  }

  private static ByteBuffer filled(int length, int fill) {
    ByteBuffer b = ByteBuffer.allocate(length);
    while (b.hasRemaining()) {
      b.put((byte) fill);
    }
    return b.flip();
  }

  private static ByteBuffer read(RawClient c, long offset, int length) throws IOException {
    c.request(0, NBD_CMD_READ, offset, offset, length, null);
    RawClient.Reply r = c.reply(length);
    assertThat(r.error()).isZero();
    return r.simpleData();
  }

  /** Waits until the server logged the connection's end; returns how it ended ("eof", "disconnect"). */
  private String closeEnd() throws InterruptedException {
    for (int i = 0; i < 500; i++) {
      for (String line : log.toString().split("\n")) {
        if (line.contains("event=close") && line.contains("end=")) {
          return line.replaceFirst(".*end=(\\S+).*", "$1");
        }
      }
      Thread.sleep(20);
    }
    return "still open";
  }

  @Test
  void theReaderSubmitsAndWaitsForTheSocketAndTheDiskInOnePlace() throws IOException {
    try (RawClient c = RawClient.connect(start()).greet().go("", false)) {
      for (int i = 0; i < 16; i++) { // a window of pipelined writes, as QEMU's client sends them
        c.request(0, NBD_CMD_WRITE, i, (long) i * PAGE, PAGE, filled(PAGE, i + 1));
      }
      for (int i = 0; i < 16; i++) {
        assertThat(c.reply(0).error()).isZero();
      }
      for (int i = 0; i < 16; i++) {
        assertThat(read(c, (long) i * PAGE, PAGE)).isEqualTo(filled(PAGE, i + 1));
      }
    }
    Thread reader = ranOn.get("await");
    assertThat(reader).isNotNull();
    assertThat(reader.getName()).isEqualTo("nbd-conn");
    assertThat(ranOn.get("queue-write@0")).isSameAs(reader);
    assertThat(ranOn.get("queue-read@" + 15 * PAGE)).isSameAs(reader);
  }

  @Test
  void aFlushComesAfterTheDiskCompletedEveryWriteAnsweredBeforeIt() throws IOException {
    try (RawClient c = RawClient.connect(start()).greet().go("", false)) {
      for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 8; i++) {
          c.request(0, NBD_CMD_WRITE, i, (long) (round * 8 + i) * PAGE, PAGE, filled(PAGE, i));
        }
        for (int i = 0; i < 8; i++) {
          assertThat(c.reply(0).error()).isZero();
        }
        c.request(0, NBD_CMD_FLUSH, 99, 0, 0, null);
        assertThat(c.reply(0).error()).isZero();
        List<String> seen = List.copyOf(events);
        int flush = seen.lastIndexOf("flush");
        for (int i = 0; i < 8; i++) {
          String done = "done@" + (long) (round * 8 + i) * PAGE;
          assertThat(seen.indexOf(done)).as(done + " before the flush of round " + round).isBetween(0, flush);
        }
      }
    }
  }

  @Test
  @Timeout(60)
  void aClientThatLeavesInAPayloadEndsTheConnectionAndWhatItSentWholeIsWritten() throws Exception {
    InetSocketAddress at = start();
    try (RawClient c = RawClient.connect(at).greet().go("", false)) {
      for (int i = 0; i < 8; i++) {
        c.request(0, NBD_CMD_WRITE, i, (long) i * PAGE, PAGE, filled(PAGE, 0x40 + i));
      }
      ByteBuffer half = ByteBuffer.allocate(REQUEST_SIZE + PAGE / 2);
      half.putInt(NBD_REQUEST_MAGIC).putShort((short) 0).putShort((short) NBD_CMD_WRITE).putLong(8).putLong(8L * PAGE)
          .putInt(PAGE).put(filled(PAGE / 2, 0x77));
      c.send(half.flip());
      // Half-close and read to the end: closing with the writes' replies unread would make the kernel reset the
      // connection, and the server would see a reset instead of the end in the payload this test is about.
      c.ch.shutdownOutput();
      ByteBuffer sink = ByteBuffer.allocate(64 * 1024);
      while (c.ch.read(sink.clear()) >= 0) {
        // the replies of the whole writes, then the server's close
      }
    }
    assertThat(closeEnd()).isEqualTo("eof");
    try (RawClient c = RawClient.connect(at).greet().go("", false)) {
      for (int i = 0; i < 8; i++) {
        assertThat(read(c, (long) i * PAGE, PAGE)).as("write " + i).isEqualTo(filled(PAGE, 0x40 + i));
      }
      assertThat(read(c, 8L * PAGE, PAGE)).as("the half-sent write").isEqualTo(filled(PAGE, 0));
    }
  }

  @Test
  void aServerStopEndsAConnectionWaitingInTheRing() throws Exception {
    try (RawClient c = RawClient.connect(start()).greet().go("", false)) {
      assertThat(read(c, 0, PAGE)).isEqualTo(filled(PAGE, 0));
      long t0 = System.nanoTime();
      server.stop(Duration.ofSeconds(30));
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
      assertThat(log.toString()).doesNotContain("shutdown-timeout").contains("event=close");
      assertThat(c.closedByServer()).isTrue();
    }
  }

  /**
   * On this path the reader writes the replies itself, so a client that sends reads and never reads their replies
   * blocks the reader in a socket write: that may hold up its own connection only, and a stop must still end it.
   */
  @Test
  void aClientThatNeverReadsItsRepliesHoldsOnlyItselfAndAStopEndsIt() throws Exception {
    InetSocketAddress address = start();
    RawClient flood = RawClient.connect(address).greet().go("", false);
    ByteBuffer many = ByteBuffer.allocate(28 * 500_000); // more than loopback buffers hold (up to 6 MB each way)
    for (int i = 0; i < 500_000; i++) { // 2 GB of replies asked for
      dev.vdisk.nbd.protocol.TransmissionCodec.encodeRequest(many,
          new dev.vdisk.nbd.protocol.Request(0, NBD_CMD_READ, i, (long) (i % 2048) * PAGE, PAGE));
    }
    many.flip();
    flood.ch.configureBlocking(false);
    for (int i = 0; i < 200 && many.hasRemaining(); i++) { // until the server stops reading requests
      flood.ch.write(many);
      Thread.sleep(5);
    }
    assertThat(many.hasRemaining()).as("the server stopped reading the flood's requests").isTrue();
    try (RawClient other = RawClient.connect(address).greet().go("", false)) {
      assertThat(read(other, 0, PAGE)).isEqualTo(filled(PAGE, 0));
    }
    long t0 = System.nanoTime();
    server.stop(Duration.ofSeconds(2));
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(10));
    assertThat(log.toString()).doesNotContain("shutdown-timeout");
    assertThat(log.toString().split("event=close", -1)).as("both connections closed: %s", log).hasSize(3);
    flood.close();
  }

  @Test
  void aFailedQueueAnswersEioAndTheConnectionServesOnThroughTheDevice() throws IOException {
    try (RawClient c = RawClient.connect(start()).greet().go("", false)) {
      assertThat(read(c, 0, PAGE)).isEqualTo(filled(PAGE, 0)); // the queue is open and in use
      failAwait.set(true);
      c.request(0, NBD_CMD_WRITE, 1, 0, PAGE, filled(PAGE, 0x11));
      assertThat(c.reply(0).error()).isEqualTo(NBD_EIO); // in flight when the queue failed
      c.request(0, NBD_CMD_WRITE, 2, 2 * PAGE, PAGE, filled(PAGE, 0x22));
      assertThat(c.reply(0).error()).isZero();
      assertThat(read(c, 2 * PAGE, PAGE)).isEqualTo(filled(PAGE, 0x22));
    }
  }
}
