package dev.vdisk.bench.matrix;

import java.util.Arrays;

/**
 * Where each workload of one matrix cell sends its requests, over an image of {@code imageSize} bytes cut into
 * {@code stride}-byte slots (the qcow2 cluster size, so each slot is one cluster).
 *
 * <p>The 4 KiB random workloads take the slots in a seeded random order ({@link Permutation}): the depth-1 first
 * writes take the first {@code freshQd1} slots of it, the depth-16 first writes the next {@code freshQd16}, so every
 * first write lands in a slot nobody wrote before and allocates it exactly once. The overwrites and the random
 * reads then visit the slots the first writes reached ({@link #revisit}: a run that spent its time budget wrote
 * only a prefix of each list), each in its own random order. The 1 MiB sequential workloads walk the image from
 * offset 0 in 1 MiB steps.
 *
 * @param freshQd1 offsets of the depth-1 first writes
 * @param freshQd16 offsets of the depth-16 first writes (none shared with {@code freshQd1})
 * @param sequential offsets of the 1 MiB sequential requests, in order
 * @param seed the seed of the random orders
 */
public record OffsetPlan(long[] freshQd1, long[] freshQd16, long[] sequential, long seed) {

  /** Bytes per sequential request. */
  public static final int SEQUENTIAL_SIZE = 1 << 20;

  /**
   * The plan for an image of {@code imageSize} bytes.
   *
   * @param stride bytes per slot, a multiple of 4 KiB, at most {@code imageSize}
   * @param freshQd1 slots for the depth-1 first writes; with {@code freshQd16} at most the number of slots
   * @param seed the random order's seed
   * @throws IllegalArgumentException for a combination that does not fit the image
   */
  public static OffsetPlan of(long imageSize, int stride, int freshQd1, int freshQd16, long seed) {
    if (stride < 4096 || stride % 4096 != 0 || stride > imageSize) {
      throw new IllegalArgumentException("slot size " + stride + " for an image of " + imageSize
          + " bytes (expected: a multiple of 4096, at most the image size)");
    }
    long slots = imageSize / stride;
    if (slots > Integer.MAX_VALUE || freshQd1 < 0 || freshQd16 < 0 || (long) freshQd1 + freshQd16 > slots) {
      throw new IllegalArgumentException(freshQd1 + " + " + freshQd16 + " first writes into " + slots
          + " slots (expected: at most one first write per slot)");
    }
    int[] order = Permutation.of((int) slots, seed);
    long[] qd1 = offsets(Arrays.copyOfRange(order, 0, freshQd1), stride);
    long[] qd16 = offsets(Arrays.copyOfRange(order, freshQd1, freshQd1 + freshQd16), stride);
    long[] sequential = new long[(int) (imageSize / SEQUENTIAL_SIZE)];
    for (int i = 0; i < sequential.length; i++) {
      sequential[i] = (long) i * SEQUENTIAL_SIZE;
    }
    return new OffsetPlan(qd1, qd16, sequential, seed);
  }

  /**
   * The offsets the first writes reached, the first {@code doneQd1} of {@link #freshQd1} and the first
   * {@code doneQd16} of {@link #freshQd16}, in a random order of their own: {@code pass} 1 for the overwrites, 2 for
   * the reads.
   */
  public long[] revisit(long doneQd1, long doneQd16, int pass) {
    int n1 = (int) Math.min(doneQd1, freshQd1.length);
    int n16 = (int) Math.min(doneQd16, freshQd16.length);
    long[] written = new long[n1 + n16];
    System.arraycopy(freshQd1, 0, written, 0, n1);
    System.arraycopy(freshQd16, 0, written, n1, n16);
    int[] order = Permutation.of(written.length, seed + pass);
    long[] out = new long[written.length];
    for (int i = 0; i < written.length; i++) {
      out[i] = written[order[i]];
    }
    return out;
  }

  private static long[] offsets(int[] slots, int stride) {
    long[] out = new long[slots.length];
    for (int i = 0; i < slots.length; i++) {
      out[i] = (long) slots[i] * stride;
    }
    return out;
  }
}
