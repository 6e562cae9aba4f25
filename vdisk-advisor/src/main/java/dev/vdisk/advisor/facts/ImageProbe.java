package dev.vdisk.advisor.facts;

import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.Extent;
import dev.vdisk.format.ImageInfo;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Reads an image's facts the way {@code qemu-img info -U} would: read-only with force-share, so it never takes a
 * write lock and works while a VM runs. The format is probed from the image's bytes (that is the point: it is
 * compared with what the configuration declares).
 */
public final class ImageProbe {
  private static final FileOptions DIRECT_SHARED = new FileOptions(CacheMode.NONE, true, true, true);
  /** QEMU's limit on a backing chain's length, which the facts-only walk of an encrypted image's chain keeps too. */
  private static final int MAX_CHAIN = 64;

  private ImageProbe() {}

  /** The facts of the image at {@code path}; a file that cannot be opened gives {@link ImageFacts#unreadable}. */
  public static ImageFacts probe(Path path) {
    if (!Files.exists(path)) {
      return ImageFacts.unreadable(path.toString(), "no such file");
    }
    try (Image image = Vdisk.open(path, OpenOptions.builder().readOnly(true).forceShare(true).build())) {
      ImageInfo info = image.chain().layers().getFirst().info();
      List<String> chain = image.chain().layers().stream().skip(1).map(l -> l.name().toString()).toList();
      return facts(path, image, info, chain, false);
    } catch (NoSuchFileException e) {
      return ImageFacts.unreadable(path.toString(), "no such file: " + e.getFile());
    } catch (IOException | RuntimeException e) {
      ImageFacts encrypted = encryptedFacts(path);
      return encrypted != null ? encrypted
          : ImageFacts.unreadable(path.toString(), e.getMessage() == null ? e.toString() : e.getMessage());
    }
  }

  /**
   * The facts of an encrypted image, which opens only with its key (libvirt holds it in a secret the advisor does
   * not have): read as qemu-img info reads them, without the key, each image of the chain opened for its facts only;
   * null if {@code path} is not an encrypted image or cannot be read that way either.
   */
  private static ImageFacts encryptedFacts(Path path) {
    OpenOptions factsOnly = OpenOptions.builder().readOnly(true).forceShare(true).backing(false).build();
    try (Image image = Vdisk.open(path, factsOnly)) {
      ImageInfo info = image.chain().layers().getFirst().info();
      if (!info.encrypted()) {
        return null;
      }
      return facts(path, image, info, backingChain(path, info, factsOnly), true);
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** The facts of {@code image}, opened from {@code path}, whose top layer says {@code info}. */
  private static ImageFacts facts(Path path, Image image, ImageInfo info, List<String> chain, boolean encrypted)
      throws IOException {
    long size = image.size();
    FileDevice file = image.file().orElseThrow();
    long allocated = file.isBlockDevice() ? -1 : file.allocatedBytes();
    Map<String, Object> specific = info.formatSpecific();
    double mapped = info.format().equals("qcow2") ? mappedFraction(image, size, encrypted)
        : size == 0 || allocated < 0 ? 1 : Math.min(1.0, (double) allocated / size);
    return new ImageFacts(path.toString(), null, image.format(), size, allocated, file.size(), mapped,
        info.clusterSize().orElse(0), Boolean.TRUE.equals(specific.get("extended-l2")),
        Boolean.TRUE.equals(specific.get("lazy-refcounts")), chain, fileSystemType(path), acceptsDirectIo(path),
        encrypted);
  }

  /** The backing files below an image opened for its facts, each named as QEMU combines a relative name. */
  private static List<String> backingChain(Path path, ImageInfo top, OpenOptions factsOnly) throws IOException {
    List<String> chain = new ArrayList<>();
    Path at = path;
    for (ImageInfo info = top; info.backingFilename().isPresent() && chain.size() < MAX_CHAIN; ) {
      Path parent = at.toAbsolutePath().getParent();
      at = parent.resolve(info.backingFilename().get()).normalize();
      chain.add(at.toString());
      try (Image backing = Vdisk.open(at, factsOnly)) {
        info = backing.chain().layers().getFirst().info();
      }
    }
    return chain;
  }

  /**
   * The part of the disk whose clusters have a place in the file (allocated data, or preallocated zeroes); in an
   * {@code encrypted} image, whose data clusters report no host offset, its data clusters too.
   */
  private static double mappedFraction(BlockDevice device, long size, boolean encrypted) throws IOException {
    if (size == 0) {
      return 1;
    }
    long mapped = 0;
    for (long at = 0; at < size; ) {
      List<Extent> extents = device.extents(at, size - at);
      for (Extent e : extents) {
        if (e.hostOffset() != Extent.NO_OFFSET || (encrypted && e.data())) {
          mapped += e.length();
        }
        at = e.end();
      }
    }
    return (double) mapped / size;
  }

  /** The type of the file system holding {@code path} (the JDK reads it from the kernel's mount table). */
  static String fileSystemType(Path path) {
    try {
      return Files.getFileStore(path).type();
    } catch (IOException e) {
      return "unknown";
    }
  }

  /** True if the file system lets the file be opened with O_DIRECT (tmpfs refused it before Linux 6.6). */
  static boolean acceptsDirectIo(Path path) {
    try (FileDevice ignored = FileDevice.open(path, DIRECT_SHARED)) {
      return true;
    } catch (BlockDeviceException e) {
      return e.error() != BlockError.ENOTSUP && e.error() != BlockError.EINVAL;
    } catch (IOException e) {
      return true; // another failure, reported by the main probe; not evidence against O_DIRECT
    }
  }
}
