package dev.vdisk.nbd.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import dev.vdisk.io.internal.DirectBuffers;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BufferPoolTest {
  private static final int KIB = 1 << 10;
  private static final int MIB = 1 << 20;
  private static final long HUGE = DirectBuffers.hugePageSize();

  @Test
  void largeBuffersLieWithinOneHugePageEachAndShareThem() {
    assumeThat(HUGE).as("transparent huge pages").isPositive();
    BufferPool pool = new BufferPool(4 * MIB, 64L * MIB);
    Set<Long> pages = new HashSet<>();
    for (int i = 0; i < 16; i++) {
      ByteBuffer b = pool.acquire(256 * KIB);
      long at = MemorySegment.ofBuffer(b).address();
      assertThat(at % DirectBuffers.ALIGNMENT).isZero();
      assertThat((at + b.capacity() - 1) / HUGE).as("last byte's huge page").isEqualTo(at / HUGE);
      pages.add(at / HUGE);
    }
    assertThat(pages).as("huge pages under sixteen 256 KiB buffers").hasSize((int) (16 * 256L * KIB / HUGE));
    for (int i = 0; i < 4; i++) {
      ByteBuffer b = pool.acquire(MIB);
      long at = MemorySegment.ofBuffer(b).address();
      assertThat((at + b.capacity() - 1) / HUGE).isEqualTo(at / HUGE);
    }
  }

  @Test
  void slabsTakeHalfTheRetainedBytesAndOrdinaryBuffersBeyondTheOtherHalfAreFreed() {
    assumeThat(HUGE).as("transparent huge pages").isEqualTo(2L * MIB);
    BufferPool pool = new BufferPool(MIB, 4L * MIB);
    ByteBuffer[] taken = new ByteBuffer[5];
    for (int i = 0; i < taken.length; i++) {
      taken[i] = pool.acquire(MIB);
    }
    // The first two share the one huge page the slabs' half allows; the others are ordinary memory.
    assertThat(MemorySegment.ofBuffer(taken[1]).address() - MemorySegment.ofBuffer(taken[0]).address()).isEqualTo(MIB);
    for (ByteBuffer b : taken) {
      pool.release(b);
    }
    assertThatThrownBy(() -> taken[4].get(0)).as("freed: past the ordinary half").isInstanceOf(IllegalStateException.class);
    Set<ByteBuffer> again = Collections.newSetFromMap(new IdentityHashMap<>());
    for (int i = 0; i < taken.length; i++) {
      again.add(pool.acquire(MIB));
    }
    // By identity (equals would read the freed one's bytes).
    assertThat(new boolean[] {again.contains(taken[0]), again.contains(taken[1]), again.contains(taken[2]),
        again.contains(taken[3]), again.contains(taken[4])}).containsExactly(true, true, true, true, false);
  }

  @Test
  void slabsGrownByABurstLeaveRoomForSmallBuffers() {
    assumeThat(HUGE).as("transparent huge pages").isPositive();
    BufferPool pool = new BufferPool(MIB, 8L * MIB);
    ByteBuffer[] burst = new ByteBuffer[8];
    for (int round = 0; round < 2; round++) {
      for (int i = 0; i < burst.length; i++) {
        burst[i] = pool.acquire(MIB);
      }
      if (round == 0) {
        for (ByteBuffer b : burst) {
          pool.release(b);
        }
      }
    }
    ByteBuffer small = pool.acquire(4096);
    pool.release(small);
    assertThat(pool.acquire(4096)).as("a small buffer kept while the burst's buffers are out").isSameAs(small);
  }

  @Test
  void withoutHugePagesBuffersAreOrdinaryAndKeptWithinTheRetainedBytes() {
    BufferPool pool = new BufferPool(MIB, 2L * MIB, 0);
    ByteBuffer[] taken = new ByteBuffer[3];
    for (int i = 0; i < taken.length; i++) {
      taken[i] = pool.acquire(MIB);
      assertThat(taken[i].capacity()).isEqualTo(MIB);
      assertThat(taken[i].limit()).isEqualTo(MIB);
      taken[i].put(0, (byte) i);
    }
    for (ByteBuffer b : taken) {
      pool.release(b);
    }
    assertThatThrownBy(() -> taken[2].get(0)).isInstanceOf(IllegalStateException.class);
    assertThat(pool.acquire(100 * KIB)).isNotSameAs(taken[1]).matches(b -> b.limit() == 100 * KIB);
    assertThat(pool.acquire(MIB - 1)).isSameAs(taken[1]).matches(b -> b.limit() == MIB - 1 && b.position() == 0);
    assertThat(pool.acquire(MIB)).isSameAs(taken[0]);
  }
}
