package dev.vdisk.cli;

import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.Snapshot;
import dev.vdisk.format.SnapshotNotFoundException;
import dev.vdisk.format.internal.RbdImages;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.rbd.RbdDevice;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk snapshot [-q] [-U] [-f fmt] [--image-opts] [-l | -a S | -c S | -d S] FILE}: qemu-img snapshot, with
 * its messages and exit status 1 on failure. {@code -l} prints qemu-img's table, or nothing for an image without
 * snapshots; without an action the image is only opened, as qemu-img does. {@code -c}, {@code -a} and {@code -d}
 * are {@link Vdisk#createSnapshot}, {@link Vdisk#applySnapshot} and {@link Vdisk#deleteSnapshot}; on a raw image on
 * RBD they are the RBD image's snapshots, as in QEMU.
 */
@Command(name = "snapshot", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk snapshot -c before-upgrade disk.qcow2", "  vdisk snapshot -l disk.qcow2"},
    description = "List, create, apply or delete an image's internal snapshots.")
final class SnapshotCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Mixin ImageOptions image;

  /** At most one action, as qemu-img allows. */
  static final class Action {
    @Option(names = "-l", description = "List the snapshots.")
    boolean list;

    @Option(names = "-a", paramLabel = "SNAPSHOT", description = "Revert the image to a snapshot (ID or name).")
    String apply;

    @Option(names = "-c", paramLabel = "SNAPSHOT", description = "Create a snapshot with this name.")
    String create;

    @Option(names = "-d", paramLabel = "SNAPSHOT", description = "Delete a snapshot (by name, as qemu-img).")
    String delete;
  }

  @ArgGroup(exclusive = true, multiplicity = "0..1")
  Action action;

  @Option(names = "-q", description = "Quiet (accepted for qemu-img's sake: only -l prints anything).")
  boolean quiet;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image.")
  String file;

  @Override
  public Integer call() throws IOException {
    if (action == null || action.list) {
      try (Image img = image.openImage(file, true)) {
        List<Snapshot> snapshots = img.info().snapshots();
        if (action != null && !snapshots.isEmpty()) {
          main.out().print("Snapshot list:\n" + SnapshotList.table(SnapshotList.entries(snapshots)));
        }
      }
      return 0;
    }
    ImageSpec spec = ImageSpec.parse(file, image.imageOpts);
    if (image.forceShare) {
      throw new CliException("Could not open '" + spec.label() + "': force-share=on can only be used with read-only "
          + "images");
    }
    // An NBD export has no internal snapshots, as a raw image has none: the same refusals.
    String format = spec.isNbd() ? "raw" : spec.format() != null ? spec.format() : image.format;
    OpenOptions options = OpenOptions.builder().format(format).readOnly(false).build();
    java.nio.file.Path p = spec.isNbd() ? null : image.checkedPath(spec.file());
    if (p == null) {
      throw new CliException(refusalOnNbd());
    }
    if (image.onRbd(file) && "raw".equals(format != null ? format : probedFormat())) {
      rbdSnapshot(spec.file());
      return 0;
    }
    if (action.create != null) {
      try {
        Vdisk.createSnapshot(p, action.create, options);
      } catch (BlockDeviceException e) {
        // qemu-img prints the errno of bdrv_snapshot_create.
        String why = e.error() == BlockError.ENOTSUP ? "-95 (Operation not supported)"
            : e.error() == BlockError.ENOSPC ? "-27 (File too large)"
            : e.error() == BlockError.EOVERFLOW ? "-22 (Invalid argument)" : e.getMessage();
        throw new CliException("Could not create snapshot '" + action.create + "': " + why, e);
      }
    } else if (action.apply != null) {
      try {
        Vdisk.applySnapshot(p, action.apply, options);
      } catch (SnapshotNotFoundException e) {
        throw new CliException("Could not apply snapshot '" + action.apply
            + "': Failed to load snapshot: No such file or directory", e);
      } catch (BlockDeviceException e) {
        String why = e.error() == BlockError.ENOTSUP && e.getMessage().startsWith("format ")
            ? "Block driver does not support snapshots" : e.getMessage();
        throw new CliException("Could not apply snapshot '" + action.apply + "': " + why, e);
      }
    } else {
      try {
        Vdisk.deleteSnapshot(p, action.delete, options);
      } catch (SnapshotNotFoundException e) {
        throw new CliException("Could not delete snapshot '" + action.delete + "': snapshot not found", e);
      } catch (BlockDeviceException e) {
        String why = e.error() == BlockError.ENOTSUP && e.getMessage().startsWith("format ")
            ? "snapshot not found" : e.getMessage();
        throw new CliException("Could not delete snapshot '" + action.delete + "': " + why, e);
      }
    }
    return 0;
  }

  /** The format of {@code file} as a probe finds it. */
  private String probedFormat() throws IOException {
    try (Image img = image.openImage(file, false)) {
      return img.format();
    }
  }

  /**
   * {@code -c}, {@code -a} or {@code -d} on a raw image on RBD: the RBD image's own snapshots, as QEMU's rbd driver
   * takes them (a snapshot's ID is its name), with qemu-img's messages: an existing name to create, a missing one to
   * apply or delete.
   */
  private void rbdSnapshot(String name) throws IOException {
    try (RbdDevice device = RbdImages.device(name, FileOptions.of(CacheMode.WRITEBACK, false))) {
      String snapshot = action.create != null ? action.create : action.apply != null ? action.apply : action.delete;
      boolean exists = device.snapshots().stream().anyMatch(sn -> sn.name().equals(snapshot));
      if (action.create != null) {
        if (exists) {
          throw new CliException("Could not create snapshot '" + snapshot + "': -17 (File exists)");
        }
        device.snapshot(RbdDevice.SnapshotAction.CREATE, snapshot);
      } else if (action.apply != null) {
        if (!exists) {
          throw new CliException("Could not apply snapshot '" + snapshot + "': Failed to load snapshot: No such file or directory");
        }
        device.snapshot(RbdDevice.SnapshotAction.ROLLBACK, snapshot);
      } else {
        if (!exists) {
          throw new CliException("Could not delete snapshot '" + snapshot + "': snapshot not found");
        }
        device.snapshot(RbdDevice.SnapshotAction.REMOVE, snapshot);
      }
    }
  }

  /** qemu-img's refusal of this action on an image without internal snapshots (raw, an NBD export). */
  private String refusalOnNbd() {
    return action.create != null ? "Could not create snapshot '" + action.create + "': -95 (Operation not supported)"
        : action.apply != null ? "Could not apply snapshot '" + action.apply + "': Block driver does not support snapshots"
        : "Could not delete snapshot '" + action.delete + "': snapshot not found";
  }
}
