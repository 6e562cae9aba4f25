package dev.vdisk.bench.matrix;

/**
 * The request streams of one matrix cell, in the order they run on one fresh image: the first writes must come
 * first (they measure allocation), the overwrites and reads then visit the same clusters.
 */
public enum Workload {
  FRESH_QD1("fresh-4k-qd1", "4 KiB first writes, random order, depth 1", 4096, 1, true),
  FRESH_QD16("fresh-4k-qd16", "4 KiB first writes, random order, depth 16", 4096, 16, true),
  OVERWRITE_QD16("overwrite-4k-qd16", "4 KiB overwrites of the same clusters, depth 16", 4096, 16, true),
  READ_QD16("read-4k-qd16", "4 KiB random reads of the written clusters, depth 16", 4096, 16, false),
  SEQ_WRITE_QD4("write-1m-qd4", "1 MiB sequential writes, depth 4", OffsetPlan.SEQUENTIAL_SIZE, 4, true),
  SEQ_READ_QD4("read-1m-qd4", "1 MiB sequential reads, depth 4", OffsetPlan.SEQUENTIAL_SIZE, 4, false);

  private final String key;
  private final String title;
  private final int requestSize;
  private final int depth;
  private final boolean write;

  Workload(String key, String title, int requestSize, int depth, boolean write) {
    this.key = key;
    this.title = title;
    this.requestSize = requestSize;
    this.depth = depth;
    this.write = write;
  }

  /** The name in JSON and on the command line. */
  public String key() {
    return key;
  }

  public String title() {
    return title;
  }

  public int requestSize() {
    return requestSize;
  }

  public int depth() {
    return depth;
  }

  public boolean write() {
    return write;
  }

  /** True for the 1 MiB workloads, reported in MB/s rather than IOPS. */
  public boolean sequential() {
    return requestSize == OffsetPlan.SEQUENTIAL_SIZE;
  }
}
