package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.Setting;
import java.util.Map;
import java.util.Optional;

/**
 * QEMU's defaults for the settings a configuration may leave out, by version, and the facts quoted about them.
 * Where libvirt leaves a setting to "the hypervisor default" it is QEMU's.
 */
final class Defaults {
  /** Since QEMU 1.2 a drive without {@code cache=} is writeback (with the guest told of a volatile write cache). */
  static final String CACHE_FACT = "QEMU's default cache mode has been writeback since QEMU 1.2 (writethrough before)";
  /** QEMU's {@code discard} defaults to ignore; libvirt's unset discard is QEMU's default. */
  static final String DISCARD_FACT = "QEMU's default is discard=ignore: the guest's TRIM/UNMAP requests are dropped";
  /** QEMU's {@code aio} defaults to threads. */
  static final String IO_FACT = "QEMU's default is aio=threads";
  /** Where the measured figures the rules quote come from (the project's baseline runs, listed in docs/advise.md). */
  static final String MEASURED = "measured with qemu-img bench, QEMU 7.2 on ext4: docs/advise.md";

  private Defaults() {}

  /** The cache mode QEMU uses for the disk. */
  static String cache(Disk d) {
    return d.cache() != null ? d.cache() : "writeback";
  }

  /** True if the cache mode bypasses the host page cache (O_DIRECT). */
  static boolean direct(String cache) {
    return cache.equals("none") || cache.equals("directsync");
  }

  /** True if the cache mode flushes after every write. */
  static boolean writethrough(String cache) {
    return cache.equals("writethrough") || cache.equals("directsync");
  }

  /** The aio mode QEMU uses for the disk. */
  static String io(Disk d) {
    return d.io() != null ? d.io() : "threads";
  }

  /** True if the disk passes the guest's discards to the image. */
  static boolean discardUnmap(Disk d) {
    return "unmap".equals(d.discard()) || "on".equals(d.discard());
  }

  /** The disk's format: declared, else the probed one, else empty. */
  static Optional<String> format(Disk d, RuleContext c) {
    return d.format() != null ? Optional.of(d.format()) : c.readableImage().map(i -> i.format());
  }

  /** The best aio mode this QEMU and host offer: io_uring (QEMU 5.0, Linux 5.1), else native. */
  static String bestAio(RuleContext c) {
    return c.qemu().atLeast(5, 0) && c.host().ioUring() ? "io_uring" : "native";
  }

  /** A cache mode without the flush per write: none where the file system takes O_DIRECT (or is not probed), else writeback. */
  static String fastSafeCache(RuleContext c) {
    return c.readableImage().map(i -> i.directIo()).orElse(true) ? "none" : "writeback";
  }

  /** The evidence text for a setting: {@code cache='writethrough'} or {@code cache unset}. */
  static String shown(Setting s, String value, RuleContext c) {
    String key = c.libvirt() ? s.xmlAttribute() : s.driveKey();
    return value == null ? key + " unset" : written(s, value, c);
  }

  /** A setting as the configuration writes it: {@code cache='none'} in libvirt XML, {@code cache=none} for QEMU. */
  static String written(Setting s, String value, RuleContext c) {
    return c.libvirt() ? s.xmlAttribute() + "='" + value + "'" : s.driveKey() + "=" + value;
  }

  /** One change. */
  static Map<Setting, String> change(Setting s, String value) {
    return Map.of(s, value);
  }
}
