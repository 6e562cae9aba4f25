package dev.vdisk.cli;

import dev.vdisk.Image;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.block.filter.DetectZeroesFilter;
import dev.vdisk.format.internal.OptionString;
import dev.vdisk.format.internal.RbdImages;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.ImageUser;
import dev.vdisk.nbd.server.DiscardMode;
import dev.vdisk.nbd.server.EventLog;
import dev.vdisk.nbd.server.Export;
import dev.vdisk.nbd.server.ExportBitmap;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * One {@code --export name=NAME,file=PATH[,format=FMT][,cache=MODE][,read-only][,discard=unmap|ignore]
 * [,detect-zeroes=off|on|unmap][,description=TEXT][,bitmap=NAME][,allocation-depth]} of {@code vdisk serve}
 * ({@code ,,} is a literal comma); {@code bitmap} offers a qcow2 image's persistent dirty bitmap as
 * {@code qemu:dirty-bitmap:NAME}, {@code allocation-depth} the {@code qemu:allocation-depth} context (qemu-nbd's
 * {@code -A}; off by default, as there). {@code detect-zeroes=unmap} needs {@code discard=unmap}, as in QEMU.
 * {@code offset} is qemu-nbd's {@code -o} (short form only): the export starts there in the image ({@link OffsetView}).
 * {@code aio} is QEMU's {@code aio=} ({@code --aio} in the short form): threads, native or io_uring.
 * {@code encrypt.key-secret=ID} (QEMU's qcow2 option, as {@code --image-opts} spells it) names the {@code --object
 * secret} holding a LUKS encrypted qcow2 image's password; such an image is served read-only only.
 *
 * @param keySecret the id of the secret holding the image's password, or null
 */
