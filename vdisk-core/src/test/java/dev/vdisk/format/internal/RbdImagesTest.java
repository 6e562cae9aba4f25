package dev.vdisk.format.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.io.rbd.RbdDevice.Use;
import org.junit.jupiter.api.Test;

/**
 * What a connection made ahead prepares for a command line: librbd's callbacks for those whose command makes
 * requests, called until customized for those that make them by the thousand.
 */
class RbdImagesTest {
  private static final String IMAGE = "rbd:rbd/disk:conf=/etc/ceph/ceph.conf";

  @Test
  void benchAndServeMakeManyRequests() {
    assertThat(RbdImages.use("bench", "-w", IMAGE)).isEqualTo(Use.MANY_REQUESTS);
    assertThat(RbdImages.use("serve", "-f", "raw", IMAGE)).isEqualTo(Use.MANY_REQUESTS);
    assertThat(RbdImages.use("--debug", "serve", IMAGE)).as("an option before the command").isEqualTo(Use.MANY_REQUESTS);
  }

  @Test
  void copyingCommandsMakeRequests() {
    assertThat(RbdImages.use("convert", "-O", "raw", IMAGE, "out.raw")).isEqualTo(Use.REQUESTS);
    assertThat(RbdImages.use("--debug", "map", IMAGE)).as("an option before the command").isEqualTo(Use.REQUESTS);
    assertThat(RbdImages.use("compare", IMAGE, "local.raw")).isEqualTo(Use.REQUESTS);
  }

  @Test
  void commandsThatMayOnlyOpenTheImageDoNot() {
    assertThat(RbdImages.use("info", "-f", "raw", IMAGE)).isEqualTo(Use.OPEN);
    assertThat(RbdImages.use("create", "-f", "raw", IMAGE, "1G")).isEqualTo(Use.OPEN);
    assertThat(RbdImages.use("snapshot", "-c", "s1", IMAGE)).isEqualTo(Use.OPEN);
    assertThat(RbdImages.use(IMAGE)).as("no command").isEqualTo(Use.OPEN);
    assertThat(RbdImages.use("--debug")).isEqualTo(Use.OPEN);
  }
}
