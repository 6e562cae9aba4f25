package dev.vdisk.block;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;

/**
 * A byte-addressed disk: the one interface every layer of vdisk speaks.
 *
 * <p>A host file is a BlockDevice, an image format is a BlockDevice built on the BlockDevice of its
 * file, and a filter is a BlockDevice that wraps another. Offsets and lengths are bytes; there are no
 * sectors in this API.
 *
 * <p><b>Threads.</b> Implementations are thread-safe: concurrent requests from many threads are the
 * normal case. Requests that overlap in bytes and run concurrently complete in some order; the result
 * equals one of the serial orders.
 *
 * <p><b>Validation.</b> Layers may assume that the caller has validated ranges and flags: every stack is
 * topped by a {@link CheckedDevice}, the only place that checks requests and emulates what a layer lacks.
 * A layer is called only for features its {@link #capabilities()} declare.
 *
 * <p><b>Buffers.</b> {@link #read} fills {@code dst} from its position to its limit and leaves the
 * position at the limit; {@link #write} consumes {@code src} likewise. Buffers are never retained after
 * the call returns.
 *
 * <p><b>Errors.</b> Failures are {@link IOException}s; a {@link BlockDeviceException} carries the errno-like
 * {@link BlockError} that network peers see.
 */
public interface BlockDevice extends Closeable {

  /** The virtual size in bytes. Cheap: layers cache it. */
  long size() throws IOException;

  /** What this layer does natively, emulates, or cannot do; fixed at open. */
  Capabilities capabilities();

  /** Alignment and transfer limits of this layer; fixed at open. */
  BlockLimits limits();

  /**
   * Reads {@code dst.remaining()} bytes at {@code offset}.
   *
   * @throws IOException if the bytes cannot be read; {@code dst}'s contents are then unspecified
   */
  void read(long offset, ByteBuffer dst) throws IOException;

  /**
   * Writes {@code src.remaining()} bytes at {@code offset}. Without {@link WriteFlag#FUA} the data may sit
   * in a volatile cache until the next {@link #flush()}; with it the data is durable on return.
   *
   * @param flags a subset of {@code {FUA}}
   */
  void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException;

  /** Makes every write that completed before this call durable (unless the cache mode ignores flushes). */
  void flush() throws IOException;

  /**
   * Advisory: the range's contents become unspecified and its storage may be released. Layers that
   * guarantee zeroes afterwards say so through {@link #extents}.
   */
  void discard(long offset, long length) throws IOException;

  /**
   * Makes the range read as zeroes.
   *
   * @param flags a subset of {@code {FUA, MAY_TRIM, FAST_ZERO}}: {@link WriteFlag#MAY_TRIM} allows the
   *     storage to be released; with {@link WriteFlag#FAST_ZERO} the call fails with {@link
   *     BlockError#ENOTSUP} instead of falling back to something slower than a metadata update
   */
  void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException;

  /**
   * Describes the allocation of {@code [offset, offset + length)}: a non-empty list of contiguous extents
   * in ascending order, starting at {@code offset} and ending no later than {@code offset + length}. A
   * layer may stop early (the caller asks again from where the list ends).
   */
  List<Extent> extents(long offset, long length) throws IOException;

  /**
   * Where the bytes of {@code [offset, offset + length)} sit verbatim in host files, for a transport that sends them
   * without copying them through memory ({@link HostRange}, sendfile); empty when any part of the range is not
   * stored verbatim (compressed, encrypted, a hole, zero, in a backing image, O_DIRECT, transformed by a filter) or
   * the layer cannot tell. The caller then uses {@link #read}, the copy path. Non-empty ranges cover the range
   * exactly, in order.
   *
   * <p><b>Concurrency.</b> The bytes are taken from the page cache when the caller sends them, not when this
   * returns, so a layer yields ranges only where that gives what {@link #read} gives: a read that overlaps a write
   * in time may see old bytes, new bytes or a mix, exactly as a buffered read does on a file system whose reads do
   * not exclude writes; bytes of the same guest range and never another's. A layer whose mapping can change under
   * the caller (a format that frees and reuses host clusters while writable) yields nothing.
   *
   * <p>The default yields nothing: a layer passes the verb on only if it reads its lower layer's bytes unchanged.
   * Callers validate the range as for {@link #read} (the guard does).
   */
  default List<HostRange> hostRanges(long offset, long length) throws IOException {
    return List.of();
  }

  /**
   * Writes the bytes of {@code src} (another device's {@link #hostRanges}) at {@code offset}, copied by the host from
   * file to file ({@code copy_file_range}) without passing through this process's memory, and returns true; or
   * returns false, having written nothing, where this layer cannot (the caller then reads and {@link #write}s). Once
   * true, the write is one as {@link #write} makes with no flags: what {@link #flush} covers, its errors the same.
   * {@code src}'s bytes must not change meanwhile (a copy's source).
   *
   * <p>The default cannot: a layer passes the verb on only where its bytes go to its lower layer unchanged and at the
   * same offset (a raw image, the guard after its checks, a filter that only drops flushes).
   */
  default boolean writeFrom(long offset, HostRange src) throws IOException {
    return false;
  }

  /**
   * A new queue of up to {@code depth} reads and writes that this layer overlaps in the kernel, for a caller that keeps
   * many requests in flight from one thread and waits once for many completions (QEMU's {@code aio=native}); null
   * where the layer has none. The caller closes it before the device.
   *
   * <p>The default has none: a layer offers a queue only where its requests can go to such a queue below unchanged
   * or translated (a host file opened with {@code aio=native}, the guard, a raw image); a filter that acts on requests
   * (writethrough, statistics) must not pass one through. Callers without a queue use threads, or the synchronous
   * adapter ({@code RequestQueues.open} in vdisk's internals).
   */
  default RequestQueue queue(int depth) throws IOException {
    return null;
  }

  /**
   * Changes the virtual size. Growing exposes zeroes; shrinking drops the tail.
   *
   * @throws BlockDeviceException with {@link BlockError#ENOTSUP} where the layer cannot resize
   */
  default void resize(long newSize) throws IOException {
    throw new BlockDeviceException(BlockError.ENOTSUP, "resize: not supported by " + this);
  }

  /** Releases the layer and everything below it. Idempotent. */
  @Override
  void close() throws IOException;
}
