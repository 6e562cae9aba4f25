package dev.vdisk.nbd.client;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.nbd.protocol.NbdProtocol;
import dev.vdisk.nbd.protocol.ProtocolException;
import dev.vdisk.nbd.protocol.Request;
import dev.vdisk.nbd.protocol.TransmissionCodec;
import dev.vdisk.nbd.protocol.TransmissionCodec.BlockDescriptor;
import dev.vdisk.nbd.protocol.TransmissionCodec.BlockStatus;
import dev.vdisk.nbd.protocol.TransmissionCodec.ErrorChunk;
import dev.vdisk.nbd.protocol.TransmissionCodec.ReplyHeader;
import dev.vdisk.nbd.wire.ChannelWire;
import dev.vdisk.nbd.wire.Wire;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One negotiated connection to an NBD export in the transmission phase. Requests from any number of threads are
 * sent in turn and may be in flight together (at most {@link #MAX_IN_FLIGHT}); one reader thread takes the replies
 * in whatever order the server sends them and hands each to its request. Read data goes straight into the caller's
 * buffer, so the connection holds no payload memory of its own: what it allocates per reply is a chunk header and,
 * for block status, at most {@link #MAX_STATUS_PAYLOAD} bytes.
 *
 * <p>Every wait is bounded by the options' timeout: connecting, negotiating, and each request. A server that does not
 * answer in time, closes the connection or breaks the protocol makes this connection fail every request from then on
 * with one line naming the server; nothing is retried.
 */
final class NbdConnection implements Closeable {
  /** Requests in flight per connection at most: enough to keep a server busy, bounded so replies cannot pile up. */
  static final int MAX_IN_FLIGHT = 16;
  /** The largest block status chunk accepted: 512 Ki descriptors. */
  static final int MAX_STATUS_PAYLOAD = 4 << 20;
  private static final int MAX_ERROR_PAYLOAD = 64 << 10;
  private static final ByteBuffer ZEROES = ByteBuffer.allocateDirect(64 << 10).asReadOnlyBuffer();

  private final NbdTarget target;
  private final Wire wire;
  private final NbdHandshake.Result export;
  private final long timeoutNanos;
  private final ReentrantLock sendLock = new ReentrantLock();
  private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
  private final AtomicLong cookies = new AtomicLong();
  private final Semaphore inFlight = new Semaphore(MAX_IN_FLIGHT);
  private final Thread reader;
  private volatile IOException dead;

  /** One request waiting for its reply. */
  private static final class Pending {
    final Request request;
    final ByteBuffer dst;
    final CompletableFuture<Void> done = new CompletableFuture<>();
    List<BlockDescriptor> status;
    ErrorChunk error;

    Pending(Request request, ByteBuffer dst) {
      this.request = request;
      this.dst = dst;
    }
  }

  private NbdConnection(NbdTarget target, NbdHandshake.Result export, NbdClientOptions options) {
    this.target = target;
    this.wire = export.wire();
    this.export = export;
    this.timeoutNanos = options.timeout().toNanos();
    this.reader = Thread.ofPlatform().daemon().name("nbd-client " + target.address()).unstarted(this::readReplies);
  }

  /**
   * Connects to {@code target} and negotiates, within the options' timeout.
   *
   * @throws IOException one line naming the target and why it could not be reached or refused the export
   */
  static NbdConnection open(NbdTarget target, NbdClientOptions options) throws IOException {
    SocketChannel channel = connect(target, options);
    NbdHandshake.Result r = negotiating(channel, target, options,
        () -> NbdHandshake.run(new ChannelWire(channel), target, options));
    try {
      NbdConnection c = new NbdConnection(target, r, options);
      c.reader.start();
      return c;
    } catch (RuntimeException e) {
      channel.close();
      throw e;
    }
  }

  /** A negotiation on a connected channel. */
  @FunctionalInterface
  interface Negotiation<T> {
    T run() throws IOException;
  }

  /**
   * Runs {@code negotiation} on {@code channel} within the options' timeout (the channel is closed when it runs out,
   * which unblocks its reads); a failure closes the channel and is one line naming the target.
   */
  static <T> T negotiating(SocketChannel channel, NbdTarget target, NbdClientOptions options, Negotiation<T> negotiation)
      throws IOException {
    Thread watchdog = Thread.ofVirtual().start(() -> {
      try {
        Thread.sleep(options.timeout());
        channel.close(); // unblocks the handshake's reads
      } catch (InterruptedException | IOException e) {
        // finished in time
      }
    });
    try {
      T result = negotiation.run();
      watchdog.interrupt();
      watchdog.join();
      if (!channel.isOpen()) {
        throw new ClosedChannelException();
      }
      return result;
    } catch (ClosedChannelException e) {
      throw NbdHandshake.failure(target, BlockError.EIO, "no answer from " + target.address() + " within "
          + options.timeout().toSeconds() + " s while negotiating (expected: an NBD server)");
    } catch (EOFException e) {
      channel.close();
      throw NbdHandshake.failure(target, BlockError.EIO, target.address() + " closed the connection while negotiating");
    } catch (IOException e) {
      channel.close();
      throw e.getMessage() != null && e.getMessage().startsWith(target.name()) ? e
          : NbdHandshake.failure(target, BlockError.EIO, "negotiating with " + target.address() + ": " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      channel.close();
      throw new java.io.InterruptedIOException(target.name() + ": interrupted while connecting");
    } finally {
      watchdog.interrupt();
    }
  }

  /** A channel connected to {@code target}'s server within the options' timeout. */
  static SocketChannel connect(NbdTarget target, NbdClientOptions options) throws IOException {
    if (target.socket() != null) {
      SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
      return connect(ch, target.unixAddress(), target, options);
    }
    InetAddress[] addresses;
    try {
      addresses = InetAddress.getAllByName(target.host());
    } catch (UnknownHostException e) {
      throw NbdHandshake.failure(target, BlockError.EINVAL, "unknown host '" + target.host() + "' (expected: a host name "
          + "or address)");
    }
    IOException last = null;
    for (InetAddress a : addresses) {
      try {
        return connect(SocketChannel.open(), new InetSocketAddress(a, target.port()), target, options);
      } catch (IOException e) {
        last = e;
      }
    }
    throw last;
  }

  private static SocketChannel connect(SocketChannel ch, java.net.SocketAddress to, NbdTarget target,
      NbdClientOptions options) throws IOException {
    Thread watchdog = Thread.ofVirtual().start(() -> {
      try {
        Thread.sleep(options.timeout());
        ch.close();
      } catch (InterruptedException | IOException e) {
        // connected in time
      }
    });
    try {
      ch.connect(to);
      return ch;
    } catch (ClosedChannelException e) {
      throw NbdHandshake.failure(target, BlockError.EIO, "Failed to connect to '" + target.address() + "': no answer "
          + "within " + options.timeout().toSeconds() + " s");
    } catch (IOException e) {
      ch.close();
      String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
      throw NbdHandshake.failure(target, BlockError.EIO, "Failed to connect to '" + target.address() + "': " + why);
    } finally {
      watchdog.interrupt();
    }
  }

  /** The negotiated export. */
  NbdHandshake.Result export() {
    return export;
  }

  /** Reads {@code dst.remaining()} bytes at {@code offset} (at most the server's maximum payload). */
  void read(long offset, ByteBuffer dst) throws IOException {
    int length = dst.remaining();
    call(new Request(0, NBD_CMD_READ, 0, offset, length), dst, null);
    dst.position(dst.limit());
  }

  /** Writes {@code src} at {@code offset}; {@code flags} are NBD command flags (FUA). */
  void write(long offset, ByteBuffer src, int flags) throws IOException {
    call(new Request(flags, NBD_CMD_WRITE, 0, offset, src.remaining()), null, src);
    src.position(src.limit());
  }

  /** A command without payload: FLUSH, TRIM or WRITE_ZEROES. */
  void command(int type, int flags, long offset, long length) throws IOException {
    call(new Request(flags, type, 0, offset, length), null, null);
  }

  /** The {@code base:allocation} descriptors of {@code [offset, offset + length)}, as the server sends them. */
  List<BlockDescriptor> blockStatus(long offset, long length) throws IOException {
    Pending p = call(new Request(0, NBD_CMD_BLOCK_STATUS, 0, offset, length), null, null);
    if (p.status == null) {
      throw failure(BlockError.EIO, p.request, "the reply holds no base:allocation descriptors");
    }
    return p.status;
  }

  private Pending call(Request shape, ByteBuffer dst, ByteBuffer payload) throws IOException {
    acquire(shape);
    long cookie = cookies.incrementAndGet();
    Request r = new Request(shape.flags(), shape.type(), cookie, shape.offset(), shape.length());
    Pending p = new Pending(r, dst);
    pending.put(cookie, p);
    try {
      checkAlive(r);
      send(r, payload);
      await(p);
      if (p.error != null) {
        throw failure(blockError(p.error.error()), r, "server error " + errorName(p.error.error())
            + (p.error.message().isEmpty() ? "" : ": " + p.error.message()));
      }
      return p;
    } finally {
      pending.remove(cookie);
      inFlight.release();
    }
  }

  private void acquire(Request r) throws IOException {
    try {
      if (!inFlight.tryAcquire(timeoutNanos, TimeUnit.NANOSECONDS)) {
        kill(new IOException("no reply within " + TimeUnit.NANOSECONDS.toSeconds(timeoutNanos) + " s"));
        throw failure(BlockError.EIO, r, "no reply from " + target.address() + " within "
            + TimeUnit.NANOSECONDS.toSeconds(timeoutNanos) + " s (expected: a live server)");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException(target.name() + ": interrupted");
    }
  }

  private void send(Request r, ByteBuffer payload) throws IOException {
    ByteBuffer header = ByteBuffer.allocate(REQUEST_SIZE);
    TransmissionCodec.encodeRequest(header, r);
    header.flip();
    sendLock.lock();
    try {
      if (payload == null) {
        wire.writeFully(header);
      } else {
        wire.writeFully(header, payload.duplicate());
      }
    } catch (IOException e) {
      kill(e);
      throw failure(BlockError.EIO, r, "cannot send to " + target.address() + ": " + e.getMessage());
    } finally {
      sendLock.unlock();
    }
  }

  private void await(Pending p) throws IOException {
    try {
      p.done.get(timeoutNanos, TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      kill(new IOException("no reply within " + TimeUnit.NANOSECONDS.toSeconds(timeoutNanos) + " s"));
      throw failure(BlockError.EIO, p.request, "no reply from " + target.address() + " within "
          + TimeUnit.NANOSECONDS.toSeconds(timeoutNanos) + " s (expected: a live server)");
    } catch (ExecutionException e) {
      throw failure(BlockError.EIO, p.request, e.getCause().getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException(target.name() + ": interrupted");
    }
  }

  private void checkAlive(Request r) throws IOException {
    IOException d = dead;
    if (d != null) {
      throw failure(BlockError.EIO, r, d.getMessage());
    }
  }

  /** The reader thread: replies until the stream ends or breaks, then every request still waiting fails. */
  private void readReplies() {
    try {
      while (true) {
        readReply();
      }
    } catch (EOFException | ClosedChannelException e) {
      die(new IOException(target.address() + " closed the connection"));
    } catch (ProtocolException e) {
      die(new IOException("protocol error from " + target.address() + ": " + e.getMessage()));
    } catch (IOException | RuntimeException e) {
      die(new IOException("connection to " + target.address() + " failed: " + e.getMessage()));
    }
  }

  private void readReply() throws IOException, ProtocolException {
    int magic = read(4).getInt();
    ReplyHeader h = TransmissionCodec.decodeReplyHeader(magic, read(TransmissionCodec.replyHeaderRest(magic)));
    Pending p = pending.get(h.cookie());
    if (p == null) {
      throw new ProtocolException("reply for cookie " + h.cookie() + ", which no request in flight has");
    }
    Request r = p.request;
    if (!h.structured()) {
      if (export.structured() && (r.type() == NBD_CMD_READ || r.type() == NBD_CMD_BLOCK_STATUS) && h.error() == 0) {
        throw new ProtocolException("simple reply to a READ or BLOCK_STATUS after structured replies were agreed");
      }
      if (h.error() != 0) {
        p.error = new ErrorChunk(h.error(), "");
      } else if (r.type() == NBD_CMD_READ) {
        wire.readFully(p.dst.duplicate());
      }
    } else {
      chunk(h, p);
    }
    if (h.done()) {
      pending.remove(h.cookie());
      p.done.complete(null);
    }
  }

  private void chunk(ReplyHeader h, Pending p) throws IOException, ProtocolException {
    Request r = p.request;
    long length = h.length();
    switch (h.type()) {
      case NBD_REPLY_TYPE_NONE -> {
        if (length != 0 || !h.done()) {
          throw new ProtocolException("NONE chunk with " + length + " bytes or without DONE");
        }
      }
      case NBD_REPLY_TYPE_OFFSET_DATA -> {
        long offset = readOffset(r, length);
        int from = p.dst.position() + (int) (offset - r.offset());
        wire.readFully(p.dst.duplicate().position(from).limit(from + (int) (length - 8)));
      }
      case NBD_REPLY_TYPE_OFFSET_HOLE -> {
        if (length != 12) {
          throw new ProtocolException("OFFSET_HOLE chunk of " + length + " bytes (expected: 12)");
        }
        ByteBuffer b = read(12);
        long offset = b.getLong();
        long n = Integer.toUnsignedLong(b.getInt());
        checkInside(r, offset, n);
        int from = p.dst.position() + (int) (offset - r.offset());
        ByteBuffer hole = p.dst.duplicate().position(from).limit(from + (int) n);
        while (hole.hasRemaining()) {
          hole.put(ZEROES.duplicate().limit(Math.min(hole.remaining(), ZEROES.capacity())));
        }
      }
      case NBD_REPLY_TYPE_BLOCK_STATUS -> {
        if (r.type() != NBD_CMD_BLOCK_STATUS || length > MAX_STATUS_PAYLOAD) {
          throw new ProtocolException("BLOCK_STATUS chunk of " + length + " bytes for command " + r.type()
              + " (expected: only for BLOCK_STATUS, at most " + MAX_STATUS_PAYLOAD + " bytes)");
        }
        BlockStatus s = TransmissionCodec.decodeBlockStatus(read((int) length));
        if (s.contextId() == export.allocationContext()) {
          p.status = s.descriptors();
        }
      }
      default -> {
        if (!h.isErrorChunk() || length > MAX_ERROR_PAYLOAD) {
          throw new ProtocolException("chunk type " + h.type() + " of " + length + " bytes (expected: a known type)");
        }
        p.error = TransmissionCodec.decodeErrorChunk(read((int) length));
      }
    }
  }

  /** Reads an OFFSET_DATA chunk's offset and checks that its data lies inside the READ it answers. */
  private long readOffset(Request r, long length) throws IOException, ProtocolException {
    if (r.type() != NBD_CMD_READ || length <= 8) {
      throw new ProtocolException("OFFSET_DATA chunk of " + length + " bytes for command " + r.type());
    }
    long offset = read(8).getLong();
    checkInside(r, offset, length - 8);
    return offset;
  }

  private static void checkInside(Request r, long offset, long n) throws ProtocolException {
    if (r.type() != NBD_CMD_READ || offset < r.offset() || n <= 0 || offset + n > r.offset() + r.length()) {
      throw new ProtocolException("data chunk at " + offset + " +" + n + " outside the READ at " + r.offset() + " +"
          + r.length());
    }
  }

  private ByteBuffer read(int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n);
    wire.readFully(b);
    return b.flip();
  }

  private void die(IOException why) {
    dead = why;
    for (Pending p : pending.values()) {
      p.done.completeExceptionally(why);
    }
    try {
      wire.close();
    } catch (IOException ignored) {
      // already broken
    }
  }

  /** Ends the connection after a timeout or a send failure; the reader then fails every waiting request. */
  private void kill(IOException why) {
    if (dead == null) {
      dead = why;
    }
    try {
      wire.close();
      reader.join(TimeUnit.NANOSECONDS.toMillis(timeoutNanos));
    } catch (IOException ignored) {
      // closing a broken connection
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private BlockDeviceException failure(BlockError error, Request r, String what) {
    return NbdHandshake.failure(target, error, commandName(r.type()) + " at offset " + r.offset() + " length "
        + r.length() + ": " + what);
  }

  private static String commandName(int type) {
    return switch (type) {
      case NBD_CMD_READ -> "read";
      case NBD_CMD_WRITE -> "write";
      case NBD_CMD_FLUSH -> "flush";
      case NBD_CMD_TRIM -> "discard";
      case NBD_CMD_WRITE_ZEROES -> "write zeroes";
      case NBD_CMD_BLOCK_STATUS -> "block status";
      default -> "command " + type;
    };
  }

  private static String errorName(int error) {
    return NbdProtocol.errorName(error).orElse("error " + error);
  }

  private static BlockError blockError(int error) {
    return switch (error) {
      case NBD_EPERM -> BlockError.EPERM;
      case NBD_ENOMEM -> BlockError.ENOMEM;
      case NBD_EINVAL -> BlockError.EINVAL;
      case NBD_ENOSPC -> BlockError.ENOSPC;
      case NBD_EOVERFLOW -> BlockError.EOVERFLOW;
      case NBD_ENOTSUP -> BlockError.ENOTSUP;
      case NBD_ESHUTDOWN -> BlockError.ESHUTDOWN;
      default -> BlockError.EIO;
    };
  }

  /** Says goodbye ({@code NBD_CMD_DISC}) when the connection still works, then closes it. */
  @Override
  public void close() throws IOException {
    if (dead == null) {
      ByteBuffer disc = ByteBuffer.allocate(REQUEST_SIZE);
      TransmissionCodec.encodeRequest(disc, new Request(0, NBD_CMD_DISC, cookies.incrementAndGet(), 0, 0));
      sendLock.lock();
      try {
        wire.writeFully(disc.flip());
      } catch (IOException ignored) {
        // the server is gone already
      } finally {
        sendLock.unlock();
      }
      dead = new IOException("closed");
    }
    wire.close();
    try {
      reader.join(TimeUnit.NANOSECONDS.toMillis(timeoutNanos));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
