package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Bus;
import dev.vdisk.advisor.model.Disk;
import java.util.Map;
import java.util.Optional;

/**
 * A writable disk on a controller QEMU emulates register by register (IDE, SATA/AHCI, a non-virtio SCSI HBA, USB
 * storage) instead of a paravirtual one. Not fixable by {@code --fix}: the guest must have its virtio driver before
 * its disk moves, and the guest's device names change with the bus.
 */
final class EmulatedBusRule implements Rule {
  @Override
  public String id() {
    return "emulated-bus";
  }

  @Override
  public Severity severity() {
    return Severity.WARN;
  }

  @Override
  public String summary() {
    return "a writable disk on an emulated controller (IDE, SATA, a non-virtio SCSI HBA, USB): every request goes"
        + " through emulated device registers, IDE and USB storage one request at a time; virtio-blk or virtio-scsi"
        + " queue many requests per notification";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    if (!d.writable() || !emulated(d.bus())) {
      return Optional.empty();
    }
    return Optional.of(new Finding(id(), severity(), d.name(), evidence(d, c), reason(d.bus()), fix(c), Map.of(), d));
  }

  private static boolean emulated(Bus bus) {
    return bus == Bus.IDE || bus == Bus.SATA || bus == Bus.SCSI || bus == Bus.USB;
  }

  private static String evidence(Disk d, RuleContext c) {
    if (c.libvirt()) {
      return d.bus() == Bus.SCSI ? "bus='scsi' on a controller whose model is not virtio-scsi" : "bus='" + d.bus().display() + "'";
    }
    return switch (d.bus()) {
      case IDE -> "if=ide (QEMU's default for a -drive without if=) or an ide-hd device";
      case SATA -> "an ide-hd device on an AHCI controller";
      case USB -> "a usb-storage device";
      default -> "if=scsi (an lsi53c895a controller) or a scsi-hd on a controller that is not virtio-scsi-pci";
    };
  }

  private static String reason(Bus bus) {
    String how = switch (bus) {
      case IDE -> "QEMU's IDE controller takes one command at a time (no queuing) and the guest programs each"
          + " through several I/O port accesses, each an exit to QEMU under KVM, then takes an emulated interrupt";
      case SATA -> "QEMU's AHCI controller queues up to 32 commands (NCQ), but the guest issues each through"
          + " emulated memory-mapped registers and command tables, and QEMU emulates the interrupt of each";
      case USB -> "usb-storage passes one command at a time through an emulated USB host controller";
      default -> "an emulated SCSI HBA (lsilogic, megasas, ...) takes each command through emulated registers";
    };
    return how + "; a virtio disk shares a ring of many requests with QEMU and notifies it once per batch";
  }

  private static String fix(RuleContext c) {
    String target = c.libvirt()
        ? "<target dev='vdX' bus='virtio'/> (virtio-blk; drop the disk's <address type='drive'/>), or bus='scsi' on a"
            + " <controller type='scsi' model='virtio-scsi'/>"
        : "if=virtio on the -drive, or if=none,id=ID with -device virtio-blk-pci,drive=ID (or a virtio-scsi-pci"
            + " controller with scsi-hd,drive=ID)";
    return target + ". The guest needs the driver first: Linux has virtio_blk and virtio_scsi; a Windows guest needs"
        + " virtio-win's viostor or vioscsi installed (attach a small virtio disk, install the driver, then move the"
        + " system disk). Device names change (sda -> vda): mount by UUID or label";
  }
}
