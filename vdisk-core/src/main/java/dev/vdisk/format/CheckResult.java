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
 */
public record CheckResult(long checkErrors, long corruptions, long leaks, long imageEndOffset, long totalClusters,
    long allocatedClusters, long fragmentedClusters, long compressedClusters) {}
