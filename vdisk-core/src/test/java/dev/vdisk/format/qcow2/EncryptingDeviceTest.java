package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.luks.SectorCipher;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * {@link EncryptingDevice} over memory with a toy cipher (each byte XOR its sector number plus one, so that zeroes
 * and the plaintext never look alike): what it writes decrypts to what was written, at the host sector it went to.
 */
class EncryptingDeviceTest {
  private static final int SECTOR = 512;

  /** XOR with (sector number + 1): its own inverse, and different in every sector. */
  private static final SectorCipher TOY = new SectorCipher() {
    @Override
    public void decrypt(long offset, ByteBuffer data) {
      xor(offset, data);
    }

    @Override
    public void encrypt(long offset, ByteBuffer data) {
      xor(offset, data);
    }

    private void xor(long offset, ByteBuffer data) {
      for (int i = 0; i < data.remaining(); i++) {
        int at = data.position() + i;
        data.put(at, (byte) (data.get(at) ^ ((offset + i) / SECTOR + 1)));
      }
    }
  };

  private static byte[] plaintext(MemoryDevice below, int length) throws Exception {
    ByteBuffer b = ByteBuffer.allocate(length);
    below.read(0, b);
    TOY.decrypt(0, b.flip());
    return b.array();
  }

  @Test
  void unalignedWritesAndZeroesDecryptToWhatWasWritten() throws Exception {
    MemoryDevice below = new MemoryDevice(8 * SECTOR);
    EncryptingDevice dev = new EncryptingDevice(below, TOY);
    byte[] expected = new byte[8 * SECTOR];
    dev.write(0, ByteBuffer.wrap(new byte[8 * SECTOR]), Set.of());
    byte[] a = new byte[700];
    java.util.Arrays.fill(a, (byte) 5);
    dev.write(300, ByteBuffer.wrap(a), Set.of());
    System.arraycopy(a, 0, expected, 300, a.length);
    dev.write(2000, ByteBuffer.wrap(new byte[] {9, 9, 9}), Set.of());
    expected[2000] = expected[2001] = expected[2002] = 9;
    dev.writeZeroes(310, 20, Set.of());
    java.util.Arrays.fill(expected, 310, 330, (byte) 0);
    assertThat(plaintext(below, expected.length)).isEqualTo(expected);
    // Zeroes are written encrypted, never left as the device's zeroes.
    ByteBuffer raw = ByteBuffer.allocate(20);
    below.read(310, raw);
    assertThat(raw.array()).isNotEqualTo(new byte[20]);
  }

  /** Writes of distinct bytes inside the same sectors, from many threads: none is lost to another's read-modify-write. */
  @Test
  void concurrentPartialSectorWritesKeepEachOthersBytes() throws Exception {
    MemoryDevice below = new MemoryDevice(4 * SECTOR);
    EncryptingDevice dev = new EncryptingDevice(below, TOY);
    dev.write(0, ByteBuffer.allocate(4 * SECTOR), Set.of());
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int i = 0; i < 4 * SECTOR; i++) {
        int at = i;
        done.add(pool.submit(() -> {
          dev.write(at, ByteBuffer.wrap(new byte[] {(byte) (at % 251 + 1)}), Set.of());
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    } finally {
      pool.shutdown();
    }
    byte[] got = plaintext(below, 4 * SECTOR);
    for (int i = 0; i < got.length; i++) {
      assertThat(got[i]).as("byte %d", i).isEqualTo((byte) (i % 251 + 1));
    }
  }
}
