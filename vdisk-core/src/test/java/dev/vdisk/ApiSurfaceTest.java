package dev.vdisk;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.lang.module.ModuleDescriptor;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * What vdisk-core's exported packages hold: the API and nothing else. A new public type in an exported package
 * fails here until it is added to {@link #API_TYPES} (deliberately: it becomes API) or made package-private or moved
 * to an internal package (it is not); and no public or protected member of an API type names a type outside the
 * exported packages, so an internal class cannot reach callers through a signature either.
 */
class ApiSurfaceTest {
  /** The public types of the exported packages (nested types as {@code Outer$Inner}), by package. */
  private static final Set<String> API_TYPES = Set.of(
      // the front door
      "dev.vdisk.CheckListener", "dev.vdisk.CheckReport", "dev.vdisk.CheckReport$Verdict", "dev.vdisk.CreateOptions",
      "dev.vdisk.CreateOptions$Qcow2", "dev.vdisk.CreateOptions$Qcow2$Builder", "dev.vdisk.CreateOptions$Raw",
      "dev.vdisk.Image", "dev.vdisk.OpenOptions", "dev.vdisk.OpenOptions$Builder", "dev.vdisk.Vdisk",
      // the block device SPI and its errors
      "dev.vdisk.block.BlockDevice", "dev.vdisk.block.BlockDeviceException", "dev.vdisk.block.BlockError",
      "dev.vdisk.block.BlockLimits", "dev.vdisk.block.Capabilities", "dev.vdisk.block.CheckedDevice",
      "dev.vdisk.block.Extent", "dev.vdisk.block.FilterDevice", "dev.vdisk.block.ForwardingQueue",
      "dev.vdisk.block.ForwardingQueue$Call",
      "dev.vdisk.block.HostRange", "dev.vdisk.block.HostRange$Residency", "dev.vdisk.block.RequestQueue",
      "dev.vdisk.block.RequestQueue$Completion", "dev.vdisk.block.Support", "dev.vdisk.block.WriteFlag",
      // filters and the memory device: BlockDevices a caller stacks
      "dev.vdisk.block.filter.CountingFilter", "dev.vdisk.block.filter.DetectZeroesFilter",
      "dev.vdisk.block.filter.DetectZeroesFilter$Mode", "dev.vdisk.block.filter.NoFlushFilter",
      "dev.vdisk.block.filter.WritethroughFilter", "dev.vdisk.block.mem.MemoryDevice",
      // image facts, the one chain walker and allocation-status type, check results, the format SPI
      "dev.vdisk.format.Backing", "dev.vdisk.format.Bitmap", "dev.vdisk.format.BitmapEdit",
      "dev.vdisk.format.BitmapEdit$Op", "dev.vdisk.format.BitmapRuns", "dev.vdisk.format.BlockStatus",
      "dev.vdisk.format.ChainWalker", "dev.vdisk.format.ChainWalker$Mode", "dev.vdisk.format.CheckProblem",
      "dev.vdisk.format.CheckProblem$Kind", "dev.vdisk.format.CheckResult", "dev.vdisk.format.FormatFacts",
      "dev.vdisk.format.FormatImage", "dev.vdisk.format.ImageChain", "dev.vdisk.format.ImageChain$Layer",
      "dev.vdisk.format.ImageContext", "dev.vdisk.format.ImageFormat", "dev.vdisk.format.ImageInfo",
      "dev.vdisk.format.ImageMap", "dev.vdisk.format.ImageMap$Sink", "dev.vdisk.format.MeasureSource",
      "dev.vdisk.format.Measurement", "dev.vdisk.format.Repair", "dev.vdisk.format.Snapshot",
      "dev.vdisk.format.SnapshotNotFoundException",
      // host files (cache modes, aio, locks, preallocation) and RBD images as BlockDevices
      "dev.vdisk.io.Aio", "dev.vdisk.io.CacheMode", "dev.vdisk.io.FileDevice", "dev.vdisk.io.FileDevice$Creation",
      "dev.vdisk.io.FileOptions",
      "dev.vdisk.io.ImageUser", "dev.vdisk.io.Preallocation", "dev.vdisk.io.rbd.RbdDevice",
      "dev.vdisk.io.rbd.RbdDevice$Snapshot", "dev.vdisk.io.rbd.RbdDevice$SnapshotAction",
      "dev.vdisk.io.rbd.RbdDevice$Use", "dev.vdisk.io.rbd.RbdName", "dev.vdisk.io.rbd.RbdSecrets",
      // how convert copies, what compare finds, and how long-running operations report
      "dev.vdisk.ops.CompareException", "dev.vdisk.ops.CompareException$Stage", "dev.vdisk.ops.CompareResult",
      "dev.vdisk.ops.CompareResult$Verdict", "dev.vdisk.ops.ConvertOptions", "dev.vdisk.ops.Progress");

  private static Set<String> exported;
  private static List<Class<?>> publicTypes;

  @BeforeAll
  static void load() throws Exception {
    exported = new TreeSet<>();
    for (ModuleDescriptor.Exports e : ModuleBoundaryTest.descriptor().exports()) {
      if (!e.isQualified()) {
        exported.add(e.source());
      }
    }
    Path classes = Path.of(Vdisk.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    publicTypes = new ArrayList<>();
    try (Stream<Path> files = Files.walk(classes)) {
      for (Path f : (Iterable<Path>) files.filter(f -> f.toString().endsWith(".class")
          && !f.endsWith("module-info.class"))::iterator) {
        String name = classes.relativize(f).toString().replace(File.separatorChar, '.').replaceAll("\\.class$", "");
        Class<?> c = Class.forName(name, false, Vdisk.class.getClassLoader());
        if (exported.contains(c.getPackageName()) && accessible(c)) {
          publicTypes.add(c);
        }
      }
    }
  }

  @Test
  void exportedPackagesHoldOnlyTheApi() {
    Set<String> actual = new TreeSet<>();
    publicTypes.forEach(c -> actual.add(c.getName()));
    assertThat(actual).as("public types of the exported packages %s (a new one: API, or internal?)", exported)
        .containsExactlyInAnyOrderElementsOf(new TreeSet<>(API_TYPES));
  }

  @Test
  void apiSignaturesNameOnlyApiTypes() {
    Set<String> leaks = new TreeSet<>();
    for (Class<?> c : publicTypes) {
      List<Type> named = new ArrayList<>();
      named.add(c.getGenericSuperclass());
      named.addAll(List.of(c.getGenericInterfaces()));
      for (Method m : c.getDeclaredMethods()) {
        if (visible(m.getModifiers()) && !m.isSynthetic()) {
          named.add(m.getGenericReturnType());
          named.addAll(List.of(m.getGenericParameterTypes()));
          named.addAll(List.of(m.getGenericExceptionTypes()));
        }
      }
      for (Constructor<?> k : c.getDeclaredConstructors()) {
        if (visible(k.getModifiers())) {
          named.addAll(List.of(k.getGenericParameterTypes()));
          named.addAll(List.of(k.getGenericExceptionTypes()));
        }
      }
      for (Field f : c.getDeclaredFields()) {
        if (visible(f.getModifiers())) {
          named.add(f.getGenericType());
        }
      }
      for (Type t : named) {
        collect(t, leaks, c.getName());
      }
    }
    assertThat(leaks).as("vdisk types outside the API named by the API's signatures").isEmpty();
  }

  private static void collect(Type t, Set<String> leaks, String where) {
    switch (t) {
      case null -> { }
      case Class<?> c when c.isArray() -> collect(c.getComponentType(), leaks, where);
      case Class<?> c -> {
        if (c.getName().startsWith("dev.vdisk.") && !(exported.contains(c.getPackageName()) && accessible(c))) {
          leaks.add(where + " names " + c.getName());
        }
      }
      case ParameterizedType p -> {
        collect(p.getRawType(), leaks, where);
        for (Type a : p.getActualTypeArguments()) {
          collect(a, leaks, where);
        }
      }
      case WildcardType w -> {
        for (Type b : w.getUpperBounds()) {
          collect(b, leaks, where);
        }
        for (Type b : w.getLowerBounds()) {
          collect(b, leaks, where);
        }
      }
      case GenericArrayType g -> collect(g.getGenericComponentType(), leaks, where);
      case TypeVariable<?> v -> {
        // Its bounds are named where it is declared.
      }
      default -> throw new AssertionError(t);
    }
  }

  /** Public, and so is every type around it: reachable from outside the module where its package is exported. */
  private static boolean accessible(Class<?> c) {
    for (Class<?> k = c; k != null; k = k.getEnclosingClass()) {
      if (!Modifier.isPublic(k.getModifiers()) || k.isAnonymousClass() || k.isLocalClass()) {
        return false;
      }
    }
    return true;
  }

  private static boolean visible(int modifiers) {
    return Modifier.isPublic(modifiers) || Modifier.isProtected(modifiers);
  }
}
