package dev.vdisk.cli;

import dev.vdisk.Image;
import dev.vdisk.format.Snapshot;
import dev.vdisk.io.CacheMode;
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
 * {@code vdisk snapshot [-f fmt] [-U] [-l | -a S | -c S | -d S] FILE}: qemu-img snapshot. {@code -l} prints
 * qemu-img's table, or nothing for an image without snapshots; without an action the image is only opened, as
 * qemu-img does. Creating, applying and deleting internal snapshots are not supported yet.
 */
@Command(name = "snapshot", mixinStandardHelpOptions = true, description = "List an image's internal snapshots.")
final class SnapshotCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Mixin ImageOptions image;

  /** At most one action, as qemu-img allows. */
  static final class Action {
    @Option(names = "-l", description = "List the snapshots.")
    boolean list;

    @Option(names = "-a", paramLabel = "SNAPSHOT", description = "Apply a snapshot (not supported yet).")
    String apply;

    @Option(names = "-c", paramLabel = "SNAPSHOT", description = "Create a snapshot (not supported yet).")
    String create;

    @Option(names = "-d", paramLabel = "SNAPSHOT", description = "Delete a snapshot (not supported yet).")
    String delete;
  }

  @ArgGroup(exclusive = true, multiplicity = "0..1")
  Action action;

  @Option(names = "-q", description = "Quiet (accepted for qemu-img's sake; listing is the only output).")
  boolean quiet;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image.")
  String file;

  @Override
  public Integer call() throws IOException {
    if (action != null && !action.list) {
      String option = action.apply != null ? "-a" : action.create != null ? "-c" : "-d";
      throw new CliException("snapshot " + option + ": creating, applying and deleting internal snapshots is not "
          + "supported yet (expected: -l, or qemu-img snapshot " + option + ")");
    }
    try (Image img = image.openImage(file, true)) {
      List<Snapshot> snapshots = img.info().snapshots();
      if (action != null && !snapshots.isEmpty()) {
        main.out().print("Snapshot list:\n" + SnapshotList.table(SnapshotList.entries(snapshots)));
      }
    }
    return 0;
  }
}
