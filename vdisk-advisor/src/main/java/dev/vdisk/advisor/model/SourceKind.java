package dev.vdisk.advisor.model;

/** Where a disk's bytes come from, as libvirt's {@code <disk type=...>} and QEMU's protocol drivers say it. */
public enum SourceKind {
  /** A host file ({@code type='file'}, QEMU's {@code file} driver). */
  FILE,
  /** A host block device such as an LVM volume ({@code type='block'}, QEMU's {@code host_device}). */
  BLOCK,
  /** A network protocol (rbd, nbd, iscsi, gluster, http...): never opened by the advisor. */
  NETWORK,
  /** A libvirt storage pool volume ({@code type='volume'}): resolved by libvirt, not by the advisor. */
  VOLUME,
  /** No medium (an empty CD-ROM drive). */
  NONE
}
