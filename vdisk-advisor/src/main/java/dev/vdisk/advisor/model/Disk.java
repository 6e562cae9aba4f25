package dev.vdisk.advisor.model;

import java.util.List;

/**
 * One guest disk as its configuration declares it. A null setting means the configuration leaves it to the
 * default (libvirt's "hypervisor default", QEMU's built-in default), which the rules explain per QEMU version.
 *
 * @param name the guest-visible name: libvirt's target dev (vda), or QEMU's drive/node id
 * @param device disk, cdrom, floppy or lun
 * @param kind where the bytes come from
 * @param path the host file or device; for network sources the protocol's name (pool/image), or null
 * @param protocol the network protocol (rbd, nbd, iscsi...), else null
 * @param format the declared image format, or null when not declared (probed by QEMU, raw for libvirt)
 * @param cache QEMU's cache mode name, or null
 * @param io threads, native or io_uring, or null
 * @param discard ignore or unmap, or null
 * @param detectZeroes off, on or unmap, or null
 * @param bus the guest-visible controller
 * @param readOnly the guest cannot write
 * @param l2CacheSize qcow2's l2-cache-size in bytes, or null
 * @param cacheSize qcow2's cache-size (L2 and refcount caches together) in bytes, or null
 * @param backing the backing chain below this image as declared, or null when not declared (QEMU or libvirt then
 *     reads it from the image); an empty list declares that there is none
 * @param sliceOffset where the guest disk starts in the file (libvirt's storage slice, raw's offset), or null
 * @param sliceSize how many bytes of the file the guest sees (slice size, raw's size), or null
 * @param site where these settings live in the text
 */
public record Disk(
    String name,
    String device,
    SourceKind kind,
    String path,
    String protocol,
    String format,
    String cache,
    String io,
    String discard,
    String detectZeroes,
    Bus bus,
    boolean readOnly,
    Long l2CacheSize,
    Long cacheSize,
    List<BackingLayer> backing,
    Long sliceOffset,
    Long sliceSize,
    DiskSite site) {

  /** True for a writable disk whose contents are an image (not a CD-ROM, not read-only). */
  public boolean writable() {
    return !readOnly && !device.equals("cdrom") && kind != SourceKind.NONE;
  }

  /** True for a local file or block device: one the advisor can probe. */
  public boolean local() {
    return kind == SourceKind.FILE || kind == SourceKind.BLOCK;
  }
}
