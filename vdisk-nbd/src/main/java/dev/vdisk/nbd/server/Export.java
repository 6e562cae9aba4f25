package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockLimits;
import dev.vdisk.block.Capabilities;
import java.io.IOException;

/**
 * One named export: a {@link BlockDevice} (the top of a guarded stack) and how it is offered.
 *
 * <p>Every connection to an export shares the one device, and with it one cache: a flush or FUA write on
 * any connection is visible and durable for all of them, which is what {@code NBD_FLAG_CAN_MULTI_CONN}
 * promises. Transmission flags are derived from the device's {@link Capabilities} and nothing else.
 *
 * @param name the export name clients ask for (may be empty: the default export)
 * @param description shown by {@code nbdinfo}; may be empty
 * @param device the stack served; the server closes it when it stops
 * @param discard what trims do
 * @param pageCacheWrites writes complete in the host's page cache (a cache mode that is neither direct nor
 *     writethrough), so a small one takes microseconds and never waits for the disk
 * @param bitmap the dirty bitmap offered as {@code qemu:dirty-bitmap:NAME}, or null
 * @param allocationDepth whether {@code qemu:allocation-depth} is offered (qemu-nbd offers it only with {@code -A})
 */
public record Export(String name, String description, BlockDevice device, DiscardMode discard, boolean pageCacheWrites,
    ExportBitmap bitmap, boolean allocationDepth) {
  /** An export that offers {@code qemu:allocation-depth}. */
  public Export(String name, String description, BlockDevice device, DiscardMode discard, boolean pageCacheWrites,
      ExportBitmap bitmap) {
    this(name, description, device, discard, pageCacheWrites, bitmap, true);
  }

  /** An export without a dirty bitmap that offers {@code qemu:allocation-depth}. */
  public Export(String name, String description, BlockDevice device, DiscardMode discard, boolean pageCacheWrites) {
    this(name, description, device, discard, pageCacheWrites, null);
  }

  /** An export whose writes may wait for storage. */
  public Export(String name, String description, BlockDevice device, DiscardMode discard) {
    this(name, description, device, discard, false);
  }

  /** Read-only because the stack says so (a read-only open). */
  public boolean readOnly() {
    return device.capabilities().readOnly();
  }

  /**
   * The transmission flags for a session.
   *
   * @param structuredReplies whether the client negotiated structured replies (DF needs them)
   * @param multiConn whether more than one client may be connected at once ({@code NBD_FLAG_CAN_MULTI_CONN})
   */
  public int transmissionFlags(boolean structuredReplies, boolean multiConn) {
    Capabilities c = device.capabilities();
    int flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_CACHE | (multiConn ? NBD_FLAG_CAN_MULTI_CONN : 0);
    if (c.flush().available()) {
      flags |= NBD_FLAG_SEND_FLUSH;
    }
    if (structuredReplies) {
      flags |= NBD_FLAG_SEND_DF;
    }
    // FUA even when read-only, as qemu-nbd: it only qualifies writes, and nbdinfo then shows what qemu-nbd's shows
    flags |= NBD_FLAG_SEND_FUA;
    if (c.readOnly()) {
      return flags | NBD_FLAG_READ_ONLY;
    }
    flags |= NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
    // As qemu-nbd: with discard=ignore trims are still offered, and dropped (QEMU's block layer ignores them).
    if (discard == DiscardMode.IGNORE || c.discard().available()) {
      flags |= NBD_FLAG_SEND_TRIM;
    }
    return flags;
  }

  /** The size in bytes. */
  public long size() throws IOException {
    return device.size();
  }

  /** Minimum block size: the device's request alignment (1 for every file, O_DIRECT included, which bounces). */
  public int minimumBlockSize() {
    return device.limits().requestAlignment();
  }

  /** Preferred block size: the alignment that avoids read-modify-write below, at least 4 KiB, at most 2 MiB. */
  public int preferredBlockSize() {
    BlockLimits l = device.limits();
    int optimal = Integer.highestOneBit(Math.max(l.optimalAlignment(), 1));
    return Math.clamp(optimal, 4096, 2 << 20);
  }
}
