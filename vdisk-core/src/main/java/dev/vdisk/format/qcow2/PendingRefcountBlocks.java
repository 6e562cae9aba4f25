package dev.vdisk.format.qcow2;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The refcount structures of a new image, in its {@link PendingFile}: blocks and table are its clusters, changed in
 * place and recorded as written where QEMU writes them, so the file that results is qemu-img create's byte for byte.
 */
final class PendingRefcountBlocks implements RefcountBlocks {
  private final PendingFile file;

  PendingRefcountBlocks(PendingFile file) {
    this.file = file;
  }

  @Override
  public ByteBuffer load(long index, long offset) {
    return file.cluster(offset);
  }

  @Override
  public ByteBuffer fresh(long offset, boolean reserve) {
    ByteBuffer block = file.cluster(offset);
    Arrays.fill(block.array(), (byte) 0);
    changed(offset);
    return block;
  }

  @Override
  public void reserve(long offset, long length) {
    // The new image is written whole once it is complete: no space to take before.
  }

  @Override
  public void changed(long offset) {
    file.wrote(offset, file.clusterSize());
  }

  @Override
  public void entryChanged(long[] table, long tableOffset, long index) {
    long entryAt = tableOffset + index * 8;
    int cs = file.clusterSize();
    file.cluster(entryAt & -cs).putLong((int) (entryAt & (cs - 1)), table[(int) index]);
    file.wrote(entryAt, 8);
  }

  @Override
  public void tableMoved(long[] table, long tableOffset, long oldOffset, long oldBytes) {
    int cs = file.clusterSize();
    int perCluster = cs / 8;
    long clusters = Math.ceilDiv((long) table.length, perCluster);
    for (long i = 0; i < clusters; i++) {
      ByteBuffer c = file.cluster(tableOffset + i * cs);
      for (int k = 0; k < perCluster; k++) {
        c.putLong(k * 8, table[(int) (i * perCluster + k)]);
      }
    }
    file.wrote(tableOffset, clusters * cs);
  }

  @Override
  public boolean freesOldTableAtOnce() {
    return true;
  }

  @Override
  public void forget(long offset) {
    // The file keeps its clusters: nothing is cached apart from them.
  }
}
