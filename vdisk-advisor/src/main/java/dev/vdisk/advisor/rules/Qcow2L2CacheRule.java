package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.facts.ImageFacts;
import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.Setting;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * A qcow2 image larger than its L2 cache covers. QEMU's docs/qcow2-cache.txt: covered disk = L2 cache size x
 * cluster size / 8 (/ 16 with extended L2 entries). The default cache was 1 MiB before QEMU 3.1 (8 GiB at 64 KiB
 * clusters); since 3.1 it is a maximum of 32 MiB on Linux (256 GiB), used only as far as the image needs.
 */
final class Qcow2L2CacheRule implements Rule {
  private static final long MIB = 1 << 20;

  @Override
  public String id() {
    return "qcow2-l2-cache";
  }

  @Override
  public Severity severity() {
    return Severity.WARN;
  }

  @Override
  public String summary() {
    return "qcow2 whose L2 cache does not cover the whole image and no l2-cache-size/cache-size (probed): random I/O"
        + " beyond the covered part re-reads L2 tables from disk. Covered = cache x cluster size / 8; QEMU's default"
        + " is 1 MiB before 3.1 (8 GiB at 64 KiB clusters) and up to 32 MiB on Linux since 3.1 (256 GiB)";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    Optional<ImageFacts> probed = c.probedQcow2();
    if (probed.isEmpty()) {
      return Optional.empty();
    }
    ImageFacts image = probed.get();
    long entryBytes = image.extendedL2() ? 16 : 8;
    long cache;
    String source;
    if (d.l2CacheSize() != null) {
      cache = d.l2CacheSize();
      source = "l2-cache-size " + d.l2CacheSize();
    } else if (d.cacheSize() != null) {
      cache = Math.max(0, d.cacheSize() - 4L * image.clusterSize()); // the refcount cache keeps its 4 clusters
      source = "cache-size " + d.cacheSize();
    } else {
      cache = c.qemu().atLeast(3, 1) ? 32 * MIB : MIB;
      source = "QEMU " + c.qemu().number() + "'s default " + cache / MIB + " MiB";
    }
    long covered = cache / entryBytes * image.clusterSize();
    if (covered >= image.virtualSize()) {
      return Optional.empty();
    }
    long tables = (image.virtualSize() / image.clusterSize() * entryBytes + image.clusterSize() - 1) / image.clusterSize();
    long needed = tables * image.clusterSize();
    boolean cmdline = !c.libvirt();
    return Optional.of(new Finding(id(), severity(), d.name(),
        source + " covers " + gib(covered) + " of a " + gib(image.virtualSize()) + " image with "
            + image.clusterSize() / 1024 + " KiB clusters" + (image.extendedL2() ? " and extended L2 entries" : ""),
        "each L2 cache byte maps cluster_size/" + entryBytes + " bytes of disk (QEMU docs/qcow2-cache.txt); random"
            + " I/O outside the covered part re-reads L2 tables from the image. Default L2 cache: 1 MiB before QEMU"
            + " 3.1, up to 32 MiB on Linux since",
        (cmdline ? "l2-cache-size=" + needed : "an L2 cache of " + needed + " bytes: libvirt 7.0 and later set the"
            + " qcow2 metadata cache with <metadata_cache><max_size unit='bytes'>" + needed + "</max_size>"
            + "</metadata_cache> inside <driver>") + " (" + needed / MIB + " MiB of host memory at most)",
        cmdline ? Map.of(Setting.L2_CACHE_SIZE, Long.toString(needed)) : Map.of(), d));
  }

  private static String gib(long bytes) {
    return bytes % (1L << 30) == 0 ? bytes / (1L << 30) + " GiB" : String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
  }
}
