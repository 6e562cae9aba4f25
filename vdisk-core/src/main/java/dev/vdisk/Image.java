package dev.vdisk;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockLimits;
import dev.vdisk.block.Capabilities;
import dev.vdisk.block.Extent;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.format.ChainWalker;
import dev.vdisk.format.ImageChain;
import dev.vdisk.format.ImageInfo;
import dev.vdisk.format.ImageMap;
import dev.vdisk.format.OpenImage;
import dev.vdisk.format.Snapshot;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * An open image: a {@link BlockDevice} of the guest's bytes (guarded: range, read-only and flag checks, the cache
 * mode's flush rules), plus what its format knows of it and of the images below it. Thread-safe as every
 * BlockDevice. Closing it closes the whole stack: backing images, data file and host file.
 */
public final class Image implements BlockDevice {
  private final OpenImage stack;
  private final ImageChain chain;

  Image(OpenImage stack, ImageChain chain) {
    this.stack = stack;
    this.chain = chain;
  }

  /** The format the image was opened as. */
  public String format() {
    return stack.format().name();
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

  /** This image and the images below it, top first. */
  public ImageChain chain() {
    return chain;
  }

  @Override
  public long size() throws IOException {
    return stack.device().size();
  }

  @Override
  public Capabilities capabilities() {
    return stack.device().capabilities();
  }

  @Override
  public BlockLimits limits() {
    return stack.device().limits();
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    stack.device().read(offset, dst);
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    stack.device().write(offset, src, flags);
  }

  @Override
  public void flush() throws IOException {
    stack.device().flush();
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    stack.device().discard(offset, length);
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    stack.device().writeZeroes(offset, length, flags);
  }

  @Override
  public void resize(long newSize) throws IOException {
    stack.device().resize(newSize);
  }

  /** This image's own allocation (not the chain's; see {@link #status}). */
  @Override
  public List<Extent> extents(long offset, long length) throws IOException {
    return stack.device().extents(offset, length);
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
