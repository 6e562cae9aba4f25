package dev.vdisk.nbd.wire;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.nbd.protocol.ProtocolException;
import dev.vdisk.nbd.protocol.Request;
import dev.vdisk.nbd.protocol.RequestHeader;
import dev.vdisk.nbd.protocol.TransmissionCodec;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A request stream read the way the server's reader reads it (a header with {@link ReadAhead#readFully}, then a
 * WRITE's payload in place with {@link ReadAhead#readView}, or copied where the view is refused) yields the same
 * requests and payload bytes however the stream is cut into reads: at every byte boundary (headers split, payloads
 * split), one byte per read, and all at once (several requests in one read); also where a payload must be moved to
 * the front of a small buffer to fit.
 */
@Timeout(60) // a buffer that lost track of its bytes reads nothing for ever
class ReadAheadTest {
  private static final int CAPACITY = 128 << 10;
  private static final int DIRECT_MIN = 64 << 10;

  /** One request as parsed: its header and, for a WRITE, its payload. */
  private record Parsed(Request request, ByteBuffer payload) {}

  private static ByteBuffer pattern(int n, int seed) {
    ByteBuffer b = ByteBuffer.allocate(n);
    for (int i = 0; i < n; i++) {
      b.put((byte) (seed * 131 + i * 7 + (i >> 8)));
    }
    return b.flip();
  }

  /** Two 4 KiB writes, a read, a small write, a flush, and a write of {@code big} bytes. */
  private static List<Parsed> requests(int big) {
    return List.of(
        new Parsed(new Request(0, NBD_CMD_WRITE, 1, 0, 4096), pattern(4096, 1)),
        new Parsed(new Request(NBD_CMD_FLAG_FUA, NBD_CMD_WRITE, 2, 8192, 4096), pattern(4096, 2)),
        new Parsed(new Request(0, NBD_CMD_READ, 3, 4096, 4096), null),
        new Parsed(new Request(0, NBD_CMD_WRITE, 4, 100, 7), pattern(7, 4)),
        new Parsed(new Request(0, NBD_CMD_FLUSH, 5, 0, 0), null),
        new Parsed(new Request(0, NBD_CMD_WRITE, 6, 1 << 20, big), pattern(big, 6)));
  }

  private static byte[] stream(List<Parsed> requests) {
    int n = 0;
    for (Parsed p : requests) {
      n += REQUEST_SIZE + (p.payload() == null ? 0 : p.payload().remaining());
    }
    ByteBuffer b = ByteBuffer.allocate(n);
    for (Parsed p : requests) {
      TransmissionCodec.encodeRequest(b, p.request());
      if (p.payload() != null) {
        b.put(p.payload().duplicate());
      }
    }
    return b.array();
  }

  /**
   * A channel that hands out {@code bytes} and never more in one read than up to the next of {@code cuts} (ascending
   * offsets); past the last cut, at most {@code step} bytes a read.
   */
  private static ReadableByteChannel chunked(byte[] bytes, int[] cuts, int step) {
    return new ReadableByteChannel() {
      private int at;
      private int cut;

      @Override
      public int read(ByteBuffer dst) {
        if (at == bytes.length) {
          return -1;
        }
        while (cut < cuts.length && cuts[cut] <= at) {
          cut++;
        }
        int end = cut < cuts.length ? Math.min(bytes.length, cuts[cut]) : at + Math.min(bytes.length - at, step);
        int n = Math.min(dst.remaining(), end - at);
        dst.put(bytes, at, n);
        at += n;
        return n;
      }

      @Override
      public boolean isOpen() {
        return true;
      }

      @Override
      public void close() {}
    };
  }

