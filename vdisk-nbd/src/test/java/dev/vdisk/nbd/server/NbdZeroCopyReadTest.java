package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.HostRange;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.nbd.server.RawClient.Reply;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reads of a raw file export: large ones go out from the page cache (sendfile, {@link BlockDevice#hostRanges}), small
 * ones are copied on the connection's reader thread and batched. Either way every byte equals the file's, over TCP
 * and unix sockets, with simple and structured replies, at unaligned offsets, across holes, at the end of the file
 * and with many requests pipelined. Read-only qcow2 exports send their data clusters the same way and copy the
 * rest (compressed, zero and unallocated clusters, backing files); the bytes equal qemu-img's conversion to raw. A
 * counting layer shows which path each read took.
 */
class NbdZeroCopyReadTest {
  private static final int SIZE = 8 << 20;
  private static final int HOLE_AT = 3 << 20;
  private static final int HOLE_LENGTH = 1 << 20;

  @TempDir Path dir;
  private byte[] content;
  private NbdServer server;
  private final AtomicLong copied = new AtomicLong();
  private final AtomicLong sent = new AtomicLong();
  /** The thread that ran the last structured read of 64 KiB or more. */
  private volatile String readOn;

  /** Counts the bytes read through the copy path and those yielded as host ranges; changes nothing. */
  private final class Counting extends FilterDevice {
    Counting(BlockDevice next) {
      super(next);
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
      copied.addAndGet(dst.remaining());
      next.read(offset, dst);
    }

    /** Structured reads of 64 KiB or more ask for the allocation first, on the thread that runs the read. */
    @Override
    public List<Extent> extents(long offset, long length) throws IOException {
      readOn = Thread.currentThread().getName();
      return next.extents(offset, length);
    }

    @Override
    public List<HostRange> hostRanges(long offset, long length) throws IOException {
      List<HostRange> r = next.hostRanges(offset, length);
      sent.addAndGet(r.stream().mapToLong(HostRange::length).sum());
      return r;
    }
  }

  private void serve(Path image, String format, boolean readOnly) throws IOException {
    OpenImage opened = Images.open(image, format, FileOptions.of(CacheMode.WRITEBACK, readOnly));
    BlockDevice device = new CheckedDevice(new Counting(opened.device().unwrap()), readOnly);
    server = new NbdServer(List.of(new Export("", "", device, DiscardMode.UNMAP, true)),
        ServerConfig.DEFAULTS.withHandshakeTimeout(Duration.ofSeconds(5)), new EventLog(new PrintWriter(Writer.nullWriter())));
  }

  @BeforeEach
  void start() throws IOException {
    content = new byte[SIZE];
    new Random(16).nextBytes(content);
    java.util.Arrays.fill(content, HOLE_AT, HOLE_AT + HOLE_LENGTH, (byte) 0);
    Path file = dir.resolve("disk.raw");
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(content, 0, HOLE_AT), 0);
      ch.write(ByteBuffer.wrap(content, HOLE_AT + HOLE_LENGTH, SIZE - HOLE_AT - HOLE_LENGTH), HOLE_AT + HOLE_LENGTH);
    }
    serve(file, "raw", false);
  }

  @AfterEach
  void stop() {
    server.stop(Duration.ofSeconds(5));
  }

  private RawClient client(boolean unix, boolean structured) throws IOException {
    SocketAddress a = server.listen(unix ? UnixDomainSocketAddress.of(dir.resolve("s" + System.nanoTime() + ".sock"))
        : new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    return RawClient.connect(a).greet().go("", structured);
  }

  private ByteBuffer expected(long offset, int length) {
    return ByteBuffer.wrap(content, (int) offset, length);
  }

  private ByteBuffer read(RawClient c, boolean structured, long offset, int length) throws IOException {
    c.request(0, NBD_CMD_READ, offset, offset, length, null);
    Reply r = c.reply(length);
    assertThat(r.error()).isZero();
    assertThat(r.cookie()).isEqualTo(offset);
    return structured ? RawClient.assemble(r, offset, length) : r.simpleData();
  }

  @Test
  void largeReadsOfDataGoOutFromThePageCacheWithTheFilesBytes() throws IOException {
    for (boolean unix : new boolean[] {false, true}) {
      for (boolean structured : new boolean[] {false, true}) {
        try (RawClient c = client(unix, structured)) {
          long before = sent.get();
          long total = 0;
          for (long[] range : new long[][] {{0, 1 << 20}, {12_345, (1 << 20) + 4096 + 7}, {SIZE - (256 << 10), 256 << 10},
              {SIZE - 65_536 - 1, 65_537}}) {
            assertThat(read(c, structured, range[0], (int) range[1])).isEqualTo(expected(range[0], (int) range[1]));
            total += range[1];
          }
          assertThat(sent.get() - before).as("bytes sent from host ranges").isEqualTo(total);
        }
      }
    }
  }

  @Test
  void readsAcrossAHoleAndSmallReadsAreCopiedWithTheSameBytes() throws IOException {
    for (boolean structured : new boolean[] {false, true}) {
      try (RawClient c = client(true, structured)) {
        long copiedBefore = copied.get();
        assertThat(read(c, structured, HOLE_AT - 4096, 4096 * 3)).isEqualTo(expected(HOLE_AT - 4096, 4096 * 3));
        assertThat(copied.get() - copiedBefore).isEqualTo(4096 * 3);
        long start = HOLE_AT - (512 << 10);
        assertThat(read(c, structured, start, 2 << 20)).isEqualTo(expected(start, 2 << 20));
      }
    }
  }

  @Test
  void pipelinedReadsOfMixedSizesEachGetTheirOwnBytes() throws IOException {
    Random random = new Random(7);
    for (boolean structured : new boolean[] {false, true}) {
      try (RawClient c = client(true, structured)) {
        Map<Long, Integer> lengths = new HashMap<>();
        for (int i = 0; i < 64; i++) {
          int length = switch (i % 4) {
            case 0 -> 4096;
            case 1 -> 512 + random.nextInt(60_000);
            case 2 -> 1 << 20;
            default -> 65_536 + random.nextInt(300_000);
          };
          long offset = random.nextInt(SIZE - length);
          lengths.put(offset, length);
          c.request(0, NBD_CMD_READ, offset, offset, length, null);
        }
        for (int i = 0; i < lengths.size(); i++) {
          // simple replies carry no length: the client matches them by cookie; here each read's cookie is its offset
          Reply r = structured ? c.reply(0) : null;
          long offset;
          ByteBuffer data;
          if (structured) {
            offset = r.cookie();
            data = RawClient.assemble(r, offset, lengths.get(offset));
          } else {
            ByteBuffer h = c.read(16);
            assertThat(h.getInt()).isEqualTo(NBD_SIMPLE_REPLY_MAGIC);
            assertThat(h.getInt()).isZero();
            offset = h.getLong();
            data = c.read(lengths.get(offset));
          }
          assertThat(data).as("read at %d", offset).isEqualTo(expected(offset, lengths.get(offset)));
        }
      }
    }
  }

  /**
   * A large read whose pages are in the page cache is sent by the connection's reader itself (it cannot wait for the
   * disk); one whose pages are not goes to a worker thread, so that the requests behind it are not held up while it
   * waits. Both send the file's bytes. (cachestat(2), which tells the two apart, came with Linux 6.5.)
   */
  @Test
  void largeReadsRunOnTheReaderOnlyWhenThePageCacheHoldsThem() throws Exception {
    String[] v = System.getProperty("os.version").split("[.-]");
    assumeTrue(Integer.parseInt(v[0]) > 6 || (Integer.parseInt(v[0]) == 6 && Integer.parseInt(v[1]) >= 5),
        "cachestat(2) needs Linux 6.5");
    try (RawClient c = client(true, true)) {
      long offset = 2 << 20;
      int length = 1 << 20;
      run("dd", "of=" + dir.resolve("disk.raw"), "oflag=nocache", "conv=notrunc,fdatasync", "count=0", "status=none");
      assertThat(read(c, true, offset, length)).isEqualTo(expected(offset, length));
      assertThat(readOn).as("a read the page cache did not hold").startsWith("nbd-request");
      // sendfile read the range through the page cache, which holds it now
      assertThat(read(c, true, offset, length)).isEqualTo(expected(offset, length));
      assertThat(readOn).as("a read the page cache holds").startsWith("nbd-conn");
      assertThat(read(c, true, offset - 4096, length)).as("a range of which one page is not held")
          .isEqualTo(expected(offset - 4096, length));
      assertThat(readOn).startsWith("nbd-request");
    }
  }

  /**
   * A qcow2 image converted from the random file (64 KiB clusters: data, the hole unallocated), then changed by
   * qemu-io inside the hole: a zero cluster at 3 MiB (written as data first), a compressed cluster at 3.5 MiB (QEMU
   * compresses only into unallocated clusters); and an overlay on
   * it that defines only [5 MiB, 6 MiB). Both are served read-only in turn; expected bytes are qemu-img's raw
   * conversion.
   */
  @Test
  void readOnlyQcow2SendsDataClustersAndCopiesTheRest() throws Exception {
    server.stop(Duration.ofSeconds(5));
    Path base = dir.resolve("base.qcow2");
    Path top = dir.resolve("top.qcow2");
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", dir.resolve("disk.raw").toString(), base.toString());
    run("qemu-io", "-f", "qcow2", "-c", "write -c -P 0x33 3584k 64k", "-c", "write -P 0x44 3M 64k", "-c", "write -z 3M 64k",
        base.toString());
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "qcow2", top.toString());
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0x55 5M 1M", top.toString());
    for (Path image : List.of(base, top)) {
      Path raw = dir.resolve(image.getFileName() + ".raw");
      run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", image.toString(), raw.toString());
      content = Files.readAllBytes(raw);
      serve(image, "qcow2", true);
      try {
        for (boolean structured : new boolean[] {false, true}) {
          try (RawClient c = client(true, structured)) {
            long sentBefore = sent.get();
            long copiedBefore = copied.get();
            long dataOnly = image == base ? 12_345 : (5 << 20) + 777;
            assertThat(read(c, structured, dataOnly, 512 << 10)).isEqualTo(expected(dataOnly, 512 << 10));
            assertThat(sent.get() - sentBefore).as("data clusters of %s sent from host ranges", image).isEqualTo(512 << 10);
            assertThat(copied.get()).isEqualTo(copiedBefore);
            for (long start : new long[] {(2 << 20) - 4096, (3 << 20) - 70_000, 0, (4 << 20) + 5}) {
              assertThat(read(c, structured, start, (2 << 20) + 11)).as("%s at %d", image, start)
                  .isEqualTo(expected(start, (2 << 20) + 11));
            }
          }
        }
      } finally {
        server.stop(Duration.ofSeconds(5));
      }
    }
  }

  private static void run(String... command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as("%s: %s", String.join(" ", command), out).isZero();
  }
}
