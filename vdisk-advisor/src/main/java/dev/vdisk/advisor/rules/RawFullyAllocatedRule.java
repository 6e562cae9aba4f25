package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.SourceKind;
import java.util.Map;
import java.util.Optional;

/** A fully allocated raw file where a sparse one would perform the same. */
final class RawFullyAllocatedRule implements Rule {
  @Override
  public String id() {
    return "raw-fully-allocated";
  }

  @Override
  public Severity severity() {
    return Severity.NOTE;
  }

  @Override
  public String summary() {
    return "raw file fully allocated (probed) where sparse would do, that is unless cache=none/directsync with"
        + " io=threads: under writeback, sparse and preallocated files took first writes at about the same rate"
        + " (103k vs 116k IOPS), and aio=native/io_uring reach 61-75k on a sparse file under O_DIRECT ("
        + Defaults.MEASURED + ")";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    boolean full = d.writable() && d.kind() == SourceKind.FILE
        && c.readableImage().filter(i -> i.rawFullyAllocated()).isPresent();
    if (!full || (Defaults.direct(Defaults.cache(d)) && Defaults.io(d).equals("threads"))) {
      return Optional.empty();
    }
    return Optional.of(new Finding(id(), severity(), d.name(),
        "raw file with all " + c.image().virtualSize() + " bytes allocated, cache='" + Defaults.cache(d) + "' io='"
            + Defaults.io(d) + "'",
        "the host stores every block, used by the guest or not; with this cache and aio mode first writes into holes"
            + " cost little (writeback: 102,660 IOPS sparse vs 115,916 preallocated for 4 KiB first writes; "
            + Defaults.MEASURED + ")",
        "with the VM off: fallocate --dig-holes " + c.image().path() + " (or virt-sparsify --in-place); keep it thin"
            + " with discard='unmap'", Map.of(), d));
  }
}
