package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.internal.FileContext;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.internal.DirectBuffers;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A guest write smaller than a cluster into a fresh image (preallocation=off, no backing file) allocates a cluster at
 * the end of the file, whose copy-on-write parts read as zeroes there already: the image file gets one write, of
 * the caller's own bytes (its direct buffer, not a cluster-sized copy of it), and the guest reads back what was
 * written with zeroes around it.
 */
class FirstWriteBufferTest {
  private static final int CLUSTER = 64 << 10;

  /** The image file, remembering the memory address of every data write's buffer. */
  private static final class Recording extends FilterDevice {
    final List<Long> addresses = new ArrayList<>();
    final List<Long> offsets = new ArrayList<>();

    Recording(BlockDevice next) {
      super(next);
    }

    @Override
    public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
      synchronized (this) {
        offsets.add(offset);
        addresses.add(src.isDirect() ? MemorySegment.ofBuffer(src).address() : -1L);
      }
      super.write(offset, src, flags);
    }
  }

  @Test
  void aFirstWriteInsideAClusterGoesOutFromTheCallersBuffer(@TempDir Path dir) throws IOException {
    Path path = dir.resolve("t.qcow2");
    new Qcow2Format().create(path, 16L << 20, Map.of(), false);
    MemoryDevice memory = new MemoryDevice(Files.size(path));
    memory.write(0, ByteBuffer.wrap(Files.readAllBytes(path)), Set.of());
    Recording file = new Recording(memory);
    FileOptions options = FileOptions.of(CacheMode.WRITEBACK, false);
    ByteBuffer src = DirectBuffers.aligned(4096);
    while (src.hasRemaining()) {
      src.put((byte) 0x5a);
    }
    src.flip();
    long address = MemorySegment.ofBuffer(src).address();
    long guest = 3L * CLUSTER + 8192;
    try (Qcow2Image image = Qcow2Opener.open(file, FileContext.of(path, options), new Qcow2Format())) {
      // A first write elsewhere under the same L2 table, so that the table is allocated (and written) already.
      image.write(0, ByteBuffer.allocate(CLUSTER), Set.of());
      file.addresses.clear();
      file.offsets.clear();
      image.write(guest, src, Set.of());

      assertThat(file.addresses).as("writes to the image file, before any flush, at %s", file.offsets).hasSize(1);
      assertThat(file.addresses.getFirst()).as("the buffer written").isEqualTo(address);
      assertThat(file.offsets.getFirst() % CLUSTER).as("where in its cluster the write lands").isEqualTo(8192);

      ByteBuffer back = ByteBuffer.allocate(CLUSTER);
      image.read(3L * CLUSTER, back);
      byte[] expected = new byte[CLUSTER];
      Arrays.fill(expected, 8192, 8192 + 4096, (byte) 0x5a);
      assertThat(back.array()).isEqualTo(expected);
    }
  }
}
