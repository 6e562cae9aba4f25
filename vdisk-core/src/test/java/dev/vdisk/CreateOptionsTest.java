package dev.vdisk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.format.internal.FormatRegistry;
import dev.vdisk.format.internal.OptionString;
import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Typed create options make the same image as qemu-img's {@code -o} strings, and parse from them. */
class CreateOptionsTest {
  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"", "cluster_size=4k", "compat=0.10", "refcount_bits=1,lazy_refcounts=on",
      "extended_l2=on,cluster_size=32k,preallocation=metadata", "compression_type=zstd", "backing_file=b.qcow2,backing_fmt=qcow2",
      "data_file=DATA,data_file_raw=on"})
  void typedOptionsCreateTheSameBytesAsTheOptionString(String dashO) throws IOException {
    // DATA: one absolute data file name (a relative one is relative to the current directory), made by each create.
    Path data = dir.resolve("d.raw");
    Map<String, String> map = OptionString.parse(dashO.replace("DATA", data.toString()));
    Path fromMap = Files.createDirectory(dir.resolve("map")).resolve("img.qcow2");
    FormatRegistry.byName("qcow2").create(fromMap, 100 << 20, map, false);
    Files.deleteIfExists(data);
    Path fromTyped = Files.createDirectory(dir.resolve("typed")).resolve("img.qcow2");
    Vdisk.create(fromTyped, 100 << 20, CreateOptions.parse("qcow2", map), false);
    assertThat(Files.readAllBytes(fromTyped)).isEqualTo(Files.readAllBytes(fromMap));
  }

  @Test
  void theBuilderSpellsTheDefaultsAsQemuDoes() {
    assertThat(CreateOptions.parse("qcow2", Map.of())).isEqualTo(CreateOptions.qcow2().build());
    assertThat(CreateOptions.parse("raw", Map.of("preallocation", "falloc")))
        .isEqualTo(new CreateOptions.Raw(Preallocation.FALLOC));
    assertThat(CreateOptions.qcow2().clusterSize(4096).lazyRefcounts(true).build().toQemuOptions())
        .containsEntry("cluster_size", "4096").containsEntry("lazy_refcounts", "on");
  }

  @Test
  void badValuesAreRefusedWithQemusWords() {
    assertThatThrownBy(() -> CreateOptions.parse("qcow2", Map.of("cluster_size", "3000")))
        .hasMessage("cluster_size: '3000' (expected: a power of two from 512 to 2M)");
    assertThatThrownBy(() -> Vdisk.create(dir.resolve("x.qcow2"), 1 << 20, CreateOptions.qcow2().compat("0.10")
        .lazyRefcounts(true).build(), false)).hasMessageContaining("lazy_refcounts: 'on'");
    assertThat(dir.resolve("x.qcow2")).doesNotExist();
  }
}
