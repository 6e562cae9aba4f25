package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** QEMU's {@code --object secret,...}: data or a file, raw or base64, and one-line errors. */
class SecretObjectTest {
  @TempDir Path dir;

  @Test
  void dataIsRawUnlessBase64() {
    assertThat(SecretObject.isSecret("secret,id=s,data=x")).isTrue();
    assertThat(SecretObject.isSecret("tls-creds-x509,id=t,dir=/d")).isFalse();
    SecretObject raw = SecretObject.parse("secret,id=s0,data=AQ==");
    assertThat(raw.id()).isEqualTo("s0");
    assertThat(raw.value()).isEqualTo("AQ==".getBytes(StandardCharsets.UTF_8));
    assertThat(SecretObject.parse("secret,id=s0,data=AQI=,format=base64").value()).containsExactly(1, 2);
  }

  @Test
  void aFileIsReadAndItsBase64TrimmedOfTheNewline() throws Exception {
    Path key = Files.writeString(dir.resolve("key"), "AQI=\n");
    assertThat(SecretObject.parse("secret,id=k,file=" + key + ",format=base64").value()).containsExactly(1, 2);
  }

  @Test
  void badObjectsAreOneLine() {
    for (String bad : new String[] {"secret,data=x", "secret,id=s", "secret,id=s,data=x,file=/f", "secret,id=s,data=x,keyid=k",
        "secret,id=s,data=x,format=hex", "secret,id=s,data=%%,format=base64", "secret,id=s,file=/no/such/file"}) {
      assertThatThrownBy(() -> SecretObject.parse(bad)).as(bad).isInstanceOf(CliException.class)
          .hasMessageContaining("expected: ").hasMessageNotContaining("\n");
    }
  }
}
