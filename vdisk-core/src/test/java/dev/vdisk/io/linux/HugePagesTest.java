package dev.vdisk.io.linux;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class HugePagesTest {
  /**
   * The memory is zeroed, starts on a huge-page boundary, is whole huge pages long and is a mapping of its own that
   * the kernel may back with huge pages (smaps' THPeligible: the advice was taken).
   */
  @Test
  void memoryIsAlignedZeroedAndEligibleForHugePages() throws IOException {
    long huge = HugePages.size();
    assumeTrue(huge > 0, "no transparent huge pages here");
    MemorySegment m = HugePages.allocate(huge + 1);
    assertThat(m).isNotNull();
    assertThat(m.byteSize()).isEqualTo(2 * huge);
    assertThat(m.address() % huge).isZero();
    for (long p = 0; p < m.byteSize(); p += 4096) {
      assertThat(m.get(JAVA_BYTE, p)).isZero();
    }
    m.set(JAVA_BYTE, m.byteSize() - 1, (byte) 7);
    assertThat(m.get(JAVA_BYTE, m.byteSize() - 1)).isEqualTo((byte) 7);
    assertThat(smapsField(m.address(), "THPeligible")).isEqualTo("1");
  }

  @Test
  void refusesEmptyMemory() {
    assertThatThrownBy(() -> HugePages.allocate(0)).hasMessageContaining("0 bytes (expected: at least 1)");
  }

  /**
   * The value of {@code field} in the smaps entry of the mapping that holds {@code address} (the kernel may have merged
   * it with a neighbour of the same kind).
   */
  private static String smapsField(long address, String field) throws IOException {
    List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
    boolean inside = false;
    for (String line : lines) {
      if (line.matches("^[0-9a-f]+-[0-9a-f]+ .*")) {
        String[] range = line.substring(0, line.indexOf(' ')).split("-");
        inside = Long.compareUnsigned(Long.parseUnsignedLong(range[0], 16), address) <= 0
            && Long.compareUnsigned(address, Long.parseUnsignedLong(range[1], 16)) < 0;
      } else if (inside && line.startsWith(field + ":")) {
        return line.substring(field.length() + 1).trim();
      }
    }
    throw new AssertionError("no mapping at 0x" + Long.toHexString(address) + " with " + field + " in /proc/self/smaps");
  }
}
