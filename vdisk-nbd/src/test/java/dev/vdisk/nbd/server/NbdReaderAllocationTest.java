package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import javax.management.ObjectName;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * 4 KiB reads and writes that a page-cache export runs on the connection's reader allocate nothing on the heap per
 * request (request headers, reply arrays and pooled payload buffers are reused): the reader thread's allocated bytes
 * over many pipelined requests stay far below one object per request.
 */
class NbdReaderAllocationTest {
  private static final int REQUESTS = 20_000;
  private static final int DEPTH = 16;
  private NbdServer server;
  private InetSocketAddress address;

  @BeforeEach
  void start() throws IOException {
    // MemoryDevice boxes a page number per access: this device moves no bytes, so what is counted is the server's
    FilterDevice still = new FilterDevice(new MemoryDevice(4 << 20)) {
      @Override
      public void read(long offset, ByteBuffer dst) {
        dst.position(dst.limit());
      }

      @Override
      public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) {
        src.position(src.limit());
      }
    };
    server = new NbdServer(List.of(new Export("", "", new CheckedDevice(still), DiscardMode.UNMAP, true)),
        ServerConfig.DEFAULTS, new EventLog(new PrintWriter(Writer.nullWriter())));
    address = (InetSocketAddress) server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
  }

  @AfterEach
  void stop() {
    server.stop(Duration.ofSeconds(5));
  }

  @Test
  void smallReadsAndWritesAllocateNothingPerRequestOnTheReader() throws Exception {
    try (RawClient c = RawClient.connect(address).greet().go("", true)) {
      run(c, NBD_CMD_READ, REQUESTS); // the first requests load classes and fill the pool
      run(c, NBD_CMD_WRITE, REQUESTS);
      Thread reader = readerThread();
      long before = allocatedBytes(reader);
      run(c, NBD_CMD_READ, REQUESTS);
      run(c, NBD_CMD_WRITE, REQUESTS);
      long perRequest = (allocatedBytes(reader) - before) / (2 * REQUESTS);
      // Below the smallest object (16 bytes), not zero: on a loaded machine a preempted inline read counts as slow and
      // sends the next reads to workers, each with a header copy and a queue node (one such run measured 8 B/request).
      assertThat(perRequest).as("bytes allocated per request by the reader (a Request record alone is 48)").isLessThan(16);
    }
  }

  /** {@code n} requests of 4 KiB, {@link #DEPTH} in flight. */
  private static void run(RawClient c, int type, int n) throws IOException {
    ByteBuffer payload = ByteBuffer.allocate(4096);
    for (int sent = 0, done = 0; done < n; ) {
      while (sent < n && sent - done < DEPTH) {
        long offset = 4096L * (sent % 1024);
        c.request(0, type, sent, offset, 4096, type == NBD_CMD_WRITE ? payload.clear() : null);
        sent++;
      }
      assertThat(c.reply(type == NBD_CMD_READ ? 4096 : 0).error()).isZero();
      done++;
    }
  }

  /** HotSpot's count of the bytes {@code t} allocated (com.sun.management, through JMX: this module does not read it). */
  private static long allocatedBytes(Thread t) throws Exception {
    return (Long) ManagementFactory.getPlatformMBeanServer().invoke(new ObjectName(ManagementFactory.THREAD_MXBEAN_NAME),
        "getThreadAllocatedBytes", new Object[] {t.threadId()}, new String[] {"long"});
  }

  private static Thread readerThread() {
    return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals("nbd-conn")).findFirst().orElseThrow();
  }
}
