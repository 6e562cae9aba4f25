package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Bus;
import dev.vdisk.advisor.model.Disk;
import java.util.Map;
import java.util.Optional;

/**
 * Discard on a virtio-blk disk, judged by version: the seed post's "use virtio-scsi for discard" was right before
 * QEMU 4.0 and is not a blanket rule since.
 */
final class VirtioBlkDiscardRule implements Rule {
  @Override
  public String id() {
    return "virtio-blk-discard";
  }

  @Override
  public Severity severity() {
    return Severity.WARN;
  }

  @Override
  public String summary() {
    return "discard unmap on virtio-blk: before QEMU 4.0 virtio-blk has no discard (warn: use virtio-scsi or a newer"
        + " QEMU); since 4.0 it passes discards to guests whose driver supports them (Linux 5.0 and later; Windows"
        + " needs a virtio-win storage driver with discard support) (note)";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    if (!d.writable() || d.bus() != Bus.VIRTIO_BLK || !Defaults.discardUnmap(d)) {
      return Optional.empty();
    }
    String evidence = "bus virtio-blk with discard='" + d.discard() + "' on QEMU " + c.qemu().number();
    if (!c.qemu().atLeast(4, 0)) {
      return Optional.of(new Finding(id(), Severity.WARN, d.name(), evidence,
          "virtio-blk gained discard in QEMU 4.0; on " + c.qemu().number() + " the guest sees no discard support and"
              + " its TRIMs never reach the image",
          "QEMU 4.0 or later, or move the disk to virtio-scsi (bus='scsi' with a virtio-scsi controller)",
          Map.of(), d));
    }
    return Optional.of(new Finding(id(), Severity.NOTE, d.name(), evidence,
        "virtio-blk passes discard since QEMU 4.0, to guests whose driver negotiates it: Linux 5.0 and later;"
            + " older Linux guests and Windows guests with older virtio-win drivers see no discard, and there"
            + " virtio-scsi is still the way",
        "nothing for a Linux 5.0+ guest; otherwise virtio-scsi or a newer guest driver", Map.of(), d));
  }
}
