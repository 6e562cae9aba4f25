package dev.vdisk.io;

import dev.vdisk.block.RequestQueue;
import dev.vdisk.io.linux.AsyncIo;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.Set;

/**
 * A {@link FileDevice}'s asynchronous queue on O_DIRECT, over Linux AIO ({@code aio=native}, {@link
 * dev.vdisk.io.linux.LinuxAio}) or an io_uring of the queue's own ({@code aio=io_uring}, {@link
 * dev.vdisk.io.linux.UringAio}): a request queued outside a reap goes to the kernel as it is queued, with an
 * io_submit (io_uring_enter) of its own, as QEMU 7's does without a plug; requests queued by the caller's
 * completions while a reap hands them over (qemu-img bench's callback starts the next request) are only prepared,
 * and go to the kernel together, as QEMU 8.2's deferred submission does: on io_uring in the same io_uring_enter as
 * the next wait (a reap for none submits them at once), but at once while the kernel holds fewer than a quarter of
 * the depth ({@link #low}), so that the device is not idle for a whole round. Counted on a virtio disk: a submission
 * call with one request notifies the device for it alone (a VM exit, about a quarter of a 4 KiB request's CPU time),
 * while a batch the kernel plugs (io_uring: three entries or more) is one notification. A reap takes the completions
 * that have arrived from the mapped ring and waits in io_getevents (io_uring_enter) only for as many more as the
 * caller asked for. A request that O_DIRECT cannot take as it is (offset or length not a multiple of the file's
 * alignment, a heap or misaligned buffer) runs synchronously through the device instead, as does a write while a
 * read-modify-write is in flight on the file (it might have to wait for it): such a write first reaps this queue's
 * own writes, so that no wait depends on this thread. Where the AsyncIo is {@linkplain AsyncIo#wakeable wakeable}
 * (io_uring; Linux AIO since 4.18), {@link #wake} ends a reap's wait early; a wake during a synchronous write's drain
 * is kept for the next reap.
 *
 * <p>Writes are what the device's writes are: registered with its {@link DirectPath}'s serializer from submission to
 * completion (a concurrent unaligned write of another thread orders itself against them), a write past the end of
 * the file grows the device's size before it is submitted, and each completion counts as a change for the next
 * flush. A read that comes back short (the end of the file) is completed synchronously, so past the end it reads
 * zeroes as the device does.
 */
final class AioQueue implements RequestQueue {
  private final FileDevice device;
  private final DirectPath direct;
  private final AsyncIo aio;
  private final int align;
  private final Slot[] slots;
  private final ArrayDeque<Integer> free = new ArrayDeque<>();
  /** Completions not yet handed to the caller: synchronous requests' and those reaped early. */
  private final ArrayDeque<Done> ready = new ArrayDeque<>();
  /** Requests queued and not yet reaped by the caller. */
  private int inFlight;
  /** Requests prepared or submitted and not yet completed by the kernel. */
  private int inKernel;
  /**
   * Nesting depth of {@link #deliver}: requests the caller's completions queue are only prepared meanwhile, and go
   * to the kernel together with the next wait, unless the kernel holds fewer than {@link #low} of this queue's.
   */
  private int delivering;
  /**
   * A quarter of the depth: while the kernel holds fewer requests than this, one queued by a completion goes at once
   * (with those deferred before it), so that the device is not left idle while a whole round of completions is
   * handled. Measured (400,000 4 KiB requests at depth 16, alternating, load about 1): deferring everything made
   * the requests move in lockstep rounds of 16 (0.063 submissions per request) and writes took 4.05-4.14 s against
   * 3.41-3.53 s for qemu-img; with a floor of 4 (0.31 submissions per request) 3.34-3.56 s, reads 4.28-4.39 s
   * against qemu-img's 5.27-5.50 s. At depths below 4 it is 0: there the wait is never far off. The split this makes on
   * a virtio disk that completes whole rounds (io_uring_enter's arguments, perf record on its tracepoint, 100,000 raw 4
   * KiB reads at depth 16): most rounds 4 entries alone, then 12 with the wait (0.31 calls per request). The peers
   * submit each request alone: qemu-img bench io_uring 100,000 calls of one entry, fio 100,000 and 6,190 waits. Doing
   * as they do (a floor of the whole depth, 1.06 calls per request) or pushing every 4th prepared entry (0.47) showed
   * no rate change in alternating runs on a loaded host (2026-12-05), and the first cost CPU (8 rounds of 100,000
   * reads: process task-clock median about 950 ms against 870), so the floor stays.
   */
  private final int low;
  /** A request io_submit refused: completed at once (one instance, as push runs for every request). */
  private final AsyncIo.Completion refused = (slot, result) -> {
    inKernel--;
    completed(slot, result);
  };

