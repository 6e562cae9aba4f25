package dev.vdisk.nbd.client;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockLimits;
import dev.vdisk.block.Capabilities;
import dev.vdisk.block.Extent;
import dev.vdisk.block.Support;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.nbd.protocol.TransmissionCodec.BlockDescriptor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An NBD export as a {@link BlockDevice}: QEMU's nbd block driver, so an image format stacks on a remote export as
 * on a file. It negotiates fixed newstyle with structured replies and {@code base:allocation}, so {@link #extents}
 * reports the server's holes and zeroes and a copy skips them; it opens several connections when the server
 * advertises {@code NBD_FLAG_CAN_MULTI_CONN} and the options ask for them, and spreads requests over them.
 *
 * <p>Capabilities follow the export's transmission flags: a read-only export is a read-only device, flush, FUA,
 * trim, write-zeroes and fast-zero are native where the server sends them (FUA and zeroes are emulated above
 * otherwise). Limits follow the server's block sizes: its minimum is the request alignment (the guard above
 * bounces smaller requests), its maximum (at most 32 MiB) the largest transfer.
 *
 * <p>Every wait is bounded (see {@link NbdConnection}); errors name the image as the user gave it, the
 * operation and the offset.
 */
public final class NbdClientDevice implements BlockDevice {
  private final NbdTarget target;
  private final List<NbdConnection> connections;
  private final NbdHandshake.Result export;
  private final Capabilities capabilities;
  private final BlockLimits limits;
  private final AtomicInteger next = new AtomicInteger();
  /** The longest TRIM, WRITE_ZEROES or BLOCK_STATUS request: 32-bit lengths, kept aligned. */
  private final long maxCommand;

  private NbdClientDevice(NbdTarget target, List<NbdConnection> connections, boolean readOnly) {
    this.target = target;
    this.connections = List.copyOf(connections);
    this.export = connections.getFirst().export();
    int flags = export.flags();
    boolean ro = readOnly || (flags & NBD_FLAG_READ_ONLY) != 0;
    this.capabilities = new Capabilities(ro,
        has(flags, NBD_FLAG_SEND_FLUSH) ? Support.NATIVE : Support.NONE,
        has(flags, NBD_FLAG_SEND_FUA) ? Support.NATIVE : Support.EMULATED,
        has(flags, NBD_FLAG_SEND_TRIM) ? Support.NATIVE : Support.NONE,
        has(flags, NBD_FLAG_SEND_WRITE_ZEROES) ? Support.NATIVE : Support.EMULATED,
        has(flags, NBD_FLAG_SEND_WRITE_ZEROES) && has(flags, NBD_FLAG_SEND_FAST_ZERO) ? Support.NATIVE : Support.NONE,
        export.allocationContext() >= 0 ? Support.NATIVE : Support.NONE);
    int min = export.blockSizes().minimum();
    int max = Math.max(min, Math.min(export.blockSizes().maximum(), BlockLimits.DEFAULT_MAX_TRANSFER) / min * min);
    this.limits = new BlockLimits(min, max, min, Math.max(min, export.blockSizes().preferred()));
    this.maxCommand = (0xffff_ffffL / min * min) & ~0xfffL;
  }

  /**
   * Connects to {@code target} as {@code options} say.
   *
   * @throws IOException one line naming the target: cannot connect, no such export, TLS refused, no answer in time
   */
  public static NbdClientDevice open(NbdTarget target, NbdClientOptions options) throws IOException {
    NbdConnection first = NbdConnection.open(target, options);
    List<NbdConnection> all = new ArrayList<>(List.of(first));
    if (options.connections() > 1 && has(first.export().flags(), NBD_FLAG_CAN_MULTI_CONN)) {
      for (int i = 1; i < options.connections(); i++) {
        try {
          NbdConnection more = NbdConnection.open(target, options);
          if (more.export().size() != first.export().size() || more.export().flags() != first.export().flags()) {
            more.close();
            break;
          }
          all.add(more);
        } catch (IOException e) {
          break; // a server with a connection limit (qemu-nbd -e): the connections it took are enough
        }
      }
    }
    return new NbdClientDevice(target, all, options.readOnly());
  }

