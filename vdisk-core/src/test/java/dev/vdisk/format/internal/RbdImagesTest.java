package dev.vdisk.format.internal;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Which command lines have librbd's callbacks made ahead with their connection: those whose command makes requests. */
class RbdImagesTest {
  private static final String IMAGE = "rbd:rbd/disk:conf=/etc/ceph/ceph.conf";

  @Test
  void copyingAndServingCommandsMakeRequests() {
    assertThat(RbdImages.makesRequests("convert", "-O", "raw", IMAGE, "out.raw")).isTrue();
    assertThat(RbdImages.makesRequests("--debug", "map", IMAGE)).as("an option before the command").isTrue();
    assertThat(RbdImages.makesRequests("bench", "-w", IMAGE)).isTrue();
    assertThat(RbdImages.makesRequests("serve", "-f", "raw", IMAGE)).isTrue();
  }

  @Test
  void commandsThatMayOnlyOpenTheImageDoNot() {
    assertThat(RbdImages.makesRequests("info", "-f", "raw", IMAGE)).isFalse();
    assertThat(RbdImages.makesRequests("create", "-f", "raw", IMAGE, "1G")).isFalse();
    assertThat(RbdImages.makesRequests("snapshot", "-c", "s1", IMAGE)).isFalse();
    assertThat(RbdImages.makesRequests(IMAGE)).as("no command").isFalse();
    assertThat(RbdImages.makesRequests("--debug")).isFalse();
  }
}