  /** A {@link #wake} that {@link #drainKernel} took from {@link #aio}: it ends the next reap instead. */
  private boolean wakeHeld;

  /** {@link #completed(int, long)}, made once rather than at each reap. */
  private final AsyncIo.Completion fromKernel = this::completed;

  private record Done(int tag, IOException error) {}

  /** One request in the kernel's hands. */
  private static final class Slot {
    int tag;
    boolean write;
    long offset;
    ByteBuffer buffer;
    RequestSerializer.Request serial;
  }

  AioQueue(FileDevice device, DirectPath direct, AsyncIo aio, int align) {
    this.device = device;
    this.direct = direct;
    this.aio = aio;
    this.align = align;
    this.slots = new Slot[aio.depth()];
    this.low = slots.length / 4;
    for (int i = 0; i < slots.length; i++) {
      slots[i] = new Slot();
      free.add(i);
    }
  }

  @Override
  public int depth() {
    return slots.length;
  }

  @Override
  public boolean asynchronous() {
    return true;
  }

  @Override
  public void read(long offset, ByteBuffer dst, int tag) throws IOException {
    room();
    if (dst.isReadOnly() || !direct(offset, dst)) {
      inFlight++;
      ready.add(new Done(tag, run(() -> device.read(offset, dst))));
      return;
    }
    submit(tag, false, offset, dst, null);
  }

  @Override
  public void write(long offset, ByteBuffer src, int tag) throws IOException {
    room();
    RequestSerializer.Request serial = direct(offset, src) ? direct.tryBeginOutside(offset, offset + src.remaining()) : null;
    if (serial == null) {
      drainKernel();
      inFlight++;
      ready.add(new Done(tag, run(() -> device.write(offset, src, Set.of()))));
      return;
    }
    device.growTo(offset + src.remaining());
    submit(tag, true, offset, src, serial);
  }

  private void submit(int tag, boolean write, long offset, ByteBuffer buf, RequestSerializer.Request serial)
      throws IOException {
    int slot = free.poll();
    Slot s = slots[slot];
    s.tag = tag;
    s.write = write;
    s.offset = offset;
    s.buffer = buf;
    s.serial = serial;
    aio.prepare(slot, write, MemorySegment.ofBuffer(buf).address(), buf.remaining(), offset);
    inFlight++;
    inKernel++;
    if (delivering == 0 || submitted() < low) {
      push();
    }
  }

  /** Whether O_DIRECT takes the request as it is: aligned offset and length, an aligned direct buffer. */
  private boolean direct(long offset, ByteBuffer buf) {
    int n = buf.remaining();
    return n > 0 && buf.isDirect() && ((offset | n) & (align - 1)) == 0 && buf.alignmentOffset(buf.position(), align) == 0;
  }

  private void room() {
    if (inFlight >= slots.length) {
      throw new IllegalStateException("request queue: " + slots.length + " requests in flight (expected: reap first)");
    }
  }

  @Override
  public boolean wakeable() {
    return aio.wakeable();
  }

  @Override
  public void wake() {
    try {
      aio.wake();
    } catch (IOException e) {
      // best effort, as documented: the reap's wait ends with its next completion instead
    }
  }

  @Override
  public int reap(int min, Completion done) throws IOException {
    int target = Math.min(min, inFlight);
    int n = deliver(done);
    boolean together = true;
    while (n < target && !woken()) {
      if (together && aio.unsubmitted() > 0) {
        // The requests the completions queued and the wait in one system call. If the kernel takes fewer than all
        // (EAGAIN), it did not wait: the rest of this call submits and waits apart, as a refusal needs.
        int wait = Math.min(target - n, inKernel);
        int reaped = aio.submitAndReap(wait, refused, fromKernel); // refused counts inKernel down meanwhile
        inKernel -= reaped;
        together = aio.unsubmitted() == 0;
        push();
      } else {
        push();
        // A completion handed over may have queued a request that reaped this queue itself (a synchronous write
        // drains the kernel): what this call waited for may be gone, handed to that reap instead.
        int wait = Math.min(target - n, submitted());
        if (wait == 0 && ready.isEmpty()) {
          break;
        }
        if (wait > 0) {
          inKernel -= aio.reap(wait, fromKernel); // fewer than wait if woken: the loop's test takes the wake
        }
        push();
      }
      n += deliver(done);
    }
    if (min == 0) {
      push(); // a reap that waits for nothing is how a caller starts what its completions queued
    }
    return n;
  }

