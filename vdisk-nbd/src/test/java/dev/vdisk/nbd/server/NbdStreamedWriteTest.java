package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.nbd.protocol.Request;
import dev.vdisk.nbd.protocol.TransmissionCodec;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Semaphore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A page-cache export's reader writes a payload longer than its read-ahead to the device in parts as the payload
 * arrives ({@link StreamedWrite}): the parts are consecutive, page-aligned and at most {@link StreamedWrite#CHUNK}
 * long, and together they are the payload, however the client's bytes are cut; a part the device fails makes the
 * reply an error, the rest of the payload is dropped unwritten, and the requests behind it are served in step.
 */
class NbdStreamedWriteTest {
  private static final int SIZE = 8 << 20;
  private static final int PAGE = 4096;
  /** Longer than the wire's read-ahead (128 KiB); neither starts nor ends on a 64 KiB boundary. */
  private static final int LENGTH = (1 << 20) + 3 * PAGE;
  private static final long OFFSET = 5 * PAGE;

  private NbdServer server;
  private InetSocketAddress address;
  /** Each device write as {offset, length}, in order. */
  private final List<long[]> parts = new CopyOnWriteArrayList<>();
  /** A write that covers this offset fails; -1 for none. */
  private volatile long failAt = -1;
  /** A write at this offset waits for a permit of {@link #hold} first; -1 for none. */
  private volatile long holdAt = -1;
  private final Semaphore hold = new Semaphore(0);
  /** A permit for each write that has come to wait for {@link #hold}. */
  private final Semaphore held = new Semaphore(0);

  /** Records writes and fails the one that covers {@link #failAt}. */
  private final class Recording extends FilterDevice {
    Recording(BlockDevice next) {
      super(next);
    }

    @Override
    public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
      if (offset == holdAt) {
        held.release();
        hold.acquireUninterruptibly();
      }
      parts.add(new long[] {offset, src.remaining()});
      long at = failAt;
      if (at >= offset && at < offset + src.remaining()) {
        throw new BlockDeviceException(BlockError.EIO, "write: failed on purpose at " + at);
      }
      next.write(offset, src, flags);
    }
  }

  @BeforeEach
  void start() throws IOException {
    BlockDevice device = new CheckedDevice(new Recording(new MemoryDevice(SIZE)));
    server = new NbdServer(List.of(new Export("", "", device, DiscardMode.UNMAP, true)),
        ServerConfig.DEFAULTS, new EventLog(new PrintWriter(Writer.nullWriter())));
    address = (InetSocketAddress) server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
  }

  @AfterEach
  void stop() {
    server.stop(Duration.ofSeconds(5));
  }

  private static ByteBuffer pattern(int n, int seed) {
    ByteBuffer b = ByteBuffer.allocate(n);
    for (int i = 0; i < n; i++) {
      b.put((byte) (seed * 131 + i * 7 + (i >> 8)));
    }
    return b.flip();
  }

  private static ByteBuffer write(long cookie, long offset, ByteBuffer payload) {
    ByteBuffer b = ByteBuffer.allocate(REQUEST_SIZE + payload.remaining());
    TransmissionCodec.encodeRequest(b, new Request(0, NBD_CMD_WRITE, cookie, offset, payload.remaining()));
    return b.put(payload.duplicate()).flip();
  }

  private static void assertReadBack(RawClient c, long cookie, long offset, ByteBuffer expected, String as)
      throws IOException {
    c.request(NBD_CMD_FLAG_DF, NBD_CMD_READ, cookie, offset, expected.remaining(), null);
    RawClient.Reply r = c.reply(0);
    assertThat(r.error()).as(as).isZero();
    assertThat(RawClient.assemble(r, offset, expected.remaining())).as(as).isEqualTo(expected);
  }

  /** The parts cover {@code [offset, offset + length)} in order, each at most a chunk, each inner boundary on a page. */
  private void assertParts(long offset, int length, String as) {
    assertThat(parts.size()).as(as).isGreaterThan(length / StreamedWrite.CHUNK);
    long pos = offset;
    for (long[] p : parts) {
      assertThat(p[0]).as(as).isEqualTo(pos);
      assertThat(p[1]).as(as).isPositive().isLessThanOrEqualTo(StreamedWrite.CHUNK);
      pos += p[1];
      if (pos != offset + length) {
        assertThat(pos % PAGE).as(as).isZero();
      }
    }
    assertThat(pos).as(as).isEqualTo(offset + length);
  }

  @Test
  @Timeout(300) // a payload read out of step would leave the client waiting for a reply for ever
  void largeWriteCutAtManyPointsLandsWhole() throws IOException {
    try (RawClient c = RawClient.connect(address).greet().go("", true)) {
      c.ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
      int stream = REQUEST_SIZE + LENGTH;
      for (int k = 1; k < stream; k += k < 64 ? 9 : 7919) {
        ByteBuffer payload = pattern(LENGTH, k);
        ByteBuffer bytes = write(k, OFFSET, payload);
        parts.clear();
        // cut at k, then in pieces of k bytes (at least a page) up to the end
        int piece = Math.max(k, PAGE + 1);
        for (int at = k; at < stream; at = Math.min(stream, at + piece)) {
          c.send(bytes.limit(at));
        }
        c.send(bytes.limit(stream));
        RawClient.Reply r = c.reply(0);
        String as = "cut at byte " + k;
        assertThat(r.error()).as(as).isZero();
        assertThat(r.cookie()).as(as).isEqualTo(k);
        assertParts(OFFSET, LENGTH, as);
        assertReadBack(c, k, OFFSET, payload, as);
      }
    }
  }

  @Test
  @Timeout(120)
  void aPartThatFailsGivesAnErrorAndTheNextRequestsAreServed() throws IOException {
    try (RawClient c = RawClient.connect(address).greet().go("", true)) {
      ByteBuffer before = pattern(LENGTH, 1);
      c.send(write(1, OFFSET, before));
      assertThat(c.reply(0).error()).isZero();

      failAt = OFFSET + LENGTH / 2;
      parts.clear();
      ByteBuffer failing = pattern(LENGTH, 2);
      ByteBuffer next = pattern(PAGE, 3);
      long nextAt = 6L << 20;
      // the failing write, a small write and a large one behind it, all sent before any reply is read
      ByteBuffer large = pattern(LENGTH, 4);
      long largeAt = 4L << 20;
      c.send(write(2, OFFSET, failing));
      c.send(write(3, nextAt, next));
      c.send(write(4, largeAt, large));
      RawClient.Reply r = c.reply(0);
      assertThat(r.cookie()).isEqualTo(2);
      assertThat(r.error()).isEqualTo(NBD_EIO);
      long[] last = parts.stream().filter(p -> p[0] < largeAt && p[0] >= OFFSET && p[0] < OFFSET + LENGTH)
          .reduce((a, b) -> b).orElseThrow();
      assertThat(failAt).as("no part written after the failing one").isBetween(last[0], last[0] + last[1] - 1);
      failAt = -1;
      r = c.reply(0);
      assertThat(r.cookie()).isEqualTo(3);
      assertThat(r.error()).isZero();
      r = c.reply(0);
      assertThat(r.cookie()).isEqualTo(4);
      assertThat(r.error()).isZero();
      assertReadBack(c, 5, nextAt, next, "small write after the failure");
      assertReadBack(c, 6, largeAt, large, "large write after the failure");
      // the failing write's parts before the failure landed; the part that failed and those after did not
      ByteBuffer expected = ByteBuffer.allocate(LENGTH);
      int failedFrom = (int) (last[0] - OFFSET);
      expected.put(failing.duplicate().limit(failedFrom)).put(before.duplicate().position(failedFrom)).flip();
      assertReadBack(c, 7, OFFSET, expected, "the failing write's range");
    }
  }

  /**
   * A payload that fits the connection's buffer but not the read-ahead, most of it read ahead with its header: the part
   * read ahead is written from there, in place (not copied into the buffer first), then the rest; together the payload.
   */
  @Test
  @Timeout(60)
  void aPayloadMostlyReadAheadIsWrittenFromThereThenTheRest() throws Exception {
    int length = StreamedWrite.CHUNK - 16 * PAGE;
    long at = 2L << 20;
    try (RawClient c = RawClient.connect(address).greet().go("", true)) {
      // the reader waits in a small write while the large one arrives: its header then comes with a full read-ahead
      holdAt = 0;
      c.send(write(1, 0, pattern(PAGE, 1)));
      held.acquire();
      ByteBuffer payload = pattern(length, 2);
      c.send(write(2, at, payload));
      Thread.sleep(200);
      hold.release();
      assertThat(c.reply(0).error()).isZero();
      RawClient.Reply r = c.reply(0);
      assertThat(r.cookie()).isEqualTo(2);
      assertThat(r.error()).isZero();
      List<long[]> large = parts.stream().filter(p -> p[0] >= at).toList();
      assertThat(large).as("written in place, then the rest").hasSize(2);
      assertThat(large.get(0)[1]).as("the part read ahead").isGreaterThanOrEqualTo(StreamedWrite.IN_PLACE_MIN);
      assertThat(large.get(1)[0]).isEqualTo(at + large.get(0)[1]);
      assertThat(large.get(0)[1] + large.get(1)[1]).isEqualTo(length);
      assertReadBack(c, 3, at, payload, "the payload");
    }
  }
}
