package dev.vdisk.format;

/**
 * What a consistency check found, with qemu-img check's counters ({@code BdrvCheckResult}). A check that could
 * not be completed throws instead of returning a result.
 *
 * @param checkErrors problems that kept parts of the image from being checked (a refcount that could not be read)
 * @param corruptions metadata errors: a refcount lower than the references to a cluster, broken table entries
 * @param leaks clusters whose refcount is higher than their references: wasted space, no harm to data
 * @param imageEndOffset where the last cluster in use (stored refcount or reference) ends, in bytes
 * @param totalClusters clusters of the virtual disk
 * @param allocatedClusters guest clusters the active L1 table allocates (data, preallocated zero, compressed)
 * @param fragmentedClusters allocated clusters not stored right after the previous one of their L2 table
 * @param compressedClusters compressed clusters of the active L1 table
 * @param corruptionsFixed corruptions a repair fixed (0 for a plain check)
 * @param leaksFixed leaked clusters a repair freed (0 for a plain check)
 */
public record CheckResult(long checkErrors, long corruptions, long leaks, long imageEndOffset, long totalClusters,
    long allocatedClusters, long fragmentedClusters, long compressedClusters, long corruptionsFixed, long leaksFixed) {

  /** The result of a check that repaired nothing. */
  public CheckResult(long checkErrors, long corruptions, long leaks, long imageEndOffset, long totalClusters,
      long allocatedClusters, long fragmentedClusters, long compressedClusters) {
    this(checkErrors, corruptions, leaks, imageEndOffset, totalClusters, allocatedClusters, fragmentedClusters,
        compressedClusters, 0, 0);
  }

  /** This result with a repair's fixed counters, as qemu-img reports them with the re-check after a repair. */
  public CheckResult withFixed(long corruptionsFixed, long leaksFixed) {
    return new CheckResult(checkErrors, corruptions, leaks, imageEndOffset, totalClusters, allocatedClusters,
        fragmentedClusters, compressedClusters, corruptionsFixed, leaksFixed);
  }

  /** True if the repair that produced this result changed the image. */
  public boolean repairedAnything() {
    return corruptionsFixed != 0 || leaksFixed != 0;
  }
}
