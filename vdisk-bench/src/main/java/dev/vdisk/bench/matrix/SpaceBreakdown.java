package dev.vdisk.bench.matrix;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.format.FormatImage;
import dev.vdisk.io.FileDevice;
import java.io.IOException;
import java.util.List;

/**
 * Where an image's bytes are: guest data, storage that reads as zeroes, format metadata, file space nothing uses,
 * and the guest range that has no storage at all; with the host file's size and the bytes it really occupies.
 *
 * <p>For qcow2, data and zero come from the guest's allocation map (clusters with a host place, counted in whole
 * clusters), the metadata is every cluster the image references ({@link FormatImage#referencedBytes}) that is
 * not one of those, and unused is the rest of the file. Compressed clusters count as data clusters. For raw,
 * data is what the file's allocation map (SEEK_DATA) calls data, holes are unallocated, and there is no
 * metadata.
 *
 * @param format {@code raw} or {@code qcow2}
 * @param clusterSize qcow2's cluster size; 0 for raw
 */
@JsonPropertyOrder({"format", "virtual-size", "file-size", "allocated-bytes", "cluster-size", "metadata", "data",
    "zero", "unused", "unallocated"})
public record SpaceBreakdown(
    @JsonProperty("format") String format,
    @JsonProperty("virtual-size") long virtualSize,
    @JsonProperty("file-size") long fileSize,
    @JsonProperty("allocated-bytes") long allocatedBytes,
    @JsonProperty("cluster-size") int clusterSize,
    @JsonProperty("metadata") long metadata,
    @JsonProperty("data") long data,
    @JsonProperty("zero") long zero,
    @JsonProperty("unused") long unused,
    @JsonProperty("unallocated") long unallocated) {

  /**
   * The breakdown of the image {@code image}, stored in {@code file} (the image's own file, open; for qcow2 its
   * metadata must be on disk, so flush the image first).
   */
  public static SpaceBreakdown of(BlockDevice image, FileDevice file) throws IOException {
    long size = image.size();
    long data = 0;
    long zero = 0;
    FormatImage format = FilterDevice.find(image, FormatImage.class);
    boolean qcow2 = format != null && format.format().name().equals("qcow2");
    int cluster = format == null ? 0 : format.facts().clusterSize().orElse(0);
    for (long pos = 0; pos < size; ) {
      List<Extent> extents = image.extents(pos, size - pos);
      for (Extent e : extents) {
        if (e.data()) {
          data += e.length();
        } else if (qcow2 && e.zero() && e.hostOffset() != Extent.NO_OFFSET) {
          zero += e.length();
        }
        pos = e.end();
      }
    }
    long fileSize = file.size();
    if (!qcow2) {
      return new SpaceBreakdown("raw", size, fileSize, file.allocatedBytes(), 0, 0, data, 0, 0, size - data);
    }
    long dataBytes = roundUp(data, cluster);
    long zeroBytes = roundUp(zero, cluster);
    long referenced = format.referencedBytes().orElseThrow();
    long metadata = Math.max(0, referenced - dataBytes - zeroBytes);
    long unused = Math.max(0, roundUp(fileSize, cluster) - referenced);
    return new SpaceBreakdown("qcow2", size, fileSize, file.allocatedBytes(), cluster, metadata, dataBytes, zeroBytes,
        unused, Math.max(0, size - data - zero));
  }

  private static long roundUp(long n, int unit) {
    return Math.ceilDiv(n, unit) * unit;
  }
}
