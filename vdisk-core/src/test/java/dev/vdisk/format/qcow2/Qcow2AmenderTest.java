package dev.vdisk.format.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.internal.OptionString;
import dev.vdisk.testkit.CrashingDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link Qcow2Amender} on images {@link Qcow2Format#create} makes (qemu-img's bytes): upgrades and downgrades give the
 * first cluster that creating with the other compat level gives, refcount width changes keep the image clean by
 * vdisk's check, and refusals leave every byte as it was.
 */
class Qcow2AmenderTest {
  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"cluster_size=65536", "cluster_size=4096", "cluster_size=512", "cluster_size=2097152",
      "cluster_size=65536,backing_file=base.qcow2,backing_fmt=qcow2"})
  void upgradeAndDowngradeWriteTheHeaderCreateWrites(String options) throws IOException {
    BlockDevice v2 = created("compat=0.10," + options);
    BlockDevice v3 = created("compat=1.1," + options);
    Qcow2Amender.amend(v2, dir.resolve("v2.qcow2"), Map.of("compat", "1.1"), f -> {}, p -> {});
    assertThat(firstCluster(v2)).isEqualTo(firstCluster(v3));
    Qcow2Amender.amend(v3, dir.resolve("v3.qcow2"), Map.of("compat", "0.10"), f -> {}, p -> {});
    assertThat(firstCluster(v3)).isEqualTo(firstCluster(created("compat=0.10," + options)));
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 4, 8, 16, 32, 64})
  void refcountWidthChangesKeepTheImageClean(int bits) throws IOException {
    BlockDevice image = created("cluster_size=4096");
    Qcow2Amender.amend(image, dir.resolve("img.qcow2"), Map.of("refcount_bits", Integer.toString(bits)), f -> {}, p -> {});
    assertThat(ImageHead.read(new HostReader(image, "image file")).header().refcountBits()).isEqualTo(bits);
    CheckResult r = Qcow2Checker.check(image, problem -> {});
    assertThat(r.corruptions() + r.leaks() + r.checkErrors()).isZero();
  }

  @Test
  void refusalsLeaveTheImageAsItWas() throws IOException {
    BlockDevice image = created("compat=0.10,cluster_size=65536");
    byte[] before = bytes(image);
    for (String options : new String[] {"foo=1", "cluster_size=4k", "refcount_bits=3", "refcount_bits=8",
        "lazy_refcounts=on", "compat=1.1,backing_file=x", "data_file=d", "data_file_raw=on", "compat=2",
        "encrypt.state=active", "lazy_refcounts=maybe", "refcount_bits=x"}) {
      assertThatThrownBy(() -> Qcow2Amender.amend(image, dir.resolve("img.qcow2"), OptionString.parse(options), f -> {},
          p -> {})).as(options).isInstanceOf(IOException.class);
      assertThat(bytes(image)).as(options).isEqualTo(before);
    }
  }

  /** A created image on a device that grows when written past its end, as a file does. */
  private CrashingDevice created(String options) throws IOException {
    Path file = Files.createTempFile(dir, "img", ".qcow2");
    new Qcow2Format().create(file, 64L << 20, OptionString.parse(options), true);
    byte[] b = Files.readAllBytes(file);
    MemoryDevice m = new MemoryDevice(b.length);
    m.write(0, ByteBuffer.wrap(b), Set.of());
    return new CrashingDevice(m);
  }

  private static byte[] firstCluster(BlockDevice image) throws IOException {
    ByteBuffer b = ImageHead.read(new HostReader(image, "image file")).firstCluster();
    byte[] out = new byte[b.capacity()];
    b.duplicate().clear().get(out);
    return out;
  }

  private static byte[] bytes(BlockDevice image) throws IOException {
    byte[] b = new byte[(int) image.size()];
    image.read(0, ByteBuffer.wrap(b));
    return b;
  }
}
