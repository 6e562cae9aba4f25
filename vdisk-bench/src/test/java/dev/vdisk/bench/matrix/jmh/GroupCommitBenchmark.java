package dev.vdisk.bench.matrix.jmh;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.filter.WritethroughFilter;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.internal.DirectBuffers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Writethrough 4 KiB writes by 16 threads (depth 16) on a real file, each acknowledged after a flush that began
 * after it completed (issue 18's group commit): {@code design=group} is {@link WritethroughFilter} as vdisk stacks it
 * on a host file (16 flushes at once), {@code design=shared} with one flush at a time (as on qcow2); {@code
 * design=perWrite} is the design it replaced, every writer calling fdatasync after its own write (concurrent
 * fdatasync calls, which ext4 may fold into shared journal commits). Both write the same scattered 4 KiB blocks of
 * a 64 MiB file, opened as {@code vdisk bench -t writethrough} opens it (page cache, fdatasync as the flush) or,
 * with {@code cache=directsync}, with O_DIRECT. The trial prints the fdatasync calls per write, a count that does not
 * depend on the machine's speed as the throughput does.
 *
 * <p>Not part of any test run: {@code ./mvnw -B -pl vdisk-bench -am clean test -Pjmh -DskipTests
 * -Djmh.include=GroupCommitBenchmark} on a quiet machine, on the file system to measure (the temporary folder).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Threads(16)
public class GroupCommitBenchmark {
  private static final int FILE_SIZE = 64 << 20;
  private static final int BLOCK = 4096;
  /** qemu-img bench's stride in bench/compare-qemu.sh: 1 MiB + 4 KiB, so the writes scatter over the file. */
  private static final long STRIDE = (1 << 20) + BLOCK;

  /** The file, the design under test and its counts, shared by the 16 writers. */
  @State(Scope.Benchmark)
  public static class Disk {
    @Param({"group", "shared", "perWrite"})
    public String design;

    @Param({"writethrough", "directsync"})
    public String cache;

    Path file;
    FileDevice device;
    BlockDevice top;
    final LongAdder flushes = new LongAdder();
    final LongAdder writes = new LongAdder();
    final AtomicInteger nextWriter = new AtomicInteger();

    @Setup(Level.Trial)
    public void setUp() throws IOException {
      file = Files.createTempFile("vdisk-jmh-group-commit", ".img");
      Files.write(file, new byte[FILE_SIZE]);
      device = FileDevice.open(file, FileOptions.of(CacheMode.parse(cache), false));
      BlockDevice counted = new FilterDevice(device) {
        @Override
        public void flush() throws IOException {
          flushes.increment();
          super.flush();
        }
      };
      top = !design.equals("perWrite") ? new WritethroughFilter(counted, design.equals("group") ? 16 : 1)
          : new FilterDevice(counted) {
        @Override
        public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
          super.write(offset, src, flags);
          next.flush();
        }
      };
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
      System.out.printf("%n%s, cache=%s: %.3f fdatasync calls per write (%d writes)%n", design, cache,
          flushes.doubleValue() / writes.sum(), writes.sum());
      device.close();
      Files.deleteIfExists(file);
    }
  }

  /** One writer's buffer and place in the file. */
  @State(Scope.Thread)
  public static class Writer {
    ByteBuffer buf;
    long offset;

    @Setup(Level.Trial)
    public void setUp(Disk disk) {
      buf = DirectBuffers.aligned(BLOCK);
      offset = disk.nextWriter.getAndIncrement() * STRIDE % FILE_SIZE / BLOCK * BLOCK;
    }
  }

  /** One 4 KiB write, acknowledged once durable. */
  @Benchmark
  public void write(Disk disk, Writer w) throws IOException {
    w.buf.clear();
    disk.top.write(w.offset, w.buf, Set.of());
    disk.writes.increment();
    w.offset = (w.offset + 16 * STRIDE) % FILE_SIZE / BLOCK * BLOCK;
  }
}
