package dev.vdisk.format.qcow2;

import dev.vdisk.format.FormatFacts;
import dev.vdisk.format.luks.LuksHeader;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/** What {@code qemu-img info} says of an open qcow2 image, from its header, extensions and snapshot table. */
final class Qcow2Facts {
  private Qcow2Facts() {}

  /** The image's facts. */
  static FormatFacts of(Qcow2Image q) throws IOException {
    Qcow2Header h = q.header();
    Optional<String> dataFile = q.hasFeature(Features.INCOMPAT_DATA_FILE) ? q.extensions().dataFile() : Optional.empty();
    long bitmaps = q.extensions().bitmaps().map(HeaderExtensions.Bitmaps::nbBitmaps).orElse(0L);
    return new FormatFacts(OptionalInt.of(h.clusterSize()), q.hasFeature(Features.INCOMPAT_DIRTY), q.backingName(),
        q.backingName().isPresent() ? q.extensions().backingFormat() : Optional.empty(), dataFile,
        q.snapshots(), bitmaps, h.cryptMethod() != 0, formatSpecific(q));
  }

  /**
   * The {@code data} of qemu-img info's {@code format-specific} object for a qcow2 image, with the keys in QEMU's
   * order: compat, compression-type, and for compat 1.1 lazy-refcounts, refcount-bits, data-file / data-file-raw
   * (with an external data file), corrupt, extended-l2; bitmaps (after lazy-refcounts, where QEMU's dictionary puts
   * them) when the image has trusted ones, each with flags, name and granularity; encrypt (after refcount-bits) for
   * a LUKS encrypted image.
   */
  private static Map<String, Object> formatSpecific(Qcow2Image q) throws IOException {
    Qcow2Header h = q.header();
    Map<String, Object> data = new LinkedHashMap<>();
    data.put("compat", h.version() == 2 ? "0.10" : "1.1");
    data.put("compression-type", h.compressionType() == 1 ? CompressionType.ZSTD.qemuName() : CompressionType.ZLIB.qemuName());
    if (h.version() >= 3) {
      data.put("lazy-refcounts", (h.compatibleFeatures() & Features.COMPAT_LAZY_REFCOUNTS) != 0);
      List<Map<String, Object>> bitmaps = new ArrayList<>();
      for (BitmapEntry b : q.bitmaps()) {
        List<String> flags = new ArrayList<>();
        if (b.inUse()) {
          flags.add("in-use");
        }
        if (b.auto()) {
          flags.add("auto");
        }
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("flags", flags);
        info.put("name", b.name());
        info.put("granularity", b.granularity());
        bitmaps.add(info);
      }
      if (!bitmaps.isEmpty()) {
        data.put("bitmaps", bitmaps);
      }
    }
    data.put("refcount-bits", h.refcountBits());
    Optional<LuksHeader> luks = Qcow2Encryption.header(new HostReader(q.file(), "image file"), q.extensions());
    luks.ifPresent(l -> data.put("encrypt", l.info()));
    if (h.version() >= 3) {
      q.extensions().dataFile().ifPresent(name -> data.put("data-file", name));
      if (q.hasFeature(Features.INCOMPAT_DATA_FILE)) {
        data.put("data-file-raw", (h.autoclearFeatures() & Features.AUTOCLEAR_DATA_FILE_RAW) != 0);
      }
      data.put("corrupt", q.hasFeature(Features.INCOMPAT_CORRUPT));
      data.put("extended-l2", q.hasFeature(Features.INCOMPAT_EXTENDED_L2));
    }
    return data;
  }
}
