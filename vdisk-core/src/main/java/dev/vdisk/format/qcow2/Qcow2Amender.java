package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.CheckProblem;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.Repair;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.DoubleConsumer;

/**
 * qemu-img amend for qcow2 (QEMU 7.2's {@code qcow2_amend_options}) on an image file held for writing: the options
 * are parsed ({@link AmendOptions}), then every refusal QEMU can reach is checked before anything is written, so a
 * refused amend leaves the file as it was (QEMU checks some only after earlier steps changed the image: the backing
 * file, lazy refcounts on version 2, the downgrade's conditions; vdisk gives the same message and exit, untouched).
 * Then QEMU's steps in QEMU's order: upgrade to version 3, refcount width ({@link RefcountWidthChange}), data file
 * name and {@code data_file_raw}, lazy refcounts, downgrade to version 2 ({@link CompatDowngrade}), each ending with
 * the header written by {@link HeaderRewrite}. A dirty image (lazy refcounts left behind) is repaired first, as
 * QEMU's open does, even when the options are then refused. {@code size} is the caller's (a resize).
 *
 * <p>Where QEMU leaves leaked clusters a downgrade of an image with persistent bitmaps (QEMU keeps a stale bitmaps
 * extension and leaks the bitmaps' clusters), vdisk drops the extension and frees them: after a downgrade a leak
 * repair frees whatever the steps leaked, so the result checks clean.
 */
final class Qcow2Amender {
  private final BlockDevice file;
  private final Path name;
  private final DoubleConsumer progress;
  private final Consumer<CheckProblem> problems;

  private Qcow2Amender(BlockDevice file, Path name, DoubleConsumer progress, Consumer<CheckProblem> problems) {
    this.file = file;
    this.name = name;
    this.progress = progress;
    this.problems = problems;
  }

  /**
   * Amends the qcow2 image in {@code file} (named {@code name}, for messages). A new {@code data_file} name is
   * recorded as given, as QEMU 7.2's amend records it: the file is neither moved nor opened under it.
   *
   * @param progress receives the fraction done, 0 to 1
   * @param problems receives what the repair of a dirty image finds and fixes, as qemu-img check -r reports it
   * @throws IOException with qemu-img's message where it refuses an option; the file is then unchanged, but for the
   *     repair of a dirty image, which QEMU's open makes before looking at the options
   */
  static void amend(BlockDevice file, Path name, Map<String, String> options, DoubleConsumer progress,
      Consumer<CheckProblem> problems) throws IOException {
    Qcow2Amender amender = new Qcow2Amender(file, name, progress, problems);
    HostReader reader = new HostReader(file, "image file");
    Qcow2Header h = ImageHead.read(reader).header();
    if (h.cryptMethod() != 0) {
      // Amending rewrites clusters (a downgrade writes zeroes), which would have to be encrypted.
      throw Qcow2Errors.unsupported("amend", "an encrypted image", "an image without encryption: amending LUKS "
          + "encrypted images is not built");
    }
    if ((h.incompatibleFeatures() & Features.INCOMPAT_CORRUPT) != 0) {
      throw new BlockDeviceException(BlockError.EPERM, "qcow2: Image is corrupt; cannot be opened read/write");
    }
    if ((h.incompatibleFeatures() & Features.INCOMPAT_DIRTY) != 0) {
      amender.repair(Repair.ALL);
    }
    amender.run(AmendOptions.parse(options));
  }

