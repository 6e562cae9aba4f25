package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.nbd.server.DiscardMode;
import dev.vdisk.nbd.server.EventLog;
import dev.vdisk.nbd.server.Export;
import dev.vdisk.nbd.server.NbdServer;
import dev.vdisk.nbd.server.ServerConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A real Linux guest under QEMU (TCG) with its disk on vdisk's NBD server: it writes a pattern with
 * {@code dd}, reads it back past its page cache, and writes then discards another range with
 * {@code blkdiscard}; the host then finds the pattern in the image and the discarded range unallocated. Needs qemu-system-x86,
 * busybox-static and a Debian linux-image-amd64 kernel (installed by {@code .ci/run}).
 */
class GuestBootIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<String> MODULES =
      List.of("virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci", "virtio_blk");
  /** What the guest writes at 1 MiB: 4 MiB of this line, repeated. */
  private static final String LINE = "vdisk-guest-pattern\n";

  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(strings = {"raw", "qcow2"})
  void guestWritesReadsAndDiscardsThroughVdisk(String format) throws Exception {
    Path img = dir.resolve("guest.img");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", format, img.toString(), "64M");
    StringWriter log = new StringWriter();
    String console = boot(dir, new ExportSpec("d", img.toString(), format, CacheMode.NONE, false, DiscardMode.UNMAP, "")
        .open(new EventLog(new PrintWriter(log, true)), new PrintWriter(log, true)), log);
    assertThat(console).as(console).contains("GUEST-READBACK-OK").contains("GUEST-DISCARD-OK").doesNotContain("GUEST-FAIL");
    assertThat(log.toString()).contains("event=open").contains("export=d");

    byte[] expected = pattern();
    byte[] onDisk = new byte[4 << 20];
    try (OpenImage image = Images.open(img, format, FileOptions.of(CacheMode.WRITEBACK, true))) {
      image.device().read(1 << 20, java.nio.ByteBuffer.wrap(onDisk));
    }
    assertThat(java.util.Arrays.mismatch(onDisk, expected)).as("first byte where the image differs from the guest's pattern at 1 MiB").isEqualTo(-1);
    if (format.equals("qcow2")) {
      assertThat(PeerTools.check(dir, "qemu-img", "check", img.toString())).contains("No errors were found on the image.");
    }
    JsonNode map = JSON.readTree(PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", format, img.toString()));
    boolean discarded = false;
    for (JsonNode e : map) {
      long start = e.get("start").asLong();
      long end = start + e.get("length").asLong();
      if (start <= (8 << 20) && end >= (9 << 20) && !e.get("data").asBoolean()) {
        discarded = true;
      }
    }
    assertThat(discarded).as("8M..9M, written then discarded by the guest, holds no data in the image: " + map).isTrue();
  }

  /**
   * Boots a Linux guest (the host's kernel, a generated initramfs) whose virtio disk is {@code export}, served by
   * vdisk on a unix socket in {@code dir} with cache=none and discard=unmap; returns the guest's console. The guest
   * writes 4 MiB of {@link #LINE} at 1 MiB, reads it back past its page cache (GUEST-READBACK-OK), writes 1 MiB at
   * 8 MiB and discards it (GUEST-DISCARD-OK).
   */
  static String boot(Path dir, Export export, StringWriter log) throws Exception {
    PeerTools.require("qemu-system-x86_64");
    PeerTools.require("busybox");
    Path kernel = require(newest("/boot", "vmlinuz-"), "a Linux kernel in /boot (Debian package linux-image-amd64)");
    String version = kernel.getFileName().toString().substring("vmlinuz-".length());
    Path initrd = dir.resolve("initrd.cpio");
    Files.write(initrd, initramfs(Path.of("/lib/modules", version)));
    Path sock = dir.resolve("nbd.sock");
    NbdServer server = new NbdServer(List.of(export), ServerConfig.DEFAULTS, new EventLog(new PrintWriter(log, true)));
    try {
      server.listen(UnixDomainSocketAddress.of(sock));
      Path out = dir.resolve("console.txt");
      Process qemu = new ProcessBuilder("qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", "256", "-nographic",
          "-no-reboot", "-kernel", kernel.toString(), "-initrd", initrd.toString(),
          "-append", "console=ttyS0 panic=-1 loglevel=3",
          "-drive", "file=nbd+unix:///d?socket=" + sock + ",format=raw,if=virtio,cache=none,discard=unmap")
          .redirectErrorStream(true).redirectOutput(out.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
          .start();
      if (!qemu.waitFor(240, TimeUnit.SECONDS)) {
        qemu.destroyForcibly();
        fail("guest still running after 240 s:\n" + Files.readString(out));
      }
      return Files.readString(out, StandardCharsets.UTF_8);
    } finally {
      server.stop(Duration.ofSeconds(10));
    }
  }

  /** The 4 MiB the guest writes at 1 MiB. */
  static byte[] pattern() {
    return LINE.repeat((4 << 20) / LINE.length() + 1).substring(0, 4 << 20).getBytes(StandardCharsets.US_ASCII);
  }

  /** busybox, an init that does the guest's part, and the virtio modules in load order. */
  private static byte[] initramfs(Path modules) throws IOException {
    Path busybox = require(Optional.of(Path.of("/bin/busybox")).filter(Files::isRegularFile), "/bin/busybox (busybox-static)");
    Cpio cpio = new Cpio().directory("bin").directory("dev").directory("proc").directory("sys").directory("tmp").directory("mods");
    cpio.file("bin/busybox", Files.readAllBytes(busybox));
    StringBuilder load = new StringBuilder();
    for (String m : MODULES) {
      Path ko = require(find(modules, m + ".ko"), "kernel module " + m + ".ko under " + modules);
      cpio.file("mods/" + m + ".ko", Files.readAllBytes(ko));
      load.append("insmod /mods/").append(m).append(".ko || echo GUEST-FAIL insmod ").append(m).append('\n');
    }
    String init = """
        #!/bin/busybox sh
        /bin/busybox --install -s /bin
        mount -t proc proc /proc
        mount -t sysfs sys /sys
        mount -t devtmpfs dev /dev
        %s
        i=0; while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
        yes '%s' | head -c 4194304 > /tmp/p
        dd if=/tmp/p of=/dev/vda bs=1M seek=1 conv=fsync 2>/dev/null || echo GUEST-FAIL dd write
        echo 3 > /proc/sys/vm/drop_caches
        dd if=/dev/vda bs=1M skip=1 count=4 2>/dev/null | cmp - /tmp/p && echo GUEST-READBACK-OK
        dd if=/tmp/p of=/dev/vda bs=1M seek=8 count=1 conv=fsync 2>/dev/null
        blkdiscard -o 8388608 -l 1048576 /dev/vda && echo GUEST-DISCARD-OK
        sync
        poweroff -f
        """.formatted(load, LINE.strip());
    cpio.file("init", init.getBytes(StandardCharsets.US_ASCII));
    return cpio.finish();
  }

  private static Optional<Path> newest(String directory, String prefix) throws IOException {
    if (!Files.isDirectory(Path.of(directory))) {
      return Optional.empty();
    }
    try (Stream<Path> s = Files.list(Path.of(directory))) {
      return s.filter(p -> p.getFileName().toString().startsWith(prefix)).max(Path::compareTo);
    }
  }

  private static Optional<Path> find(Path root, String name) throws IOException {
    if (!Files.isDirectory(root)) {
      return Optional.empty();
    }
    try (Stream<Path> s = Files.walk(root)) {
      return s.filter(p -> p.getFileName().toString().equals(name)).findFirst();
    }
  }

  /** Like {@link PeerTools#require}: skip on a developer's machine, fail on CI. */
  private static Path require(Optional<Path> p, String what) {
    if (p.isPresent()) {
      return p.get();
    }
    String reason = "missing " + what;
    if ("true".equals(System.getenv("CI"))) {
      fail(reason + "; CI=true, so a missing peer is a failure");
    }
    Assumptions.abort(reason);
    return null;
  }
}
