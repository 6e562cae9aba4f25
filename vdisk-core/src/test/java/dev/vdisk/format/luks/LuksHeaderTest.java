package dev.vdisk.format.luks;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDeviceException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** The LUKS header's rules, each broken once in a header that passes them all (laid out as qemu-img lays it out). */
class LuksHeaderTest {
  /** Bytes of one slot's key material in sectors with a 64-byte key: 64 × 4000 / 512 = 500, rounded up to 504. */
  private static final int SLOT_SECTORS = 504;

  /** A valid header: aes-256 xts-plain64 sha256, slot 0 active, slots laid out after the 4 KiB header area. */
  static ByteBuffer valid() {
    ByteBuffer b = ByteBuffer.allocate(LuksHeader.LENGTH);
    b.put(new byte[] {'L', 'U', 'K', 'S', (byte) 0xBA, (byte) 0xBE}).putShort((short) 1);
    name(b, 8, "aes");
    name(b, 40, "xts-plain64");
    name(b, 72, "sha256");
    b.putInt(104, 8 + 8 * SLOT_SECTORS).putInt(108, 64).putInt(164, 1000);
    b.put(168, "0b5c6e6c-8b3e-4a39-9d3b-5f3a35e6d5c1".getBytes(StandardCharsets.US_ASCII));
    for (int i = 0; i < 8; i++) {
      int s = 208 + 48 * i;
      b.putInt(s, i == 0 ? 0x00AC71F3 : 0x0000DEAD).putInt(s + 4, i == 0 ? 2000 : 0).putInt(s + 40, 8 + i * SLOT_SECTORS)
          .putInt(s + 44, 4000);
    }
    return b.clear();
  }

  private static void name(ByteBuffer b, int at, String name) {
    b.put(at, new byte[32]).put(at, name.getBytes(StandardCharsets.US_ASCII));
  }

  private static String refusal(Consumer<ByteBuffer> damage) {
    ByteBuffer b = valid();
    damage.accept(b);
    return assertThatThrownBy(() -> LuksHeader.parse(b)).isInstanceOf(BlockDeviceException.class).actual().getMessage();
  }

  @Test
  void aValidHeaderIsReadWithQemuImgInfosKeys() throws Exception {
    LuksHeader h = LuksHeader.parse(valid());
    assertThat(h.cipherAlg()).isEqualTo("aes-256");
    assertThat(h.keyBytes()).isEqualTo(64);
    Map<String, Object> info = h.info();
    assertThat(info.keySet()).containsExactly("ivgen-alg", "hash-alg", "cipher-alg", "uuid", "format", "cipher-mode",
        "slots", "payload-offset", "master-key-iters");
    assertThat(info.get("payload-offset")).isEqualTo((8L + 8 * SLOT_SECTORS) * 512);
    assertThat(((List<?>) info.get("slots")).getFirst())
        .isEqualTo(Map.of("active", true, "iters", 2000L, "key-offset", 4096L, "stripes", 4000L));
    assertThat(((List<?>) info.get("slots")).get(1)).isEqualTo(Map.of("active", false, "key-offset", 4096L + 512 * SLOT_SECTORS));
  }

  @Test
  void everyRuleOfQemusHeaderCheckIsHeld() {
    assertThat(refusal(b -> b.put(0, (byte) 'X'))).contains("Volume is not in LUKS format");
    assertThat(refusal(b -> b.putShort(6, (short) 2))).contains("LUKS version 2 is not supported");
    assertThat(refusal(b -> b.put(8, new byte[32]).put(8, "a".repeat(32).getBytes(StandardCharsets.US_ASCII))))
        .contains("cipher name is not NUL terminated");
    assertThat(refusal(b -> b.put(40, "x".repeat(32).getBytes(StandardCharsets.US_ASCII))))
        .contains("cipher mode is not NUL terminated");
    assertThat(refusal(b -> b.put(72, "s".repeat(32).getBytes(StandardCharsets.US_ASCII))))
        .contains("hash spec is not NUL terminated");
    assertThat(refusal(b -> b.putInt(104, 7))).contains("LUKS payload is overlapping with the header");
    assertThat(refusal(b -> b.putInt(164, 0))).contains("LUKS key iteration count is zero");
    assertThat(refusal(b -> b.putInt(208 + 48 * 3 + 44, 5))).contains("Keyslot 3 is corrupted");
    // A stripe count is what bounds a slot's key material: a huge one is refused before anything is allocated.
    assertThat(refusal(b -> b.putInt(208 + 44, -1))).contains("stripes: 4294967295");
    assertThat(refusal(b -> b.putInt(208 + 48 * 2, 1))).contains("Keyslot 2 state (active/disable) is corrupted");
    assertThat(refusal(b -> b.putInt(208 + 4, 0))).contains("Keyslot 0 iteration count is zero");
    assertThat(refusal(b -> b.putInt(208 + 40, 1))).contains("Keyslot 0 is overlapping with the LUKS header");
    assertThat(refusal(b -> b.putInt(208 + 48 * 7 + 40, 4000))).contains("Keyslot 7 is overlapping with the encrypted payload");
    assertThat(refusal(b -> b.putInt(208 + 48 * 5 + 40, 8 + 4 * SLOT_SECTORS)))
        .contains("Keyslots 4 and 5 are overlapping in the header");
    // An unsigned key offset near 2^32 must not wrap past the payload check.
    assertThat(refusal(b -> b.putInt(208 + 48 * 7 + 40, -8))).contains("Keyslot 7 is overlapping with the encrypted payload");
  }

  @Test
  void namesAndKeySizesAreQemus() {
    assertThat(refusal(b -> name(b, 40, "xts"))).contains("Unexpected cipher mode string format");
    assertThat(refusal(b -> name(b, 40, "gcm-plain64"))).contains("cipher mode: 'gcm'");
    assertThat(refusal(b -> name(b, 8, "foo"))).contains("cipher: foo with a key of 32 bytes");
    // The key size comes from the header: 64 bytes is aes-256 under xts, nothing under cbc.
    assertThat(refusal(b -> name(b, 40, "cbc-plain64"))).contains("cipher: aes with a key of 64 bytes");
    assertThat(refusal(b -> b.putInt(108, -1))).contains("Keyslot 0 is overlapping with the encrypted payload");
    assertThat(refusal(b -> name(b, 72, "sha2566"))).contains("hash spec: 'sha2566'");
    assertThat(refusal(b -> name(b, 40, "xts-plain65"))).contains("IV generator: 'plain65'");
    assertThat(refusal(b -> name(b, 40, "xts-plain64:sha257"))).contains("IV generator hash: 'sha257'");
    assertThat(refusal(b -> name(b, 40, "xts-essiv"))).contains("Missing IV generator hash specification");
    assertThat(refusal(b -> name(b, 40, "xts-essiv:sha1"))).contains("essiv hash: sha1 (20 bytes)");
  }

  @Test
  void essivKeepsItsHashWhilePlainIgnoresOne() throws Exception {
    ByteBuffer essiv = valid();
    name(essiv, 40, "cbc-essiv:sha256");
    essiv.putInt(108, 32);
    LuksHeader e = LuksHeader.parse(essiv);
    assertThat(e.ivgenHashAlg()).contains("sha256");
    assertThat(e.info().keySet()).containsSubsequence("uuid", "ivgen-hash-alg", "format");
    ByteBuffer plain = valid();
    name(plain, 40, "xts-plain64:sha256");
    assertThat(LuksHeader.parse(plain).ivgenHashAlg()).isEmpty();
  }
}