  private void run(AmendOptions o) throws IOException {
    HostReader reader = new HostReader(file, "image file");
    ImageHead head = ImageHead.read(reader);
    Qcow2Header h = head.header();
    int oldVersion = h.version();
    int newVersion = o.compat() == null ? oldVersion : o.compat();
    boolean raw = (h.autoclearFeatures() & Features.AUTOCLEAR_DATA_FILE_RAW) != 0;
    if (o.encrypt()) {
      throw refused("Can't amend encryption options - encryption not present");
    }
    if (o.dataFile() != null && !head.hasDataFile()) {
      throw refused("data-file can only be set for images that use an external data file");
    }
    if (Boolean.TRUE.equals(o.dataFileRaw()) && !raw) {
      throw refused("data-file-raw cannot be set on existing images");
    }
    int order = o.refcountBits() == null ? h.refcountOrder() : Integer.numberOfTrailingZeros(o.refcountBits());
    if (order != h.refcountOrder() && newVersion < 3 && order != 4) {
      throw refused("Refcount widths other than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
    }
    if (o.backingFile() != null || o.backingFmt() != null) {
      String backing = h.hasBackingFile() ? backingName(head) : null;
      if (!Objects.equals(o.backingFile(), backing) || !Objects.equals(o.backingFmt(), head.extensions().backingFormat().orElse(null))) {
        throw refused("Cannot amend the backing file\nYou can use 'qemu-img rebase' instead.");
      }
    }
    boolean lazy = (h.compatibleFeatures() & Features.COMPAT_LAZY_REFCOUNTS) != 0;
    if (Boolean.TRUE.equals(o.lazyRefcounts()) && !lazy && newVersion < 3) {
      throw refused("Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
    }
    if (newVersion > oldVersion) {
      checkSnapshotsUpgradable(reader, h);
    }
    if (newVersion < oldVersion) {
      CompatDowngrade.check(file, head, order);
    }
    if (order < h.refcountOrder()) {
      RefcountWidthChange.check(file, head, order);
    }

    progress.accept(0);
    if (newVersion > oldVersion) {
      HeaderRewrite up = new HeaderRewrite(head = ImageHead.read(reader));
      up.version = newVersion;
      up.refcountOrder = 4;
      up.write(file);
    }
    if (order != h.refcountOrder()) {
      RefcountWidthChange.change(file, head = ImageHead.read(reader), order);
    }
    progress.accept(0.3);
    HeaderRewrite fields = new HeaderRewrite(head = ImageHead.read(reader));
    if (o.dataFileRaw() != null) {
      fields.autoclear = o.dataFileRaw() ? fields.autoclear | Features.AUTOCLEAR_DATA_FILE_RAW
          : fields.autoclear & ~Features.AUTOCLEAR_DATA_FILE_RAW;
    }
    if (o.dataFile() != null) {
      fields.dataFile = o.dataFile().isEmpty() ? Optional.empty() : Optional.of(o.dataFile());
    }
    if (o.lazyRefcounts() != null) {
      fields.compatible = o.lazyRefcounts() ? fields.compatible | Features.COMPAT_LAZY_REFCOUNTS
          : fields.compatible & ~Features.COMPAT_LAZY_REFCOUNTS;
    }
    if (!fields.encode().equals(head.firstCluster().duplicate().clear())) {
      fields.write(file);
    }
    progress.accept(0.4);
    if (newVersion < oldVersion) {
      head = ImageHead.read(reader);
      CompatDowngrade.expandZeroClusters(file, head, head.header().hasBackingFile(), f -> progress.accept(0.4 + 0.5 * f));
      HeaderRewrite down = new HeaderRewrite(head = ImageHead.read(reader));
      down.version = newVersion;
      down.incompatible = 0;
      down.compatible = 0;
      down.autoclear = 0;
      down.compressionType = 0;
      down.keepBitmaps = false;
      down.write(file);
      failUnlessClean(Qcow2Checker.repair(file, Repair.LEAKS, problem -> {}));
    }
    progress.accept(1);
  }

  private void repair(Repair mode) throws IOException {
    failUnlessClean(Qcow2Checker.repair(file, mode, problems));
  }

  private void failUnlessClean(CheckResult r) throws IOException {
    if (r.checkErrors() > 0 || r.corruptions() > 0) {
      throw new BlockDeviceException(BlockError.EIO, "qcow2: could not repair " + name + ": " + r.checkErrors()
          + " check errors, " + r.corruptions() + " corruptions (expected: an image that check -r all repairs)");
    }
  }

  /**
   * Version 3 requires every snapshot entry to carry at least 16 bytes of extra data (VM state size, disk size).
   * QEMU rewrites a table whose entries lack them; vdisk does not write snapshot tables, so it refuses the upgrade.
   */
  private static void checkSnapshotsUpgradable(HostReader reader, Qcow2Header h) throws IOException {
    long pos = h.snapshotsOffset();
    for (int i = 0; i < h.nbSnapshots(); i++) {
      ByteBuffer f = reader.readMetadata("snapshot table entry " + i, pos, 40);
      long extra = f.getInt(36) & 0xffff_ffffL;
      if (extra < 16) {
        throw Qcow2Errors.unsupported("snapshot table entry " + i + ": extra_data_size", extra,
            "at least 16 for compat=1.1 (a table vdisk does not rewrite yet; qemu-img amend does)");
      }
      pos = (pos + 40 + extra + (f.getShort(12) & 0xffff) + (f.getShort(14) & 0xffff) + 7) & ~7L;
    }
  }

  private static String backingName(ImageHead head) {
    Qcow2Header h = head.header();
    byte[] b = new byte[(int) h.backingFileSize()];
    head.firstCluster().get((int) h.backingFileOffset(), b);
    return new String(b, StandardCharsets.UTF_8);
  }

  private static BlockDeviceException refused(String message) {
    return new BlockDeviceException(BlockError.EINVAL, message);
  }
}
