package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.facts.ImageFacts;
import dev.vdisk.advisor.model.Disk;
import java.util.Map;
import java.util.Optional;

/** A qcow2 cluster size that costs more than it gives. */
final class Qcow2ClusterSizeRule implements Rule {
  private static final int DEFAULT = 64 * 1024;

  @Override
  public String id() {
    return "qcow2-cluster-size";
  }

  @Override
  public Severity severity() {
    return Severity.NOTE;
  }

  @Override
  public String summary() {
    return "qcow2 cluster size (probed): below 64 KiB the same L2 cache covers proportionally less disk and metadata"
        + " grows; above 64 KiB on an overlay without extended_l2, a small first write copies the whole cluster from"
        + " the backing image (extended_l2=on, QEMU 5.2+, allocates 1/32 of a cluster at a time)";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    Optional<ImageFacts> probed = c.probedQcow2();
    if (!d.writable() || probed.isEmpty()) {
      return Optional.empty();
    }
    ImageFacts image = probed.get();
    int kib = image.clusterSize() / 1024;
    if (image.clusterSize() < DEFAULT) {
      return Optional.of(new Finding(id(), severity(), d.name(), "cluster_size " + image.clusterSize(),
          "1 MiB of L2 cache covers cluster_size x 131072 bytes: " + (image.clusterSize() / 8) + " MiB of disk at "
              + image.clusterSize() + "-byte clusters against 8 GiB at 64 KiB; more L2 and refcount metadata per GiB",
          "with the VM off: " + image.convertCommand("cluster_size=64k"), Map.of(), d));
    }
    if (image.clusterSize() > DEFAULT && !image.extendedL2() && !image.backingChain().isEmpty()) {
      return Optional.of(new Finding(id(), severity(), d.name(),
          "cluster_size " + kib + " KiB without extended_l2, over a backing image",
          "the first write into a cluster the overlay does not hold copies the rest of the " + kib + " KiB cluster"
              + " from the backing image: a 4 KiB write can cost " + kib + " KiB of reads and writes",
          (c.qemu().atLeast(5, 2) ? "create overlays with -o extended_l2=on,cluster_size=" + kib + "k (QEMU 5.2+)"
              : "create overlays with -o cluster_size=64k"), Map.of(), d));
    }
    return Optional.empty();
  }
}
