package dev.vdisk.advisor.model;

/**
 * The disk settings the advisor can change, in a neutral vocabulary; each configuration syntax maps them to its own
 * spelling (libvirt's {@code <driver>} attributes, QEMU's {@code -drive} and {@code -blockdev} keys).
 */
public enum Setting {
  /** The image format (raw, qcow2...). */
  FORMAT("type", "format"),
  /** QEMU's cache mode name: writeback, writethrough, none, directsync, unsafe. */
  CACHE("cache", "cache"),
  /** threads, native or io_uring. */
  IO("io", "aio"),
  /** ignore or unmap. */
  DISCARD("discard", "discard"),
  /** off, on or unmap. */
  DETECT_ZEROES("detect_zeroes", "detect-zeroes"),
  /** Bytes of qcow2 L2 table cache. */
  L2_CACHE_SIZE(null, "l2-cache-size");

  private final String xmlAttribute;
  private final String driveKey;

  Setting(String xmlAttribute, String driveKey) {
    this.xmlAttribute = xmlAttribute;
    this.driveKey = driveKey;
  }

  /** The attribute of libvirt's {@code <driver>} element, or null where libvirt has none. */
  public String xmlAttribute() {
    return xmlAttribute;
  }

  /** The key of QEMU's {@code -drive} option. */
  public String driveKey() {
    return driveKey;
  }
}
