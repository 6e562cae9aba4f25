package dev.vdisk;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.block.HostRange;
import dev.vdisk.format.Bitmap;
import dev.vdisk.format.BitmapEdit;
import dev.vdisk.format.BitmapRuns;
import dev.vdisk.format.ChainWalker;
import dev.vdisk.format.FormatImage;
import dev.vdisk.format.ImageChain;
import dev.vdisk.format.ImageInfo;
import dev.vdisk.format.ImageMap;
import dev.vdisk.format.Snapshot;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * An open image: a {@link dev.vdisk.block.BlockDevice} of the guest's bytes (guarded: range, read-only and flag checks, the cache
 * mode's flush rules), plus what its format knows of it and of the images below it. Thread-safe as every
 * BlockDevice. Closing it closes the whole stack: backing images, data file and host file.
 */
public final class Image extends FilterDevice {
  private final OpenImage stack;
  private final ImageChain chain;

  Image(OpenImage stack, ImageChain chain) {
    super(stack.device());
    this.stack = stack;
    this.chain = chain;
  }

  /** The format the image was opened as. */
  public String format() {
    return stack.format().name();
  }

  /** The stack's host ranges: this layer reads the stack's bytes unchanged. */
  @Override
  public List<HostRange> hostRanges(long offset, long length) throws IOException {
    return next.hostRanges(offset, length);
  }

  /** The stack's copy: this layer writes into the stack unchanged. */
  @Override
  public boolean writeFrom(long offset, HostRange src) throws IOException {
    return next.writeFrom(offset, src);
  }

  /** True if the format was probed rather than named. */
  public boolean probed() {
    return stack.probed();
  }

  /** What {@code qemu-img info} says of this image. */
  public ImageInfo info() throws IOException {
    return chain.layers().getFirst().info();
  }

  /**
   * The internal snapshots of this image, in table order, as {@code qemu-img snapshot -l} lists them (none for a
   * format without them). Create, apply and delete them on a closed image with {@link Vdisk#createSnapshot},
   * {@link Vdisk#applySnapshot} and {@link Vdisk#deleteSnapshot}.
   */
  public List<Snapshot> snapshots() throws IOException {
    return info().snapshots();
  }

  /** What {@code qemu-img info --backing-chain} says: this image, then each backing image down the chain. */
  public List<ImageInfo> backingChain() throws IOException {
    List<ImageInfo> out = new ArrayList<>();
    for (ImageChain.Layer layer : chain.layers()) {
      out.add(layer.info());
    }
    return out;
  }

  /**
   * A walk over the allocation of the whole chain within {@code [start, end)}: for each run, the layer that defines
   * it and how, as the QEMU walk {@code mode} names reports it ({@link ChainWalker.Mode#LAYERS}: as
   * {@code qemu-img map}; {@link ChainWalker.Mode#ABOVE}: as {@code bdrv_block_status_above}). Ask the walker for
   * ascending offsets.
   */
  public ChainWalker status(ChainWalker.Mode mode, long start, long end) throws IOException {
    return ChainWalker.of(chain.layers().getFirst().device(), mode, start, end);
  }

  /**
   * {@code qemu-img map}: the chain's allocation from {@code start} for {@code maxLength} bytes (negative: to the
   * end), merged as qemu-img merges it, passed to {@code sink} range by range.
   */
  public void map(long start, long maxLength, ImageMap.Sink sink) throws IOException {
    ImageMap.walk(chain, start, maxLength, sink);
  }

  /**
   * The host file at the bottom of the stack, for the host's facts (its size, the space it occupies, the aio mode
   * its requests take); empty where the image is not in a host file (an NBD export, RBD, memory). The image owns it:
   * do not close it.
   */
  public Optional<FileDevice> file() {
    return Optional.ofNullable(stack.file());
  }

  /**
   * {@code qemu-img resize --preallocation}: resizes the image to {@code newSize} and preallocates what it gained,
   * as its format does it ({@link FormatImage#growPreallocated}). A raw image in a host file as QEMU's file driver
   * does: FALLOC reserves the new blocks (or writes them, where the file system cannot reserve), FULL writes zeroes.
   * A qcow2 image allocates the grown clusters as QEMU's {@code qcow2_co_truncate} does: METADATA maps them to host
   * clusters the file does not hold yet, FALLOC and FULL also reserve or zero-write those. With OFF it is {@link
   * #resize(long)}.
   *
   * @throws IllegalArgumentException with QEMU's message for another mode with a shrink or METADATA on a raw image,
   *     or for another mode on a raw image not in a host file
   */
  public void resize(long newSize, Preallocation mode) throws IOException {
    if (mode == Preallocation.OFF) {
      resize(newSize);
      return;
    }
    if (newSize < size()) {
      throw new IllegalArgumentException("Preallocation can only be used for growing images");
    }
    requiredFormatImage().growPreallocated(newSize, mode);
  }

  /** True if the format can store persistent dirty bitmaps (a version 3 qcow2 image). */
  public boolean supportsBitmaps() {
    return formatImage().map(FormatImage::supportsBitmaps).orElse(false);
  }

  /** The persistent dirty bitmaps, in directory order, as {@code qemu-img info} lists them (none for raw). */
  public List<Bitmap> bitmaps() throws IOException {
    return formatImage().isPresent() ? formatImage().get().listBitmaps() : List.of();
  }

  /**
   * {@code qemu-img bitmap}: applies {@code edit} to bitmap {@code name} (the image must be writable); the change is
   * stored when the image is closed. A merge's source image may be another {@code Image}.
   *
   * @throws dev.vdisk.block.BlockDeviceException with QEMU's message where QEMU refuses the operation; ENOTSUP for a
   *     format without persistent bitmaps
   */
  public void editBitmap(String name, BitmapEdit edit) throws IOException {
    requiredFormatImage().editBitmap(name, edit);
  }

  /**
   * Bitmap {@code name} as {@code qemu-nbd -B} exports it: the bitmap a writable image keeps (which its writes keep
   * marking while it is enabled), else the one read from the image now.
   *
   * @throws dev.vdisk.block.BlockDeviceException EINVAL with qemu-nbd's message for a bitmap that is not found or
   *     in use (inconsistent)
   */
  public BitmapRuns bitmapRuns(String name) throws IOException {
    return requiredFormatImage().bitmapRuns(name);
  }

  private Optional<FormatImage> formatImage() {
    return Optional.ofNullable(FilterDevice.find(stack.device(), FormatImage.class));
  }

  private FormatImage requiredFormatImage() throws BlockDeviceException {
    return formatImage().orElseThrow(() -> new BlockDeviceException(BlockError.ENOTSUP, "image " + this
        + ": no format layer (expected: an image opened through a format)"));
  }

  /** This image and the images below it, top first. */
  public ImageChain chain() {
    return chain;
  }

  /** This image's own allocation (not the chain's; see {@link #status}). */
  @Override
  public List<Extent> extents(long offset, long length) throws IOException {
    return next.extents(offset, length);
  }

  /**
   * The guard at the top of the image's stack, which every verb of this image passes to: for a consumer that puts
   * filters under the guard (an NBD export's offset view or zero detection) or serves it as it is. Closing it closes
   * the whole stack.
   */
  @Override
  public CheckedDevice unwrap() {
    return stack.device();
  }

  /** Closes the whole stack. */
  @Override
  public void close() throws IOException {
    stack.close();
  }

  /** The stack, as {@code Image(Checked(Qcow2Image(FileDevice[...])))}. */
  @Override
  public String toString() {
    return "Image(" + stack.device() + ")";
  }
}
