package dev.vdisk.block;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.testkit.BlockDeviceContractTest;
import java.nio.ByteBuffer;
import java.util.Set;
import org.junit.jupiter.api.Test;

class MemoryDeviceContractTest extends BlockDeviceContractTest {
  @Override
  protected BlockDevice newDevice(long size) {
    return new MemoryDevice(size);
  }

  /** As a file does: a format appends its clusters past the end and must find them there, size included. */
  @Test
  void writePastTheEndGrowsTheDevice() {
    MemoryDevice mem = new MemoryDevice(4096);
    mem.write(8192, ByteBuffer.wrap(new byte[] {1, 2, 3}), Set.of());
    assertThat(mem.size()).isEqualTo(8195);
    ByteBuffer back = ByteBuffer.allocate(3);
    mem.read(8192, back);
    assertThat(back.array()).containsExactly(1, 2, 3);
    mem.write(0, ByteBuffer.wrap(new byte[] {9}), Set.of());
    assertThat(mem.size()).as("a write inside leaves the size").isEqualTo(8195);
  }
}
