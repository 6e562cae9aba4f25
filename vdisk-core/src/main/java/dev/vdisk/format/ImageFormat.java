package dev.vdisk.format;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * An image format: recognises, creates and opens images. A format driver is a {@link BlockDevice} built
 * on the BlockDevice of its file, any BlockDevice; the other files an image names (backing, data file) come from
 * its {@link ImageContext}, so a driver never touches a host file directly.
 *
 * <p>The formats vdisk knows are listed in {@code FormatRegistry} (not found with {@code ServiceLoader}: its scan of
 * the class path costs every short command's start); the module still {@code provides} them, for module-path callers.
 */
public interface ImageFormat {

  /** qemu-img's name of the format ({@code raw}, {@code qcow2}). */
  String name();

  /**
   * How sure this format is that {@code head} (the first bytes of a file, up to 4 KiB) is one of its
   * images: 0 (no) to 100 (certain). Raw never claims a file: it is what remains when nothing else does.
   */
  int probe(ByteBuffer head);

  /**
   * True if the format keeps metadata in the image file, so that an open holds and withholds more than its user
   * asks (QEMU's {@code bdrv_default_perms_for_storage}: nobody else may write or resize the file); false for raw,
   * which passes its user's permissions through to the file's locks, as QEMU's raw format does.
   */
  default boolean keepsMetadata() {
    return true;
  }

  /** The {@code -o} option names {@link #create} accepts. */
  Set<String> createOptionNames();

  /**
   * Creates a new image of virtual size {@code size} at {@code path}.
   *
   * @param options {@code -o} options, each name in {@link #createOptionNames()}
   * @param overwrite replace an existing file instead of failing
   * @throws IllegalArgumentException for an unknown option or a bad value, before anything is created
   */
  void create(Path path, long size, Map<String, String> options, boolean overwrite) throws IOException;

  /**
   * Creates a new image of virtual size {@code size} on an existing device that cannot grow (a host block device, an
   * NBD export), as QEMU's {@code host_device} and {@code nbd} drivers let qemu-img create one: nothing is truncated,
   * the metadata must fit in the device, and every cluster of metadata is written whole (the device holds old data).
   * The caller keeps the device and flushes nothing more: it is flushed here.
   *
   * @throws IllegalArgumentException for a bad option, or one a device cannot take (a preallocation that would
   *     grow a file, an external data file), before anything is written
   * @throws IOException if the device is too small for what must be written
   */
  default void createOn(BlockDevice device, long size, Map<String, String> options) throws IOException {
    throw new dev.vdisk.block.BlockDeviceException(dev.vdisk.block.BlockError.ENOTSUP, "format '" + name()
        + "': cannot be created on " + device + " (expected: raw or qcow2)");
  }

  /**
   * Opens the image stored in {@code file}, read-only or not as {@code context} says. On success the image owns
   * {@code file} (closing the image closes it); on failure the caller still does.
   *
   * @param context names the image and opens the files it names
   * @param probed the format was guessed, not named by the user: writes that would make the image
   *     look like another format must be refused
   * @return the image, which is a {@link FormatImage} (or a filter over one)
   */
  FormatImage open(BlockDevice file, ImageContext context, boolean probed) throws IOException;

  /** True if the format's images can store data compressed ({@link dev.vdisk.block.WriteFlag#COMPRESSED}). */
  default boolean supportsCompression() {
    return false;
  }

  /** True if {@link #check} is implemented; qemu-img check exits 63 for formats without checks. */
  default boolean supportsCheck() {
    return false;
  }

  /**
   * Checks the consistency of the image in {@code file} without changing it, with qemu-img check's semantics.
   * Opens the file's metadata itself, leniently, so that damage a regular open would refuse is reported as
   * qemu-img reports it. The caller keeps and closes {@code file}.
   *
   * @param name the image's name
   * @param problems receives each problem found, in qemu-img check's words, as it is found
   * @throws IOException when the check cannot be completed (the image cannot be read or is not this format)
   * @throws UnsupportedOperationException unless {@link #supportsCheck()}
   */
  default CheckResult check(BlockDevice file, Path name, Consumer<CheckProblem> problems) throws IOException {
    throw new UnsupportedOperationException("format '" + name() + "': does not support checks");
  }

  /**
   * Checks the image in {@code file} and repairs what {@code mode} allows, with qemu-img check -r's semantics: the
   * result carries the counts fixed; the caller runs a plain {@link #check} afterwards for the image's final state,
   * as qemu-img does. {@code file} must be open for writing (and locked). A repair that cannot be done throws and
   * leaves the image consistent (leaks at worst).
   *
   * @throws UnsupportedOperationException unless {@link #supportsCheck()}
   */
  default CheckResult repair(BlockDevice file, Path name, Repair mode, Consumer<CheckProblem> problems)
      throws IOException {
    throw new UnsupportedOperationException("format '" + name() + "': does not support checks");
  }

  /**
   * {@code qemu-img amend}: changes the options {@code options} names (qemu-img's names and values, in the order
   * given) of the image in {@code file} (open for writing, locked), reporting the fraction done to {@code progress}
   * and, where the image must be repaired first (a dirty qcow2, as QEMU's open repairs it), the repair's findings to
   * {@code problems}. A refused option leaves the image unchanged (but for that repair).
   *
   * @throws UnsupportedOperationException for a format that cannot amend (qemu-img: "Format driver 'raw' does not
   *     support option amendment")
   * @throws IOException with qemu-img's message for an option the image cannot take
   */
  default void amend(BlockDevice file, Path name, Map<String, String> options, java.util.function.DoubleConsumer progress,
      Consumer<CheckProblem> problems) throws IOException {
    throw new UnsupportedOperationException("Format driver '" + name() + "' does not support option amendment");
  }

  /** The options {@link #amend} takes, in qemu-img's {@code -o help} order; empty when the format cannot amend. */
  default java.util.List<String> amendOptionNames() {
    return java.util.List.of();
  }

  /**
   * What qemu-img's {@code Formatting '...', fmt=NAME } line prints after the format name for an image of
   * {@code size} bytes made with {@code options}: by default {@code size=N} then the options as given.
   */
  default String createSummary(long size, Map<String, String> options) {
    StringBuilder line = new StringBuilder("size=" + size);
    options.forEach((k, v) -> line.append(' ').append(k).append('=').append(v));
    return line.toString();
  }

  /**
   * {@code qemu-img measure}: the file size a new image of this format needs, made with {@code options}, for a
   * disk of {@code size} bytes ({@code source} null) or holding the contents of {@code source}.
   *
   * @throws IllegalArgumentException for a bad option or an impossible size
   * @throws UnsupportedOperationException if the format cannot measure
   */
  default Measurement measure(Map<String, String> options, long size, MeasureSource source) throws IOException {
    throw new UnsupportedOperationException("format '" + name() + "': does not support size measurement (expected: raw or qcow2)");
  }

  /** True if the format's images can have a backing file ({@link #changeBacking} records one). */
  default boolean supportsBacking() {
    return false;
  }

  /**
   * Records {@code backingFile} (empty: none) and {@code backingFormat} (empty: none recorded) as the backing file
   * of the image in {@code file}, which is not open as an image and which the caller has locked for writing: QEMU's
   * {@code bdrv_change_backing_file}, qemu-img rebase's last step. Only the header changes, durably on return.
   *
   * @throws BlockDeviceException ENOTSUP for a format without backing files (QEMU's error); EINVAL or ENOSPC
   *     where the format cannot record them (see the driver)
   */
  default void changeBacking(BlockDevice file, Optional<String> backingFile, Optional<String> backingFormat)
      throws IOException {
    throw new BlockDeviceException(BlockError.ENOTSUP, "backing file: format '" + name()
        + "' cannot record one (expected: an image of a format with backing files, such as qcow2)");
  }

  /** Rejects option names this format does not know, naming the first and the accepted ones. */
  default void checkOptionNames(Map<String, String> options) {
    for (String key : options.keySet()) {
      if (!createOptionNames().contains(key)) {
        throw new IllegalArgumentException("option '" + key + "': not supported by format '" + name()
            + "' (expected: " + (createOptionNames().isEmpty() ? "no options" : String.join(", ", createOptionNames().stream().sorted().toList())) + ")");
      }
    }
  }
}