  @Override
  public boolean watches() {
    return aio.watches();
  }

  /**
   * {@inheritDoc} Completions ready already are handed over without waiting; else the poll of {@code fd} goes to the
   * kernel with what is prepared, in the call that waits for one completion (the poll's own completion ends that
   * wait too: with nothing in flight it is what ends it). A {@link #wake} meanwhile ends the wait as well, and is
   * taken.
   */
  @Override
  public boolean awaitReadable(int fd, Completion done) throws IOException {
    if (deliver(done) > 0) {
      return aio.readable();
    }
    aio.watch(fd);
    inKernel -= aio.submitAndReap(1, refused, fromKernel);
    push();
    deliver(done);
    woken();
    return aio.readable();
  }

  @Override
  public int inFlight() {
    return inFlight;
  }

  /** Requests queued and not yet handed to the kernel: 0 but while the kernel refuses more (EAGAIN). */
  int unsubmitted() {
    return aio.unsubmitted();
  }

  /** Requests the kernel has taken and not yet completed. */
  private int submitted() {
    return inKernel - aio.unsubmitted();
  }

  /** Submits what is prepared; fails if the kernel takes nothing while nothing of ours is in flight to wait for. */
  private void push() throws IOException {
    aio.submit(refused);
    if (aio.unsubmitted() > 0 && aio.unsubmitted() == inKernel) {
      throw new IOException("io_submit: the kernel took none of " + inKernel + " requests (EAGAIN with none in flight)");
    }
  }

  /** Whether a {@link #wake} came since the last reap; takes it. */
  private boolean woken() {
    boolean w = wakeHeld | aio.woken();
    wakeHeld = false;
    return w;
  }

  /** Waits for every request of this queue in the kernel; their completions wait in {@link #ready}. */
  private void drainKernel() throws IOException {
    push();
    while (inKernel > 0) {
      wakeHeld |= aio.woken(); // a wake ends a reap's wait, not this drain's: it is kept for the next reap
      inKernel -= aio.reap(submitted(), fromKernel);
      push();
    }
  }

  /** Hands over the completions ready now; those of requests the caller runs synchronously meanwhile wait. */
  private int deliver(Completion done) throws IOException {
    int n = ready.size();
    int delivered = 0;
    Done d;
    delivering++;
    try {
      // A completion may reap this queue again (see reap): stop where that reap took what was ready.
      while (delivered < n && (d = ready.poll()) != null) {
        inFlight--;
        delivered++;
        done.completed(d.tag(), d.error());
      }
    } finally {
      delivering--;
    }
    return delivered;
  }

  /** The kernel finished {@code slot} with {@code result}: turns it into the device call's outcome. */
  private void completed(int slot, long result) {
    Slot s = slots[slot];
    ByteBuffer buf = s.buffer;
    s.buffer = null;
    int length = buf.remaining();
    IOException error = null;
    if (s.write) {
      direct.endOutside(s.serial);
      s.serial = null;
      device.changed();
      if (result < 0) {
        error = device.hostError("write", s.offset, length, AsyncIo.failure(aio.call() + " write", device.path() + " offset "
            + s.offset + " length " + length, result));
      } else if (result < length) {
        error = device.hostError("write", s.offset, length, new IOException("write: " + result + " of " + length
            + " bytes written (the file system may be full)"));
      } else {
        buf.position(buf.limit());
      }
    } else if (result < 0) {
      error = device.hostError("read", s.offset, length, AsyncIo.failure(aio.call() + " read", device.path() + " offset "
          + s.offset + " length " + length, result));
    } else {
      buf.position(buf.position() + (int) result);
      if (buf.hasRemaining()) {
        error = run(() -> device.read(s.offset + result, buf)); // short: the end of the file, zeroes past it
      }
    }
    free.add(slot);
    ready.add(new Done(s.tag, error));
  }

  /** A synchronous device call: its exception, or null. */
  private static IOException run(Call call) {
    try {
      call.run();
      return null;
    } catch (IOException e) {
      return e;
    }
  }

  @FunctionalInterface
  private interface Call {
    void run() throws IOException;
  }

  /** Waits for the requests in the kernel, drops every completion and tears the context down. */
  @Override
  public void close() throws IOException {
    try {
      drainKernel();
    } finally {
      ready.clear();
      inFlight = 0;
      aio.close();
    }
  }

  @Override
  public String toString() {
    return "AioQueue[" + aio + "]";
  }
}
