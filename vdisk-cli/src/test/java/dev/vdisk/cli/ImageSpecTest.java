package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** QEMU's filename syntaxes: plain files, NBD URIs, json: and --image-opts, with qemu-img's canonical names. */
class ImageSpecTest {
  @Test
  void plainFilesStayFiles() {
    ImageSpec s = ImageSpec.parse("disk.qcow2", false);
    assertThat(s.isNbd()).isFalse();
    assertThat(s.file()).isEqualTo("disk.qcow2");
    assertThat(s.label()).isEqualTo("disk.qcow2");
    assertThat(s.format()).isNull();
  }

  @Test
  void uriLabelsAreQemusCanonicalNames() {
    assertThat(ImageSpec.parse("nbd://h/e", false).label()).isEqualTo("nbd://h:10809/e");
    assertThat(ImageSpec.parse("nbd+unix:///e?socket=/s", false).label()).isEqualTo("nbd+unix:///e?socket=/s");
    assertThat(ImageSpec.parse("nbd:unix:/s", false).label()).isEqualTo("nbd+unix://?socket=/s");
    assertThat(ImageSpec.parse("nbds://h/e?tls-certificates=/c", false).label()).isEqualTo("nbds://h:10809/e");
  }

  @Test
  void jsonNamesAFormatOverAProtocol() {
    ImageSpec s = ImageSpec.parse("json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"nbd\",\"server\":{\"type\":\"inet\","
        + "\"host\":\"h\",\"port\":\"7\"},\"export\":\"x\",\"tls-creds\":\"t0\"}}", false);
    assertThat(s.format()).isEqualTo("qcow2");
    assertThat(s.nbd().host()).isEqualTo("h");
    assertThat(s.nbd().port()).isEqualTo(7);
    assertThat(s.nbd().tls()).isTrue();
    assertThat(s.tlsCreds()).isEqualTo("t0");
    assertThat(s.protocol()).isNull();
    assertThat(s.label()).isEqualTo("nbd://h:7/x");
    ImageSpec file = ImageSpec.parse("json:{\"driver\":\"raw\",\"file\":{\"driver\":\"file\",\"filename\":\"a.img\"}}", false);
    assertThat(file.file()).isEqualTo("a.img");
    assertThat(file.format()).isEqualTo("raw");
  }

  @Test
  void imageOptsWithAProtocolAloneReportTheProtocol() {
    ImageSpec s = ImageSpec.parse("driver=nbd,server.type=unix,server.path=/s,export=e", true);
    assertThat(s.nbd().socket()).isEqualTo("/s");
    assertThat(s.format()).as("read as raw bytes").isEqualTo("raw");
    assertThat(s.protocol()).isEqualTo("nbd");
    ImageSpec probe = ImageSpec.parse("file.driver=nbd,file.filename=nbd://h/e", true);
    assertThat(probe.format()).as("probed").isNull();
    assertThat(probe.nbd().export()).isEqualTo("e");
  }

  @Test
  void unknownKeysAndDriversAreRefused() {
    assertThatThrownBy(() -> ImageSpec.parse("driver=nbd,server.type=unix,server.path=/s,reconnect-delay=5", true))
        .hasMessageContaining("'reconnect-delay' is not supported");
    assertThatThrownBy(() -> ImageSpec.parse("driver=vmdk,file.filename=x", true)).hasMessageContaining("driver=vmdk");
    assertThatThrownBy(() -> ImageSpec.parse("driver=raw,file.driver=ssh,file.host=h", true)).hasMessageContaining("file.driver=ssh");
    assertThatThrownBy(() -> ImageSpec.parse("json:{not json", false)).hasMessageContaining("not valid JSON");
    assertThatThrownBy(() -> ImageSpec.parse("driver=nbd,server.type=vsock", true)).hasMessageContaining("server.type=vsock");
  }
}
