package dev.vdisk.cli;

import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.Snapshot;
import dev.vdisk.format.SnapshotNotFoundException;
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
 * are {@link Vdisk#createSnapshot}, {@link Vdisk#applySnapshot} and {@link Vdisk#deleteSnapshot}.
 */
@Command(name = "snapshot", mixinStandardHelpOptions = true,
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

  @Option(names = "--image-opts", description = "FILE is QEMU's driver=qcow2,file.filename=PATH.")
  boolean imageOpts;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image.")
  String file;

  @Override
  public Integer call() throws IOException {
    String path = file;
    if (imageOpts) {
      if (image.format != null) {
        throw new CliException("--image-opts and -f are mutually exclusive (expected: one of them)");
      }
      ImageOptsFile opts = ImageOptsFile.parse(file);
      image.format = opts.format();
      path = opts.file();
    }
    if (action == null || action.list) {
      try (Image img = image.openImage(path, true)) {
        List<Snapshot> snapshots = img.info().snapshots();
        if (action != null && !snapshots.isEmpty()) {
          main.out().print("Snapshot list:\n" + SnapshotList.table(SnapshotList.entries(snapshots)));
        }
      }
      return 0;
    }
    if (image.forceShare) {
      throw new CliException("Could not open '" + path + "': force-share=on can only be used with read-only images");
    }
    OpenOptions options = OpenOptions.builder().format(image.format).readOnly(false).build();
    java.nio.file.Path p = image.checkedPath(path);
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
}
