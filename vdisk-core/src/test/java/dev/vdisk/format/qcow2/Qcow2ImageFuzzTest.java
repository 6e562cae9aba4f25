package dev.vdisk.format.qcow2;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.block.mem.MemoryDevice;
import dev.vdisk.format.Backing;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.Repair;
import dev.vdisk.testkit.CrashingDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;

/**
 * Jazzer on every qcow2 parser of untrusted bytes at once: the fuzzed input is a whole image file, which vdisk
 * opens read-only (header, header extensions, L1 table, refcount table, snapshot table, bitmap directory), reads
 * (L2 tables, subclusters, compressed clusters of both compression types), maps, checks (refcount blocks, snapshot
 * L1 tables, bitmap tables), repairs, and opens for writing and writes into. Each step may refuse the image with an
 * {@link IOException}; any other throwable, and a hang (Jazzer's per-input timeout), is a finding.
 *
 * <p>Seeds are small images qemu-img 7.2 made, in {@code Qcow2ImageFuzzTestInputs/openReadCheckWrite/} (how they
 * were made is in the README there), among them 512-byte clusters, 1-bit refcounts, version 2, zlib and zstd
 * compressed clusters, extended L2 entries, an internal snapshot and persistent bitmaps. Without
 * {@code JAZZER_FUZZ} the seeds and every finding kept beside them run as regression tests; the build's
 * {@code fuzz} execution sets it, runs them and explores for the short run below (a fixed libFuzzer seed; {@code
 * -Pfuzz} for long runs from a random one).
 */
class Qcow2ImageFuzzTest {
  /** Reads stop here even when a damaged header claims a huge disk. */
  private static final int READ_LIMIT = 1 << 20;
  private static final Path NAME = Path.of("fuzzed.qcow2");

  @FuzzTest(maxDuration = "30s", maxExecutions = 1_500)
  void openReadCheckWrite(byte[] file) {
    MemoryDevice bytes = new MemoryDevice(file.length);
    bytes.write(0, ByteBuffer.wrap(file), Set.of());
    try (Qcow2Image image = Qcow2Opener.open(bytes, context(true), new Qcow2Format(1 << 20))) {
      long limit = Math.min(image.size(), READ_LIMIT);
      if (limit > 0) {
        image.read(0, ByteBuffer.allocate((int) limit));
        image.extents(0, limit);
      }
      if (image.size() > limit) {
        long tail = Math.min(image.size() - limit, 65536);
        image.read(image.size() - tail, ByteBuffer.allocate((int) tail));
      }
      image.facts().snapshots();
      image.facts().formatSpecific();
    } catch (IOException refused) {
      // Damaged metadata refused with a message: what an untrusted image may get.
    }
    try {
      Qcow2Checker.check(bytes, problem -> {});
    } catch (IOException refused) {
      // A check error.
    }
    try {
      Qcow2Checker.repair(new CrashingDevice(bytes), Repair.ALL, problem -> {});
    } catch (IOException refused) {
      // Beyond repair.
    }
    try (Qcow2Image image = Qcow2Opener.open(new CrashingDevice(bytes), context(false), new Qcow2Format(1 << 20))) {
      // Through the guard every user's request passes, which checks the range.
      long at = image.size() / 2 & -512;
      int length = (int) Math.min(4096, image.size() - at);
      if (length > 0) {
        new CheckedDevice(image).write(at, ByteBuffer.allocate(length), Set.of(WriteFlag.FUA));
      }
    } catch (IOException refused) {
      // Refused for writing.
    }
  }

  /**
   * An image on its own: a backing file is left out (reads fall through to zeroes, as for an image opened for its
   * facts) and an external data file is an empty in-memory disk, so no fuzzed name ever opens a host file.
   */
  private static ImageContext context(boolean readOnly) {
    ImageContext refusing = ImageContext.standalone(NAME, readOnly);
    return new ImageContext() {
      @Override
      public Path name() {
        return refusing.name();
      }

      @Override
      public boolean readOnly() {
        return readOnly;
      }

      @Override
      public BlockDevice openDataFile(String name) {
        return new CrashingDevice(new MemoryDevice(0));
      }

      @Override
      public Optional<Backing> openBacking(String name, Optional<String> format) {
        return Optional.empty();
      }
    };
  }
}
