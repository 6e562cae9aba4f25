package dev.vdisk.format.raw;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.internal.DirectBuffers;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A probed raw image's queue: asynchronous like a named one's, with the first sector's writes checked as {@link
 * RawImage#write} checks them.
 */
class ProbedRawQueueTest {
  @TempDir Path dir;

  private record Done(int tag, IOException error) {}

  @Test
  void checksTheFirstSectorAndPassesTheRestDown() throws IOException {
    Path file = dir.resolve("disk.img");
    Files.write(file, new byte[1 << 20]);
    OpenOptions options = OpenOptions.builder().cache(CacheMode.NONE).aio(Aio.IO_URING).build();
    try (Image image = Vdisk.open(file, options); RequestQueue queue = image.unwrap().queue(4)) {
      assertThat(image.probed()).isTrue();
      assertThat(queue).isNotNull();
      assertThat(queue.asynchronous()).isTrue();

      ByteBuffer qcow2Header = DirectBuffers.aligned(4096);
      qcow2Header.put(0, new byte[] {'Q', 'F', 'I', (byte) 0xfb, 0, 0, 0, 3});
      ByteBuffer zeroes = DirectBuffers.aligned(4096);
      ByteBuffer data = DirectBuffers.aligned(4096);
      data.put(0, (byte) 0x5a);
      queue.write(0, qcow2Header, 1);
      queue.write(0, zeroes, 2);
      queue.write(8192, data, 3);
      List<Done> done = new ArrayList<>();
      while (done.size() < 3) {
        queue.reap(1, (tag, error) -> done.add(new Done(tag, error)));
      }

      assertThat(done).extracting(Done::tag).containsExactlyInAnyOrder(1, 2, 3);
      for (Done d : done) {
        if (d.tag() == 1) {
          assertThat(d.error()).isInstanceOf(BlockDeviceException.class)
              .satisfies(e -> assertThat(((BlockDeviceException) e).error()).isEqualTo(BlockError.EPERM));
        } else {
          assertThat(d.error()).isNull();
        }
      }
    }
    byte[] bytes = Files.readAllBytes(file);
    assertThat(bytes[0]).isZero();
    assertThat(bytes[8192]).isEqualTo((byte) 0x5a);
  }
}
