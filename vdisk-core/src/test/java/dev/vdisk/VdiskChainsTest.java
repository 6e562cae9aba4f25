package dev.vdisk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.format.BlockStatus;
import dev.vdisk.format.ChainWalker;
import dev.vdisk.format.Snapshot;
import dev.vdisk.ops.Progress;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The front door's shortcuts for snapshots, rebase and commit keep the contracts their Javadoc states. */
class VdiskChainsTest {
  private static final int MIB = 1 << 20;
  private static final OpenOptions WRITE = OpenOptions.builder().build();
  private static final OpenOptions READ = OpenOptions.builder().readOnly(true).build();

  @TempDir Path dir;

  @Test
  void snapshotsListsWhatCreateSnapshotTook() throws IOException {
    Path image = qcow2("disk.qcow2", null);
    assertThat(Vdisk.snapshots(image, READ)).isEmpty();
    Vdisk.createSnapshot(image, "before", WRITE);
    Vdisk.createSnapshot(image, "after", WRITE);
    List<Snapshot> list = Vdisk.snapshots(image, READ);
    assertThat(list).extracting(Snapshot::id).containsExactly("1", "2");
    assertThat(list).extracting(Snapshot::name).containsExactly("before", "after");
    Vdisk.deleteSnapshot(image, "before", WRITE);
    assertThat(Vdisk.snapshots(image, READ)).extracting(Snapshot::name).containsExactly("after");
  }

  @Test
  void safeRebaseKeepsWhatTheGuestReadsAndUnsafeRebaseDoesNot() throws IOException {
    Path oldBase = qcow2("old.qcow2", null);
    fill(oldBase, 0, 1);
    Path newBase = qcow2("new.qcow2", null);
    fill(newBase, 0, 2);
    Path safe = qcow2("safe.qcow2", "old.qcow2");
    Vdisk.rebase(safe, "new.qcow2", "qcow2", false, WRITE, Progress.NONE);
    assertThat(read(safe, 0)).isEqualTo((byte) 1);
    assertThat(backingFile(safe)).contains("new.qcow2");

    Path unsafe = qcow2("unsafe.qcow2", "old.qcow2");
    Vdisk.rebase(unsafe, "new.qcow2", "qcow2", true, WRITE, Progress.NONE);
    assertThat(read(unsafe, 0)).isEqualTo((byte) 2);
    assertThat(backingFile(unsafe)).contains("new.qcow2");

    Vdisk.rebase(safe, "", null, false, WRITE, Progress.NONE);
    assertThat(backingFile(safe)).isEmpty();
    assertThat(read(safe, 0)).isEqualTo((byte) 1);
  }

  @Test
  void commitWritesTheOverlayIntoItsBaseAndEmptiesIt() throws IOException {
    Path base = qcow2("base.qcow2", null);
    fill(base, 0, 1);
    Path top = qcow2("top.qcow2", "base.qcow2");
    fill(top, MIB, 3);
    Vdisk.commit(top, null, false, 0, WRITE, Progress.NONE);
    assertThat(read(base, MIB)).isEqualTo((byte) 3);
    assertThat(read(base, 0)).isEqualTo((byte) 1);
    try (Image image = Vdisk.open(top, READ)) {
      ChainWalker walk = image.status(ChainWalker.Mode.LAYERS, 0, 2 * MIB);
      for (long at = 0; at < 2 * MIB; ) {
        BlockStatus s = walk.at(at);
        assertThat(s.depth()).as("the emptied overlay at " + at).isEqualTo(1);
        at = s.end();
      }
    }
    assertThat(read(top, MIB)).isEqualTo((byte) 3);

    fill(top, 0, 4);
    Vdisk.commit(top, null, true, 0, WRITE, Progress.NONE);
    assertThat(read(base, 0)).isEqualTo((byte) 4);
    try (Image image = Vdisk.open(top, READ)) {
      assertThat(image.status(ChainWalker.Mode.LAYERS, 0, MIB).at(0).depth()).as("-d keeps the overlay's data").isZero();
    }
  }

  @Test
  void readOnlyOptionsAreRefusedBeforeAnythingChanges() throws IOException {
    Path base = qcow2("base.qcow2", null);
    Path top = qcow2("top.qcow2", "base.qcow2");
    assertThatThrownBy(() -> Vdisk.commit(top, null, false, 0, READ, Progress.NONE))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("read-only");
    assertThatThrownBy(() -> Vdisk.rebase(top, "", null, false, READ, Progress.NONE))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("read-only");
    assertThat(backingFile(top)).contains("base.qcow2");
    assertThat(base).exists();
  }

  private Path qcow2(String name, String backing) throws IOException {
    Path path = dir.resolve(name);
    CreateOptions.Qcow2.Builder b = CreateOptions.qcow2();
    if (backing != null) {
      b.backing(backing, "qcow2");
    }
    Vdisk.create(path, 4 * MIB, b.build(), false);
    return path;
  }

  private static void fill(Path image, long offset, int value) throws IOException {
    byte[] bytes = new byte[MIB];
    Arrays.fill(bytes, (byte) value);
    try (Image i = Vdisk.open(image, WRITE)) {
      i.write(offset, ByteBuffer.wrap(bytes), Set.of());
      i.flush();
    }
  }

  private static byte read(Path image, long offset) throws IOException {
    try (Image i = Vdisk.open(image, READ)) {
      ByteBuffer b = ByteBuffer.allocate(512);
      i.read(offset, b);
      return b.get(0);
    }
  }

  private static Optional<String> backingFile(Path image) throws IOException {
    try (Image i = Vdisk.open(image, OpenOptions.builder().readOnly(true).backing(false).build())) {
      return i.info().backingFilename();
    }
  }
}
