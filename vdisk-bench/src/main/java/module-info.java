/** vdisk-bench: workloads on any {@link dev.vdisk.block.BlockDevice}, latency recording, and the matrix report. */
module dev.vdisk.bench {
  requires transitive dev.vdisk.core;
  requires com.fasterxml.jackson.databind;
  // Results carry HdrHistogram's histograms.
  requires transitive HdrHistogram;

  exports dev.vdisk.bench;
  exports dev.vdisk.bench.matrix;

  // Jackson writes the matrix report's records.
  opens dev.vdisk.bench.matrix to com.fasterxml.jackson.databind;
}
