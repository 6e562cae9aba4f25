package dev.vdisk;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.lang.module.ModuleDescriptor;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The module dev.vdisk.core as compiled (its module-info.class; the tests themselves run on the class path): it
 * exports the API packages to everyone and its internals only to the other vdisk modules, so a program on the
 * module path cannot reach the FFM bindings, a format driver's classes or the internals, and it offers the drivers
 * as {@code ImageFormat} services. {@link ApiSurfaceTest} checks what the API packages hold.
 */
class ModuleBoundaryTest {
  static final Set<String> API = Set.of("dev.vdisk", "dev.vdisk.block", "dev.vdisk.block.filter",
      "dev.vdisk.block.mem", "dev.vdisk.format", "dev.vdisk.io", "dev.vdisk.io.rbd", "dev.vdisk.ops");
  /** What the other vdisk modules build on beside the API; exported to them only (a compile-time boundary). */
  private static final Set<String> SHARED = Set.of("dev.vdisk.format.internal", "dev.vdisk.io.internal",
      "dev.vdisk.ops.internal");
  private static final Set<String> SIBLINGS = Set.of("dev.vdisk.cli", "dev.vdisk.nbd", "dev.vdisk.bench",
      "dev.vdisk.advisor");
  private static final Set<String> INTERNAL = Set.of("dev.vdisk.io.linux", "dev.vdisk.format.qcow2",
      "dev.vdisk.format.raw", "dev.vdisk.format.luks");

  @Test
  void exportsTheApiPackagesOnly() throws Exception {
    ModuleDescriptor core = descriptor();
    assertThat(core.name()).isEqualTo("dev.vdisk.core");
    Set<String> exported = core.exports().stream().filter(e -> !e.isQualified())
        .map(ModuleDescriptor.Exports::source).collect(Collectors.toSet());
    assertThat(exported).isEqualTo(API);
    Set<String> shared = core.exports().stream().filter(ModuleDescriptor.Exports::isQualified)
        .peek(e -> assertThat(e.targets()).as(e.source()).isEqualTo(SIBLINGS))
        .map(ModuleDescriptor.Exports::source).collect(Collectors.toSet());
    assertThat(shared).isEqualTo(SHARED);
    Set<String> all = new java.util.HashSet<>(API);
    all.addAll(SHARED);
    all.addAll(INTERNAL);
    assertThat(core.packages()).as("every package is API or internal").isEqualTo(all);
    assertThat(core.opens()).isEmpty();
  }

  @Test
  void offersTheFormatDriversAsServices() throws Exception {
    assertThat(descriptor().provides()).singleElement().satisfies(p -> {
      assertThat(p.service()).isEqualTo("dev.vdisk.format.ImageFormat");
      assertThat(p.providers()).containsExactly("dev.vdisk.format.raw.RawFormat", "dev.vdisk.format.qcow2.Qcow2Format");
    });
  }

  /**
   * The descriptor compiled beside the main classes (found where {@link Vdisk} was loaded from), with the packages
   * that hold those classes (javac does not record them all in module-info.class; jar does).
   */
  static ModuleDescriptor descriptor() throws IOException, URISyntaxException {
    Path classes = Path.of(Vdisk.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    Set<String> packages;
    try (Stream<Path> files = Files.walk(classes)) {
      packages = files.filter(f -> f.toString().endsWith(".class") && !f.endsWith("module-info.class"))
          .map(f -> classes.relativize(f.getParent()).toString().replace(File.separatorChar, '.'))
          .collect(Collectors.toSet());
    }
    try (InputStream in = Files.newInputStream(classes.resolve("module-info.class"))) {
      return ModuleDescriptor.read(in, () -> packages);
    }
  }
}