  /** Reads {@code count} requests as the server's reader does. */
  private static List<Parsed> parse(ReadAhead in, int count) throws IOException {
    ByteBuffer header = ByteBuffer.allocateDirect(REQUEST_SIZE);
    RequestHeader h = new RequestHeader();
    List<Parsed> out = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      in.readFully(header.clear());
      Request r = h.decode(header.flip()).toRequest();
      ByteBuffer payload = null;
      if (r.type() == NBD_CMD_WRITE) {
        ByteBuffer view = in.readView((int) r.length());
        if (view == null) {
          view = ByteBuffer.allocate((int) r.length());
          in.readFully(view);
          view.flip();
        }
        assertThat(view.remaining()).isEqualTo((int) r.length());
        payload = ByteBuffer.allocate(view.remaining()).put(view).flip(); // taken now: the view lasts until the next read
      }
      out.add(new Parsed(r, payload));
    }
    return out;
  }

  @Test
  void everySplitOfTheStreamYieldsTheSameRequests() throws IOException {
    List<Parsed> want = requests(5000);
    byte[] bytes = stream(want);
    for (int k = 1; k < bytes.length; k++) {
      ReadAhead in = new ReadAhead(chunked(bytes, new int[] {k}, Integer.MAX_VALUE), CAPACITY, DIRECT_MIN);
      assertThat(parse(in, want.size())).as("split at byte %d", k).isEqualTo(want);
      assertThat(in.buffered()).isZero();
    }
  }

  @Test
  void oneByteAReadAndAllAtOnceYieldTheSameRequests() throws IOException {
    List<Parsed> want = requests(5000);
    byte[] bytes = stream(want);
    assertThat(parse(new ReadAhead(chunked(bytes, new int[0], 1), CAPACITY, DIRECT_MIN), want.size())).isEqualTo(want);
    ReadAhead whole = new ReadAhead(chunked(bytes, new int[0], Integer.MAX_VALUE), CAPACITY, DIRECT_MIN);
    whole.readFully(ByteBuffer.allocate(1)); // one read takes every request
    assertThat(whole.buffered()).isEqualTo(bytes.length - 1);
  }

  /**
   * A buffer of 6 KiB: each 4 KiB payload behind another request must be moved to the front to fit, and a payload
   * longer than the buffer is refused as a view and copied; every split still yields the same requests.
   */
  @Test
  void aSmallBufferMovesPayloadsToTheFrontAndRefusesLongerOnes() throws IOException {
    List<Parsed> want = requests(6145);
    byte[] bytes = stream(want);
    for (int k = 1; k < bytes.length; k += 3) {
      ReadAhead in = new ReadAhead(chunked(bytes, new int[] {k, k + 4096}, Integer.MAX_VALUE), 6144, 2048);
      assertThat(parse(in, want.size())).as("cuts at bytes %d and %d", k, k + 4096).isEqualTo(want);
    }
    assertThat(new ReadAhead(chunked(bytes, new int[0], 1), 6144, 2048).readView(6145)).isNull();
  }

  @Test
  void aViewIsOnlyTheRequestedBytes() throws IOException {
    byte[] bytes = new byte[100];
    Arrays.fill(bytes, (byte) 1);
    ReadAhead in = new ReadAhead(chunked(bytes, new int[0], Integer.MAX_VALUE), 64, 16);
    ByteBuffer v = in.readView(10);
    assertThat(v.remaining()).isEqualTo(10);
    assertThat(in.buffered()).isEqualTo(54); // one read of as much as fits; the view's bytes are taken
    assertThat(in.readView(0).remaining()).isZero();
  }

  /**
   * {@link ReadAhead#readAtLeast} takes the bytes read ahead, then reads until it has the minimum, each read taking
   * what the channel hands out, never past the caller's limit: the bytes behind it stay for the next call; with less
   * room than the direct minimum it reads through the read-ahead, which keeps the bytes behind for later.
   */
  @Test
  void readAtLeastTakesWhatArrivedUpToTheLimitAndLeavesTheRest() throws IOException {
    byte[] bytes = new byte[1000];
    for (int i = 0; i < bytes.length; i++) {
      bytes[i] = (byte) i;
    }
    ReadAhead in = new ReadAhead(chunked(bytes, new int[] {30, 100, 130, 700}, Integer.MAX_VALUE), 64, 16);
    in.readFully(ByteBuffer.allocate(10)); // reads 30: 20 are left ahead
    ByteBuffer dst = ByteBuffer.allocate(600).limit(500);
    assertThat(in.readAtLeast(dst, 5)).isEqualTo(20); // the bytes ahead are enough: no read
    assertThat(in.readAtLeast(dst, 71)).isEqualTo(100); // two reads: to 100, then to 130 (at least 71)
    assertThat(in.readAtLeast(dst, 1)).isEqualTo(380); // one read, cut at the limit (the channel had up to 700)
    assertThat(dst.flip()).isEqualTo(ByteBuffer.wrap(bytes, 10, 500));
    ByteBuffer small = ByteBuffer.allocate(10); // less room than the direct minimum: read through the read-ahead
    assertThat(in.readAtLeast(small, 1)).isEqualTo(10);
    assertThat(in.buffered()).isEqualTo(54);
    assertThat(small.flip()).isEqualTo(ByteBuffer.wrap(bytes, 510, 10));
    ByteBuffer rest = ByteBuffer.allocate(480);
    in.readFully(rest);
    assertThat(rest.flip()).isEqualTo(ByteBuffer.wrap(bytes, 520, 480));
  }

  @Test
  void aStreamThatEndsInsideAPayloadOrHeaderIsEndOfStream() throws IOException {
    List<Parsed> want = requests(5000);
    byte[] bytes = stream(want);
    byte[] cutInPayload = Arrays.copyOf(bytes, REQUEST_SIZE + 100);
    ReadAhead in = new ReadAhead(chunked(cutInPayload, new int[0], 7), CAPACITY, DIRECT_MIN);
    assertThatThrownBy(() -> parse(in, 1)).isInstanceOf(EOFException.class);
    byte[] cutInHeader = Arrays.copyOf(bytes, REQUEST_SIZE - 1);
    ReadAhead h = new ReadAhead(chunked(cutInHeader, new int[0], 7), CAPACITY, DIRECT_MIN);
    assertThatThrownBy(() -> parse(h, 1)).isInstanceOf(EOFException.class);
  }

  @Test
  void aHeaderWithoutTheMagicIsRefusedWhereverItIsCut() throws IOException {
    byte[] bytes = stream(requests(5000));
    bytes[REQUEST_SIZE + 4096] ^= 0x40; // the second request's magic
    for (int k = 1; k < 2 * REQUEST_SIZE + 4096; k++) {
      ReadAhead in = new ReadAhead(chunked(bytes, new int[] {k}, Integer.MAX_VALUE), CAPACITY, DIRECT_MIN);
      assertThat(parse(in, 1)).hasSize(1);
      assertThatThrownBy(() -> parse(in, 1)).as("split at byte %d", k).isInstanceOf(ProtocolException.class)
          .hasMessageContaining("request magic");
    }
  }
}
