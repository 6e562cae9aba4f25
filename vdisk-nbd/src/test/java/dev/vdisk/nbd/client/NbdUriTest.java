package dev.vdisk.nbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** QEMU's NBD names (nbd_parse_uri, nbd_parse_filename) and libnbd's TLS schemes. */
class NbdUriTest {
  @Test
  void tcpUrisTakeHostPortAndExport() {
    NbdTarget t = NbdUri.parse("nbd://example.org:10810/disk%20one");
    assertThat(t.host()).isEqualTo("example.org");
    assertThat(t.port()).isEqualTo(10810);
    assertThat(t.export()).isEqualTo("disk one");
    assertThat(t.tls()).isFalse();
    assertThat(NbdUri.parse("nbd://h").port()).isEqualTo(NbdTarget.DEFAULT_PORT);
    assertThat(NbdUri.parse("nbd://h/").export()).isEmpty();
    assertThat(NbdUri.parse("nbd://[::1]:5/e").host()).isEqualTo("::1");
    assertThat(NbdUri.parse("nbd://[::1]:5/e").address()).isEqualTo("[::1]:5");
  }

  @Test
  void unixUrisTakeTheSocketQuery() {
    NbdTarget t = NbdUri.parse("nbd+unix:///e?socket=/run/x.sock");
    assertThat(t.socket()).isEqualTo("/run/x.sock");
    assertThat(t.export()).isEqualTo("e");
    assertThat(t.address()).isEqualTo("/run/x.sock");
    assertThat(NbdUri.parse("nbds+unix://?socket=/s&tls-certificates=/c").tls()).isTrue();
    assertThat(NbdUri.tlsCertificates("nbds+unix://?socket=/s&tls-certificates=/c")).contains("/c");
  }

  @Test
  void legacySyntax() {
    NbdTarget t = NbdUri.parse("nbd:localhost:1234:exportname=x");
    assertThat(t.host()).isEqualTo("localhost");
    assertThat(t.port()).isEqualTo(1234);
    assertThat(t.export()).isEqualTo("x");
    assertThat(NbdUri.parse("nbd:unix:/tmp/s").socket()).isEqualTo("/tmp/s");
  }

  @Test
  void recognisesOnlyNbdNames() {
    assertThat(NbdUri.isNbd("nbd://h/e")).isTrue();
    assertThat(NbdUri.isNbd("NBDS+UNIX:///e?socket=s")).isTrue();
    assertThat(NbdUri.isNbd("disk.qcow2")).isFalse();
    assertThat(NbdUri.isNbd("nbdimage.raw")).isFalse();
  }

  @Test
  void badNamesSayWhatIsExpected() {
    assertThatThrownBy(() -> NbdUri.parse("nbd+unix:///e")).hasMessageContaining("socket=PATH");
    assertThatThrownBy(() -> NbdUri.parse("nbd://h/e?socket=/s")).hasMessageContaining("no query");
    assertThatThrownBy(() -> NbdUri.parse("nbd://h:99999/e")).hasMessageContaining("expected");
    assertThatThrownBy(() -> NbdUri.parse("nbd:h:port")).hasMessageContaining("expected: a number");
  }
}
