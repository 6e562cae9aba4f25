package dev.vdisk.advisor.model;

/** The guest-visible controller a disk hangs on; what decides whether the guest can send discards. */
public enum Bus {
  VIRTIO_BLK("virtio-blk"),
  VIRTIO_SCSI("virtio-scsi"),
  /** A SCSI bus whose controller is not virtio-scsi (lsilogic, megasas...) or not known. */
  SCSI("scsi"),
  IDE("ide"),
  SATA("sata"),
  USB("usb"),
  OTHER("other"),
  /** The command line named no device for the drive (QEMU's default {@code if=} then decides). */
  UNKNOWN("unknown");

  private final String display;

  Bus(String display) {
    this.display = display;
  }

  /** The name users know it by. */
  public String display() {
    return display;
  }
}
