package dev.vdisk.format.luks;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDeviceException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** What an unlock refuses before it spends any PBKDF2 round, and a password no slot takes. */
class KeySlotUnlockTest {
  private static final byte[] PASSWORD = "123456".getBytes(StandardCharsets.UTF_8);
  private static final KeySlotUnlock.Area UNREAD = (offset, length) -> {
    throw new AssertionError("key material read at " + offset);
  };

  private static LuksHeader header(java.util.function.Consumer<ByteBuffer> change) throws Exception {
    ByteBuffer b = LuksHeaderTest.valid();
    change.accept(b);
    return LuksHeader.parse(b);
  }

  @Test
  void hostileIterationCountsAreRefusedAtOnce() throws Exception {
    LuksHeader h = header(b -> b.putInt(208 + 4, -1));
    long start = System.nanoTime();
    assertThatThrownBy(() -> KeySlotUnlock.unlock(h, PASSWORD, UNREAD)).isInstanceOf(BlockDeviceException.class)
        .hasMessageContaining("4294968295 in all (expected: at most 33554432");
    assertThat(System.nanoTime() - start).as("no PBKDF2 round spent").isLessThan(5_000_000_000L);
    // Eight slots just under the bound each are refused together, and the master key digest counts once per slot.
    LuksHeader many = header(b -> {
      for (int i = 0; i < 8; i++) {
        b.putInt(208 + 48 * i, 0x00AC71F3).putInt(208 + 48 * i + 4, 1 << 22);
      }
    });
    assertThatThrownBy(() -> KeySlotUnlock.unlock(many, PASSWORD, UNREAD)).hasMessageContaining("33562432 in all");
  }

  @Test
  void ciphersTheJdkLacksAreRefusedBeforeAnyRound() throws Exception {
    LuksHeader twofish = header(b -> b.put(8, new byte[32]).put(8, "twofish".getBytes(StandardCharsets.US_ASCII)));
    assertThatThrownBy(() -> KeySlotUnlock.unlock(twofish, PASSWORD, UNREAD))
        .hasMessageContaining("LUKS cipher: twofish-256 (expected: aes-128, aes-192 or aes-256");
    LuksHeader ctr = header(b -> b.put(40, new byte[32]).put(40, "ctr-plain64".getBytes(StandardCharsets.US_ASCII))
        .putInt(108, 32));
    assertThatThrownBy(() -> KeySlotUnlock.unlock(ctr, PASSWORD, UNREAD)).hasMessageContaining("LUKS cipher mode: ctr");
    LuksHeader ripemd = header(b -> b.put(72, new byte[32]).put(72, "ripemd160".getBytes(StandardCharsets.US_ASCII)));
    assertThatThrownBy(() -> KeySlotUnlock.unlock(ripemd, PASSWORD, UNREAD)).hasMessageContaining("LUKS hash: ripemd160");
  }

  @Test
  void aPasswordNoSlotTakesIsQemusMessage() throws Exception {
    LuksHeader h = header(b -> b.putInt(208 + 4, 10).putInt(164, 10));
    assertThatThrownBy(() -> KeySlotUnlock.unlock(h, PASSWORD, (offset, length) -> {
      assertThat(offset).isEqualTo(4096);
      return new byte[length];
    })).isInstanceOf(BlockDeviceException.class).hasMessage("Invalid password, cannot unlock any keyslot");
  }
}