  private static boolean has(int flags, int flag) {
    return (flags & flag) != 0;
  }

  /** The connections in use (more than one only where the server allows multi-connection). */
  public int connectionCount() {
    return connections.size();
  }

  /** The export's transmission flags, as the server sent them. */
  public int transmissionFlags() {
    return export.flags();
  }

  private NbdConnection connection() {
    return connections.get(Math.floorMod(next.getAndIncrement(), connections.size()));
  }

  @Override
  public long size() {
    return export.size();
  }

  @Override
  public Capabilities capabilities() {
    return capabilities;
  }

  @Override
  public BlockLimits limits() {
    return limits;
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    while (dst.hasRemaining()) {
      int n = Math.min(dst.remaining(), limits.maxTransfer());
      ByteBuffer piece = dst.slice(dst.position(), n);
      connection().read(offset, piece);
      dst.position(dst.position() + n);
      offset += n;
    }
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    int fua = flags.contains(WriteFlag.FUA) ? NBD_CMD_FLAG_FUA : 0;
    while (src.hasRemaining()) {
      int n = Math.min(src.remaining(), limits.maxTransfer());
      connection().write(offset, src.slice(src.position(), n), fua);
      src.position(src.position() + n);
      offset += n;
    }
  }

  @Override
  public void flush() throws IOException {
    if (capabilities.flush().available()) {
      connection().command(NBD_CMD_FLUSH, 0, 0, 0);
    }
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    for (long done = 0; done < length; ) {
      long n = Math.min(length - done, maxCommand);
      connection().command(NBD_CMD_TRIM, 0, offset + done, n);
      done += n;
    }
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    int f = (flags.contains(WriteFlag.MAY_TRIM) ? 0 : NBD_CMD_FLAG_NO_HOLE)
        | (flags.contains(WriteFlag.FAST_ZERO) ? NBD_CMD_FLAG_FAST_ZERO : 0)
        | (flags.contains(WriteFlag.FUA) ? NBD_CMD_FLAG_FUA : 0);
    for (long done = 0; done < length; ) {
      long n = Math.min(length - done, maxCommand);
      connection().command(NBD_CMD_WRITE_ZEROES, f, offset + done, n);
      done += n;
    }
  }

  /**
   * The server's {@code base:allocation} status, as QEMU's nbd driver reads it: a range without
   * {@code NBD_STATE_HOLE} holds data, one with {@code NBD_STATE_ZERO} reads as zeroes; each is mapped at its own
   * offset (the export is the layer below a format). Without the context the whole range is data.
   */
  @Override
  public List<Extent> extents(long offset, long length) throws IOException {
    long n = Math.min(length, maxCommand);
    if (export.allocationContext() < 0) {
      return List.of(Extent.data(offset, length, offset));
    }
    List<Extent> out = new ArrayList<>();
    long pos = offset;
    for (BlockDescriptor d : connection().blockStatus(offset, n)) {
      long len = Math.min(d.length(), offset + n - pos);
      if (len <= 0) {
        break;
      }
      boolean hole = (d.status() & NBD_STATE_HOLE) != 0;
      boolean zero = (d.status() & NBD_STATE_ZERO) != 0;
      Extent e = new Extent(pos, len, !hole || zero, zero, !hole, pos);
      if (!out.isEmpty() && out.getLast().mergeableWith(e)) {
        out.set(out.size() - 1, out.getLast().merge(e));
      } else {
        out.add(e);
      }
      pos += len;
    }
    return out;
  }

  @Override
  public void close() throws IOException {
    IOException first = null;
    for (NbdConnection c : connections) {
      try {
        c.close();
      } catch (IOException e) {
        first = first == null ? e : first;
      }
    }
    if (first != null) {
      throw first;
    }
  }

  @Override
  public String toString() {
    return "NbdClientDevice[" + target.name() + ", connections=" + connections.size() + "]";
  }
}
