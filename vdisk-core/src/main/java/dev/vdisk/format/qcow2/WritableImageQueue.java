package dev.vdisk.format.qcow2;

import dev.vdisk.block.RequestQueue;
import dev.vdisk.format.internal.CountingQueue;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Lock;

/**
 * A writable qcow2 image's queue over the queue of the file that holds its clusters: a read of normal data clusters
 * ({@link ClusterMapper#dataHost}), and an overwrite of clusters the image alone owns ({@link
 * Qcow2Writer#overwriteHost}: no allocation, no copy-on-write, no metadata change; never with a raw data file), go to
 * that queue at their host offset as one request where the clusters lie one after the other on the host (one cluster,
 * or the 16 of a 1 MiB request in a preallocated image). Everything else (reads of zero, unallocated or compressed
 * clusters or of clusters apart on the host, allocating writes, writes across clusters apart on the host) runs
 * synchronously through the image as its read and write do: a read beside the requests in flight, a write after they
 * completed (so a 1 MiB write that went this way held the connection's other requests back until it was done: one
 * at a time on the disk, where the queue keeps the client's four in flight).
 *
 * <p>While a shrink drains the image ({@link Qcow2Writer#bypassesImage}) every request runs through the image.
 *
 * <p>The mapping is looked up under the writer's {@link Qcow2Writer#shared()} lock, and the request is counted in
 * {@link Qcow2Writer#queued()} before that and until its completion was reaped: released clusters are counted down
 * (made reusable) only while no queue request is in flight, as they are only while no synchronous one holds the
 * shared lock. No lock is held between two calls, so this thread may flush the image, or other threads change its
 * metadata, while requests are in flight.
 */
final class WritableImageQueue extends CountingQueue {
  private final Qcow2Image image;
  private final ClusterMapper mapper;
  private final HostReader data;
  private final Qcow2Writer writer;
  private final Lock shared;
  private final AtomicInteger queued;

  WritableImageQueue(RequestQueue below, Qcow2Image image, ClusterMapper mapper, HostReader data, Qcow2Writer writer) {
    super(below);
    this.image = image;
    this.mapper = mapper;
    this.data = data;
    this.writer = writer;
    this.shared = writer.shared();
    this.queued = writer.queued();
  }

  @Override
  public void read(long offset, ByteBuffer dst, int tag) throws IOException {
    int n = dst.remaining();
    long host = -1;
    count();
    shared.lock();
    try {
      long at = writer.bypassesImage() ? mapper.dataHost(offset, n) : L2Entry.NO_OFFSET;
      if (at != L2Entry.NO_OFFSET && data.plain(at, n)) {
        host = at;
        super.read(host, dst, tag);
      }
    } catch (IOException e) {
      uncount();
      refuse(tag, e);
      return;
    } finally {
      shared.unlock();
    }
    if (host < 0) {
      uncount();
      runBeside(tag, () -> image.read(offset, dst));
    }
  }

  @Override
  public void write(long offset, ByteBuffer src, int tag) throws IOException {
    int n = src.remaining();
    long host = -1;
    count();
    shared.lock();
    try {
      long at = writer.overwriteHost(offset, n);
      if (at >= 0 && data.plain(at, n)) {
        host = at;
        image.markDirty(offset, n);
        super.write(host, src, tag);
      }
    } catch (IOException e) {
      uncount();
      refuse(tag, e);
      return;
    } finally {
      shared.unlock();
    }
    if (host < 0) {
      uncount();
      runNow(tag, () -> {
        settle(); // what runNow reaped is no longer in flight: released clusters may be counted down
        image.write(offset, src, Set.of());
      });
    }
  }

  /** Counts a request about to be looked up: from here on, no cluster it may map to is made reusable. */
  private void count() {
    queued.incrementAndGet();
    counted();
  }

  @Override
  protected void release(int n) {
    queued.addAndGet(-n);
  }
}
