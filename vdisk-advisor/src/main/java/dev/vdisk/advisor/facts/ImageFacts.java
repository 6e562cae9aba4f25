package dev.vdisk.advisor.facts;

import java.util.List;

/**
 * What an image file says about itself, read with {@code --probe-images} (read-only, force-share).
 *
 * @param path the file opened
 * @param error why it could not be opened (missing, unreadable, malformed), else null; then the rest is unknown
 * @param format the format found by probing its first bytes
 * @param virtualSize the guest-visible size in bytes
 * @param fileAllocated bytes the host file system has allocated for the file (-1 for block devices)
 * @param fileSize the host file's length
 * @param mappedFraction the part of the virtual size the image itself maps (qcow2: clusters with an L2 entry, zero
 *     clusters included; raw: data extents), 0 to 1
 * @param clusterSize qcow2's cluster size, else 0
 * @param extendedL2 qcow2 with extended L2 entries
 * @param lazyRefcounts qcow2 with lazy_refcounts=on
 * @param backingChain the backing images below it as the image records them, top first (file names as resolved)
 * @param fsType the host file system's type (ext4, xfs, tmpfs...), or "unknown"
 * @param directIo whether the file system accepted an O_DIRECT open of the file
 * @param encrypted a LUKS encrypted qcow2 (its facts read without the key, as qemu-img info reads them)
 */
public record ImageFacts(
    String path,
    String error,
    String format,
    long virtualSize,
    long fileAllocated,
    long fileSize,
    double mappedFraction,
    int clusterSize,
    boolean extendedL2,
    boolean lazyRefcounts,
    List<String> backingChain,
    String fsType,
    boolean directIo,
    boolean encrypted) {

  /** Facts of an image that is not encrypted. */
  public ImageFacts(String path, String error, String format, long virtualSize, long fileAllocated, long fileSize,
      double mappedFraction, int clusterSize, boolean extendedL2, boolean lazyRefcounts, List<String> backingChain,
      String fsType, boolean directIo) {
    this(path, error, format, virtualSize, fileAllocated, fileSize, mappedFraction, clusterSize, extendedL2,
        lazyRefcounts, backingChain, fsType, directIo, false);
  }

  /** Facts for an image that could not be read. */
  public static ImageFacts unreadable(String path, String error) {
    return new ImageFacts(path, error, null, 0, -1, 0, 0, 0, false, false, List.of(), "unknown", false);
  }

  /**
   * {@code qemu-img convert} of this image into a new qcow2 image NEW with the output options {@code options}. An
   * encrypted image is named with its key's secret (qemu-img opens none without it), and its copy is encrypted too
   * (without the encrypt options qemu-img writes the copy in plaintext).
   */
  public String convertCommand(String options) {
    return encrypted
        ? "qemu-img convert " + keyedSource() + " -O qcow2 -o encrypt.format=luks,encrypt.key-secret=sec0," + options
            + " NEW" + KEYFILE
        : "qemu-img convert -O qcow2 -o " + options + " " + path + " NEW";
  }

  /** {@code qemu-img amend -o options} of this image (named with its key's secret if it is encrypted). */
  public String amendCommand(String options) {
    return encrypted ? "qemu-img amend " + keyedSource() + " -o " + options + KEYFILE
        : "qemu-img amend -o " + options + " " + path;
  }

  private static final String KEYFILE = " (KEYFILE holds the passphrase: the value of the disk's libvirt secret)";

  private String keyedSource() {
    return "--object secret,id=sec0,file=KEYFILE --image-opts driver=qcow2,file.filename=" + path
        + ",encrypt.key-secret=sec0";
  }

  /** True if the image opened. */
  public boolean readable() {
    return error == null;
  }

  /** A raw file with every byte of its virtual size allocated on the host. */
  public boolean rawFullyAllocated() {
    return "raw".equals(format) && fileAllocated >= 0 && fileAllocated >= virtualSize;
  }

  /** A raw file with holes: part of its virtual size is not allocated on the host. */
  public boolean rawSparse() {
    return "raw".equals(format) && fileAllocated >= 0 && fileAllocated < virtualSize;
  }
}
