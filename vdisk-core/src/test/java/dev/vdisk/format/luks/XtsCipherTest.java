package dev.vdisk.format.luks;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HexFormat;
import javax.crypto.Cipher;
import org.junit.jupiter.api.Test;

/** XTS-AES decryption and encryption against IEEE 1619-2007 Annex B's vectors (the data unit sequence number little-endian). */
class XtsCipherTest {
  private static final HexFormat HEX = HexFormat.of();

  private static byte[] decrypt(String key1, String key2, long unit, String cipherText) throws Exception {
    byte[] iv = new byte[16];
    for (int i = 0; i < 8; i++) {
      iv[i] = (byte) (unit >>> (8 * i));
    }
    byte[] data = HEX.parseHex(cipherText);
    new XtsCipher(HEX.parseHex(key1 + key2), Cipher.DECRYPT_MODE).apply(iv, data, data.length);
    return data;
  }

  @Test
  void vector1AllZero() throws Exception {
    assertThat(decrypt("00".repeat(16), "00".repeat(16), 0,
        "917cf69ebd68b2ec9b9fe9a3eadda692cd43d2f59598ed858c02c2652fbf922e")).isEqualTo(new byte[32]);
  }

  @Test
  void vectors2And3DistinctKeysAndAUnitNumber() throws Exception {
    assertThat(HEX.formatHex(decrypt("11".repeat(16), "22".repeat(16), 0x3333333333L,
        "c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0"))).isEqualTo("44".repeat(32));
    assertThat(HEX.formatHex(decrypt("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0", "22".repeat(16), 0x3333333333L,
        "af85336b597afc1a900b2eb21ec949d292df4c047e0b21532186a5971a227a89"))).isEqualTo("44".repeat(32));
  }

  /** Vector 4's ciphertext: a whole 512-byte unit, 32 tweaks, each the previous times x. */
  private static final String VECTOR4 = "27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89c"
        + "c78cf7f5e543445f8333d8fa7f56000005279fa5d8b5e4ad40e736ddb4d35412"
        + "328063fd2aab53e5ea1e0a9f332500a5df9487d07a5c92cc512c8866c7e860ce"
        + "93fdf166a24912b422976146ae20ce846bb7dc9ba94a767aaef20c0d61ad0265"
        + "5ea92dc4c4e41a8952c651d33174be51a10c421110e6d81588ede82103a252d8"
        + "a750e8768defffed9122810aaeb99f9172af82b604dc4b8e51bcb08235a6f434"
        + "1332e4ca60482a4ba1a03b3e65008fc5da76b70bf1690db4eae29c5f1badd03c"
        + "5ccf2a55d705ddcd86d449511ceb7ec30bf12b1fa35b913f9f747a8afd1b130e"
        + "94bff94effd01a91735ca1726acd0b197c4e5b03393697e126826fb6bbde8ecc"
        + "1e08298516e2c9ed03ff3c1b7860f6de76d4cecd94c8119855ef5297ca67e9f3"
        + "e7ff72b1e99785ca0a7e7720c5b36dc6d72cac9574c8cbbc2f801e23e56fd344"
        + "b07f22154beba0f08ce8891e643ed995c94d9a69c9f1b5f499027a78572aeebd"
        + "74d20cc39881c213ee770b1010e4bea718846977ae119f7a023ab58cca0ad752"
        + "afe656bb3c17256a9f6e9bf19fdd5a38fc82bbe872c5539edb609ef4f79c203e"
        + "bb140f2e583cb2ad15b4aa5b655016a8449277dbd477ef2c8d6c017db738b18d"
        + "eb4a427d1923ce3ff262735779a418f20a282df920147beabe421ee5319d0568";

  @Test
  void vector4A512ByteUnit() throws Exception {
    byte[] plain = decrypt("27182818284590452353602874713526", "31415926535897932384626433832795", 0, VECTOR4);
    for (int i = 0; i < plain.length; i++) {
      assertThat(plain[i]).as("byte %d", i).isEqualTo((byte) i);
    }
  }

  /** Units decrypted in one call each start from their own IV's tweak. */
  @Test
  void severalUnitsInOneCall() throws Exception {
    byte[] data = HEX.parseHex(VECTOR4 + VECTOR4);
    new XtsCipher(HEX.parseHex("27182818284590452353602874713526" + "31415926535897932384626433832795"),
        Cipher.DECRYPT_MODE).apply(new byte[32], data, 512);
    for (int i = 0; i < data.length; i++) {
      assertThat(data[i]).as("byte %d", i).isEqualTo((byte) i);
    }
  }

  /** Encrypting vector 4's plaintext (bytes 0 to 255 twice) gives its ciphertext. */
  @Test
  void vector4Encrypted() throws Exception {
    byte[] data = new byte[512];
    for (int i = 0; i < data.length; i++) {
      data[i] = (byte) i;
    }
    new XtsCipher(HEX.parseHex("27182818284590452353602874713526" + "31415926535897932384626433832795"),
        Cipher.ENCRYPT_MODE).apply(new byte[16], data, 512);
    assertThat(HEX.formatHex(data)).isEqualTo(VECTOR4);
  }
}