record ExportSpec(String name, String file, String format, CacheMode cache, boolean readOnly, DiscardMode discard,
    String description, DetectZeroesFilter.Mode detectZeroes, String bitmap, boolean allocationDepth, long offset,
    Aio aio, String keySecret) {
  ExportSpec {
    if (detectZeroes == DetectZeroesFilter.Mode.UNMAP && discard != DiscardMode.UNMAP) {
      throw new CliException("detect-zeroes=unmap: needs discard=unmap (expected: discard=unmap, or detect-zeroes=on)");
    }
  }

  /** An export of an image without a key. */
  ExportSpec(String name, String file, String format, CacheMode cache, boolean readOnly, DiscardMode discard,
      String description, DetectZeroesFilter.Mode detectZeroes, String bitmap, boolean allocationDepth, long offset,
      Aio aio) {
    this(name, file, format, cache, readOnly, discard, description, detectZeroes, bitmap, allocationDepth, offset, aio,
        null);
  }

  /** An export without a dirty bitmap or allocation depth. */
  ExportSpec(String name, String file, String format, CacheMode cache, boolean readOnly, DiscardMode discard,
      String description, DetectZeroesFilter.Mode detectZeroes) {
    this(name, file, format, cache, readOnly, discard, description, detectZeroes, null, false, 0, Aio.THREADS);
  }

  /** This export, offering {@code qemu:allocation-depth} too. */
  ExportSpec withAllocationDepth() {
    return new ExportSpec(name, file, format, cache, readOnly, discard, description, detectZeroes, bitmap, true, offset, aio,
        keySecret);
  }

  /** An export without zero detection. */
  ExportSpec(String name, String file, String format, CacheMode cache, boolean readOnly, DiscardMode discard, String description) {
    this(name, file, format, cache, readOnly, discard, description, DetectZeroesFilter.Mode.OFF);
  }

  private static final String KEY_SECRET = "encrypt.key-secret";
  private static final Set<String> KEYS = Set.of("name", "file", "format", "cache", "read-only", "discard", "detect-zeroes", "description",
      "bitmap", "allocation-depth", "aio", KEY_SECRET);

  /** Parses one {@code --export} value; a bare {@code read-only} or {@code allocation-depth} means {@code =on}. */
  static ExportSpec parse(String text) {
    Map<String, String> kv;
    try {
      kv = OptionString.parse(withSwitchValues(text));
    } catch (IllegalArgumentException e) {
      throw new CliException("--export: " + e.getMessage());
    }
    for (String k : kv.keySet()) {
      if (!KEYS.contains(k)) {
        throw new CliException("--export: unknown key '" + k + "' (expected: one of name, file, format, cache, read-only, discard, detect-zeroes, description, bitmap, allocation-depth, aio, "
            + KEY_SECRET + ")");
      }
    }
    String file = kv.get("file");
    if (file == null || file.isEmpty()) {
      throw new CliException("--export: '" + text + "' has no file= (expected: name=NAME,file=PATH[,...])");
    }
    CacheMode cache = CacheMode.parse(kv.getOrDefault("cache", "writeback"));
    return new ExportSpec(kv.getOrDefault("name", ""), file, kv.get("format"),
        cache, onOff("read-only", kv.getOrDefault("read-only", "off")),
        DiscardMode.parse(kv.getOrDefault("discard", "ignore")), kv.getOrDefault("description", ""),
        DetectZeroesFilter.Mode.parse(kv.getOrDefault("detect-zeroes", "off")), kv.get("bitmap"),
        onOff("allocation-depth", kv.getOrDefault("allocation-depth", "off")), 0, AioOption.parseServe("aio", kv.get("aio"), cache),
        kv.get(KEY_SECRET));
  }

  /** {@code text} with bare {@code read-only} and {@code allocation-depth} entries written {@code KEY=on} ({@code ,,} stays a literal comma). */
  private static String withSwitchValues(String text) {
    StringBuilder out = new StringBuilder(text.length() + 3);
    int start = 0;
    for (int i = 0; i <= text.length(); i++) {
      if (i < text.length() && text.charAt(i) == ',' && i + 1 < text.length() && text.charAt(i + 1) == ',') {
        i++; // an escaped comma inside an entry
      } else if (i == text.length() || text.charAt(i) == ',') {
        String entry = text.substring(start, i);
        out.append(entry.equals("read-only") || entry.equals("allocation-depth") ? entry + "=on" : entry);
        if (i < text.length()) {
          out.append(',');
        }
        start = i + 1;
      }
    }
    return out.toString();
  }

  private static boolean onOff(String key, String v) {
    return switch (v) {
      case "on", "true", "yes" -> true;
      case "off", "false", "no" -> false;
      default -> throw new CliException("--export: " + key + "=" + v + " (expected: on or off)");
    };
  }

  /** {@code image} from {@link #offset} on, under a new guard; refused where lookups below would miss the shift. */
  private CheckedDevice offsetView(Image image) throws IOException {
    if (bitmap != null) {
      throw new CliException("-o/--offset: given with -B (expected: one of them; a bitmap with an offset is not built yet)");
    }
    if (image.chain().layers().size() > 1) {
      throw new CliException("-o/--offset: " + file + " has a backing file (expected: an image without one; not built yet)");
    }
    return new CheckedDevice(new OffsetView(image.unwrap().unwrap(), offset), image.capabilities().readOnly());
  }

  /**
   * Whether the export's writes complete in the host's page cache ({@link Export#pageCacheWrites}): under a cache
   * mode that is neither direct nor writethrough. An opened export on RBD may not be one ({@link #pageCacheWrites(
   * CheckedDevice)}).
   */
  boolean pageCacheWrites() {
    return !cache.direct() && !cache.writethrough();
  }

  /**
   * {@link #pageCacheWrites()} of the opened export {@code device}: false for an image on RBD whose stack has an
   * asynchronous queue (raw or qcow2), whatever the cache mode, so that the connection's queue thread
   * keeps its aligned reads and writes in flight at librbd and reaps their completions several per wake-up
   * (DirectQueue over RbdQueue, as qemu-nbd's one loop does), rather than the reader running each write and waiting
   * for librbd's callback thread to wake it. 4 KiB writes at depth 16 served to qemu-img bench (counts of the whole
   * server, 22,000 minus 2,000 requests, nine alternating runs under load, 2026-12-05): 0.60-0.88 against 1.8-2.3
   * context switches per request, 19-22 against 20-30 us of CPU (qemu-nbd 1.4-2.0 and 26-36), the OSD's CPU the
   * same, the client's 4-7 us either way. Running the requests on the
   * connection's workers instead cost more CPU per write than either (56-69 against 36 us, 2026-12-04).
   */
  boolean pageCacheWrites(CheckedDevice device) throws IOException {
    if (!pageCacheWrites() || !RbdImages.isRbd(file)) {
      return pageCacheWrites();
    }
    try (RequestQueue queue = device.queue(1)) {
      return queue == null;
    }
  }

  /**
   * Opens one export's image. With zero detection, the filter goes between the guard and the rest of the
   * stack (where QEMU applies it: on the format node), so the guard still validates every request first.
   */
  Export open(EventLog log, PrintWriter err) throws IOException {
    return open(log, err, Map.of());
  }

  /** {@link #open(EventLog, PrintWriter)}, the image's password (if {@link #keySecret}) taken from {@code secrets} by id. */
  Export open(EventLog log, PrintWriter err, Map<String, byte[]> secrets) throws IOException {
    ImageOptions options = new ImageOptions();
    options.format = format;
    options.secrets = secrets;
    options.keySecret = keySecret;
    Image image = options.open(file, cache, aio, readOnly, ImageUser.EXPORT, err);
    // The export serves the image's guard (or a guard over filters put beneath it), which closes the whole stack.
    CheckedDevice device;
    try {
      device = offset == 0 ? image.unwrap() : offsetView(image);
    } catch (IOException | RuntimeException e) {
      image.close();
      throw e;
    }
    device = detectZeroes == DetectZeroesFilter.Mode.OFF || device.capabilities().readOnly()
        ? device
        : new CheckedDevice(DetectZeroesFilter.wrap(device.unwrap(), detectZeroes), false);
    ExportBitmap exported = null;
    boolean pageCache;
    try {
      pageCache = pageCacheWrites(device);
    } catch (IOException | RuntimeException e) {
      device.close();
      throw e;
    }
    if (bitmap != null) {
      try {
        if (!image.format().equals("qcow2")) {
          throw new CliException("Bitmap '" + bitmap + "' is not found");
        }
        exported = new ExportBitmap(bitmap, image.bitmapRuns(bitmap)::runs);
      } catch (IOException | RuntimeException e) {
        device.close();
        throw e;
      }
    }
    log.info("export", "export", name, "file", file, "format", image.format(), "cache", cache,
        "read-only", device.capabilities().readOnly(), "discard", discard.name().toLowerCase(Locale.ROOT),
        "detect-zeroes", detectZeroes.name().toLowerCase(Locale.ROOT), "size", device.size(), "stack", device);
    return new Export(name, description, device, discard, pageCache, exported, allocationDepth);
  }
}
