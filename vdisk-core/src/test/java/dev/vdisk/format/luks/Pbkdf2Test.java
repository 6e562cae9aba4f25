package dev.vdisk.format.luks;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** PBKDF2 against RFC 6070's HMAC-SHA1 vectors, and binary passwords (a master key's bytes) as keys. */
class Pbkdf2Test {
  private static String derive(String password, String salt, long iterations, int length) {
    return HexFormat.of().formatHex(Pbkdf2.derive(LuksHash.SHA1, password.getBytes(StandardCharsets.US_ASCII),
        salt.getBytes(StandardCharsets.US_ASCII), iterations, length));
  }

  @Test
  void rfc6070() {
    assertThat(derive("password", "salt", 1, 20)).isEqualTo("0c60c80f961f0e71f3a9b524af6012062fe037a6");
    assertThat(derive("password", "salt", 2, 20)).isEqualTo("ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957");
    assertThat(derive("password", "salt", 4096, 20)).isEqualTo("4b007901b765489abead49d926f721d065a429c1");
    // More than one block of output.
    assertThat(derive("passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, 25))
        .isEqualTo("3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038");
  }

  /** The JDK's PBKDF2 key factories take characters: a master key's bytes would be mangled by UTF-8. */
  @Test
  void aBinaryPasswordIsTakenAsItsBytes() throws Exception {
    byte[] key = {(byte) 0xff, 0, (byte) 0x80};
    byte[] salt = "salt".getBytes(StandardCharsets.US_ASCII);
    javax.crypto.Mac mac = javax.crypto.Mac.getInstance("HmacSHA256");
    mac.init(new javax.crypto.spec.SecretKeySpec(key, "HMAC"));
    mac.update(salt);
    byte[] expected = mac.doFinal(new byte[] {0, 0, 0, 1});
    assertThat(Pbkdf2.derive(LuksHash.SHA256, key, salt, 1, 32)).isEqualTo(expected);
    assertThat(Pbkdf2.derive(LuksHash.SHA256, new byte[0], salt, 3, 32)).hasSize(32);
  }
}
