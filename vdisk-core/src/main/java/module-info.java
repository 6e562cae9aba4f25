/**
 * vdisk-core: raw and qcow2 images as {@link dev.vdisk.block.BlockDevice}s, QEMU's cache modes, qemu-img's
 * operations. The front door is {@link dev.vdisk.Vdisk}. Exported: the API packages; not the FFM bindings
 * ({@code dev.vdisk.io.linux}) nor the format drivers ({@code format.raw}, {@code format.qcow2}, and the LUKS encryption
 * qcow2 uses, {@code format.luks}), which are found as
 * {@link dev.vdisk.format.ImageFormat} services; the {@code internal} packages to the other vdisk modules only.
 */
module dev.vdisk.core {
  requires com.github.luben.zstd_jni;

  exports dev.vdisk;
  exports dev.vdisk.block;
  exports dev.vdisk.block.filter;
  exports dev.vdisk.block.mem;
  exports dev.vdisk.format;
  exports dev.vdisk.io;
  exports dev.vdisk.io.rbd;
  exports dev.vdisk.ops;

  // Internals the other vdisk modules build on; not API (a qualified export binds at compile time only: the shaded
  // jar runs on the class path).
  exports dev.vdisk.format.internal to dev.vdisk.cli, dev.vdisk.nbd, dev.vdisk.bench, dev.vdisk.advisor;
  exports dev.vdisk.io.internal to dev.vdisk.cli, dev.vdisk.nbd, dev.vdisk.bench, dev.vdisk.advisor;
  exports dev.vdisk.ops.internal to dev.vdisk.cli, dev.vdisk.nbd, dev.vdisk.bench, dev.vdisk.advisor;

  provides dev.vdisk.format.ImageFormat with dev.vdisk.format.raw.RawFormat, dev.vdisk.format.qcow2.Qcow2Format;
}
