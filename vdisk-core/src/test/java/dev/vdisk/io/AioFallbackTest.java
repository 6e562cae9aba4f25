package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.io.internal.DirectBuffers;
import dev.vdisk.io.internal.RequestQueues;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.parallel.Isolated;

/**
 * Where io_uring (or, for aio=native, a Linux AIO context) cannot be set up, a device falls back to aio=threads and
 * says so once. The failure is a real one:
 * a ring size the kernel refuses ({@code vdisk.io_uring.entries=0}, EINVAL from io_uring_setup), the same path as
 * ENOSYS or EPERM on a kernel that has no or disables io_uring.
 */
@Isolated // changes a system property every FileDevice reads
class AioFallbackTest {
  private static final String REASON = "io_uring_setup 0 entries: Invalid argument (errno 22)";

  @TempDir Path dir;
  private final List<LogRecord> records = new ArrayList<>();
  private final Logger logger = Logger.getLogger(FileDevice.class.getName());
  private final Handler capture = new Handler() {
    @Override
    public void publish(LogRecord r) {
      records.add(r);
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  };
  private Level level;

  @BeforeEach
  void refuseRings() {
    System.setProperty("vdisk.io_uring.entries", "0");
    level = logger.getLevel();
    logger.setLevel(Level.ALL);
    logger.addHandler(capture);
  }

  @AfterEach
  void restore() {
    System.clearProperty("vdisk.io_uring.entries");
    logger.removeHandler(capture);
    logger.setLevel(level);
  }

  @Test
  void explicitIoUringFallsBackWithOneWarningAndWorks() throws IOException {
    for (CacheMode mode : List.of(CacheMode.WRITEBACK, CacheMode.NONE)) {
      Path p = file("fallback-" + mode + ".raw");
      try (FileDevice dev = FileDevice.open(p, FileOptions.of(mode, false).withAio(Aio.IO_URING))) {
        assertThat(dev.aio()).isEqualTo(Aio.THREADS);
        assertThat(dev.toString()).endsWith("aio=threads]");
        assertThat(RequestQueues.asynchronous(dev, 4)).as("no io_uring queue either").isNull();
        roundTrip(dev);
      }
    }
    assertThat(warnings()).containsExactly(
        "aio=io_uring: io_uring is not available here (" + REASON + "); using aio=threads");
  }

  /**
   * A depth beyond {@code fs.aio-max-nr} (65536 by default) makes io_setup fail with EAGAIN, as a kernel without
   * Linux AIO (ENOSYS) or a seccomp filter (EPERM) would: the device then offers no asynchronous queue, says so once,
   * and every request still works through the synchronous adapter.
   */
  @Test
  void aRefusedAioContextFallsBackToSynchronousRequestsWithOneWarning() throws IOException {
    Path p = file("native.raw");
    try (FileDevice dev = FileDevice.open(p, FileOptions.of(CacheMode.NONE, false).withAio(Aio.NATIVE))) {
      assertThat(dev.aio()).isEqualTo(Aio.NATIVE);
      assertThat(RequestQueues.asynchronous(dev, 1 << 20)).isNull();
      assertThat(RequestQueues.asynchronous(dev, 1 << 20)).isNull();
      try (RequestQueue q = RequestQueues.open(dev, 1 << 20)) {
        assertThat(q.asynchronous()).isFalse();
        ByteBuffer data = DirectBuffers.aligned(4096).put(0, (byte) 7);
        q.write(4096, data, 1);
        ByteBuffer back = DirectBuffers.aligned(4096);
        q.read(4096, back, 2);
        List<Integer> done = new ArrayList<>();
        assertThat(q.reap(2, (tag, e) -> {
          assertThat(e).isNull();
          done.add(tag);
        })).isEqualTo(2);
        assertThat(done).containsExactly(1, 2);
        assertThat(back.get(0)).isEqualTo((byte) 7);
      }
      roundTrip(dev);
    }
    assertThat(warnings()).hasSize(1);
    assertThat(warnings().getFirst()).startsWith("aio=native: Linux AIO is not available here (io_setup ")
        .contains("depth 1048576").contains("(errno 11)").endsWith("; using aio=threads");
  }

  /**
   * A queue's own ring the kernel refuses (more entries than io_uring_setup takes: EINVAL) on a device whose ring
   * was set up: no asynchronous queue, one warning, and requests still work through the synchronous adapter.
   */
  @Test
  void aRefusedQueueRingFallsBackToSynchronousRequestsWithOneWarning() throws IOException {
    System.clearProperty("vdisk.io_uring.entries");
    Path p = file("uring-queue.raw");
    try (FileDevice dev = FileDevice.open(p, FileOptions.of(CacheMode.NONE, false).withAio(Aio.IO_URING))) {
      Assumptions.assumeTrue(dev.aio() == Aio.IO_URING, "io_uring is not available on this kernel");
      assertThat(RequestQueues.asynchronous(dev, 1 << 20)).isNull();
      assertThat(RequestQueues.asynchronous(dev, 1 << 20)).isNull();
      try (RequestQueue q = RequestQueues.open(dev, 1 << 20)) {
        assertThat(q.asynchronous()).isFalse();
        ByteBuffer data = DirectBuffers.aligned(4096).put(0, (byte) 9);
        q.write(4096, data, 1);
        ByteBuffer back = DirectBuffers.aligned(4096);
        q.read(4096, back, 2);
        assertThat(q.reap(2, (tag, e) -> assertThat(e).isNull())).isEqualTo(2);
        assertThat(back.get(0)).isEqualTo((byte) 9);
      }
    }
    assertThat(warnings()).hasSize(1);
    assertThat(warnings().getFirst()).startsWith("aio=io_uring: no io_uring for a request queue here (io_uring_setup ")
        .contains("(errno 22)").endsWith("; requests run synchronously");
  }

  @Test
  void theDefaultIsThreadsAsInQemu() throws IOException {
    try (FileDevice dev = FileDevice.open(file("default.raw"), FileOptions.of(CacheMode.WRITEBACK, false))) {
      assertThat(dev.aio()).isEqualTo(Aio.THREADS);
      roundTrip(dev);
    }
    assertThat(warnings()).isEmpty();
  }

  @Test
  void nativeNeedsADirectCacheModeAsInQemu() {
    assertThatThrownBy(() -> FileOptions.of(CacheMode.WRITEBACK, false).withAio(Aio.NATIVE))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("aio=native was specified, but it requires cache.direct=on, which was not specified.");
  }

  private Path file(String name) throws IOException {
    Path p = dir.resolve(name);
    Files.write(p, new byte[1 << 20]);
    return p;
  }

  private static void roundTrip(FileDevice dev) throws IOException {
    ByteBuffer data = DirectBuffers.aligned(8192);
    for (int i = 0; i < 8192; i++) {
      data.put(i, (byte) (i * 13));
    }
    dev.write(4096, data, Set.of());
    dev.writeZeroes(8192, 4096, EnumSet.of(WriteFlag.MAY_TRIM));
    dev.flush();
    ByteBuffer back = ByteBuffer.allocate(8192);
    dev.read(4096, back);
    for (int i = 0; i < 8192; i++) {
      assertThat(back.get(i)).isEqualTo(i < 4096 ? (byte) (i * 13) : 0);
    }
  }

  private List<String> warnings() {
    SimpleFormatter f = new SimpleFormatter();
    return records.stream().filter(r -> r.getLevel().intValue() >= Level.WARNING.intValue())
        .map(f::formatMessage).toList();
  }
}
