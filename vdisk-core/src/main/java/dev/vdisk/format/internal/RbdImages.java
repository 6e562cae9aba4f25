package dev.vdisk.format.internal;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.format.Backing;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.rbd.RbdDevice;
import dev.vdisk.io.rbd.RbdName;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Images on Ceph RBD, named as QEMU names them ({@code rbd:pool/image[@snap][:conf=PATH][:id=USER][:key=value]...},
 * see {@link RbdName}): the protocol-prefix hook that {@link Images#open} and {@link Images#create} consult before
 * treating a name as a local path, and {@link FileContext} for a backing file named {@code rbd:...}. The image's
 * format sits on an {@link RbdDevice} as it sits on a file; its backing chain may continue on RBD ({@link RbdContext}).
 */
public final class RbdImages {
  /** Bytes copied per request when a new image's metadata moves from its temporary file to RBD. */
  private static final int CHUNK = 1 << 20;

  private RbdImages() {}

  /** Whether {@code name} is an RBD image name rather than a local path: it starts with {@code rbd:}, as in QEMU. */
  public static boolean isRbd(String name) {
    return RbdName.isRbd(name);
  }

  /**
   * The commands that always make requests on the images they open (reads, writes, extent walks), so whose connection
   * made ahead also makes and calls librbd's callbacks ahead ({@link RbdDevice.Use#REQUESTS}); others (info, create,
   * snapshot, resize...) may make none, and would spend tens of milliseconds of CPU on them for nothing.
   */
  private static final Set<String> REQUESTS = Set.of("convert", "map", "compare", "dd", "io", "commit", "rebase");
  /** The commands that make requests by the thousand ({@link RbdDevice.Use#MANY_REQUESTS}). */
  private static final Set<String> MANY_REQUESTS = Set.of("bench", "serve");

  /**
   * Starts connecting to the cluster of the first {@code rbd:} name among a command line's {@code args}, on a daemon
   * thread, for the command's open or create of that image to take ({@link RbdDevice#connectAhead}); a name that does
   * not parse is left for the command to refuse. What the thread prepares beside follows the command ({@link #use}).
   */
  public static void connectAhead(String... args) {
    for (String arg : args) {
      if (isRbd(arg)) {
        try {
          RbdDevice.connectAhead(RbdName.parse(arg), use(args));
        } catch (IOException | RuntimeException e) {
          // the command reports it when it opens the name
        }
        return;
      }
    }
  }

  /** What the command of the command line {@code args} (its first argument that is not an option) does with its images. */
  static RbdDevice.Use use(String... args) {
    for (String arg : args) {
      if (!arg.startsWith("-")) {
        return MANY_REQUESTS.contains(arg) ? RbdDevice.Use.MANY_REQUESTS
            : REQUESTS.contains(arg) ? RbdDevice.Use.REQUESTS : RbdDevice.Use.OPEN;
      }
    }
    return RbdDevice.Use.OPEN;
  }

  /**
   * Opens the RBD image {@code name} as a full stack (format probed when {@code formatName} is null), with the
   * cache mode and read-only flag of {@code options} and its backing chain on RBD ({@link RbdContext}); image locks
   * are librbd's (exclusive-lock), not QEMU's.
   *
   * @param backing open the backing images (false: qemu-img info's open)
   */
  public static OpenImage open(String name, String formatName, FileOptions options, boolean backing) throws IOException {
    RbdName rbd = RbdName.parse(name);
    RbdDevice device = RbdDevice.open(rbd, options.cache(), options.readOnly());
    try {
      boolean readOnly = options.readOnly() || rbd.snapshot() != null;
      RbdContext context = new RbdContext(Path.of(rbd.toString()), readOnly, backing, options.cache(), 0);
      return Images.open(device, context, formatName, options.cache());
    } catch (IOException | RuntimeException e) {
      device.close();
      throw e;
    }
  }

  /** The RBD image {@code name} as a device, without a format on it (what {@code check} reads), opened with {@code options}. */
  public static RbdDevice device(String name, FileOptions options) throws IOException {
    return RbdDevice.open(RbdName.parse(name), options.cache(), options.readOnly());
  }

  /**
   * Opens the RBD image {@code name} as the backing image of an image (on RBD or in a local file), read-only and
   * guarded, with its own backing chain on RBD.
   *
   * @param format the format the overlay records, or empty to probe
   * @param depth how many images sit above it
   */
  static Backing openBacking(String name, Optional<String> format, CacheMode cache, int depth) throws IOException {
    RbdName rbd = RbdName.parse(name);
    RbdDevice device = RbdDevice.open(rbd, cache, true);
    try {
      ImageFormat fmt = format.isPresent() ? FormatRegistry.byName(format.get()) : Images.probe(device);
      BlockDevice image = fmt.open(device, new RbdContext(Path.of(rbd.toString()), true, true, cache, depth), format.isEmpty());
      return new Backing(name, Path.of(name), fmt.name(), format.isEmpty(), new CheckedDevice(image, true), null);
    } catch (IOException | RuntimeException e) {
      device.close();
      throw e;
    }
  }

  /**
   * Creates an image of {@code format} on the RBD image {@code name}, which must not exist, as {@code qemu-img
   * create -f FMT rbd:...} does: raw makes an RBD image of the size (rounded up to 512 bytes, as QEMU); another
   * format is created in a temporary local file (the same bytes as on a file) and its allocated ranges copied to a
   * new RBD image of that file's length, which grows as the format allocates.
   *
   * @throws IllegalArgumentException for options that name other files (data_file) or preallocation on RBD
   */
  public static void create(String name, ImageFormat format, long size, Map<String, String> options) throws IOException {
    RbdName rbd = RbdName.parse(name);
    if (options.containsKey("data_file") || options.containsKey("preallocation") && !options.get("preallocation").equals("off")) {
      throw new IllegalArgumentException("options for " + rbd + ": " + options.keySet()
          + " (expected: no data_file and no preallocation on an RBD image)");
    }
    if (format.name().equals("raw")) {
      format.checkOptionNames(options);
      RbdDevice.create(rbd, Math.ceilDiv(size, 512) * 512);
      return;
    }
    Path tmp = temporaryFile(format.name());
    try {
      format.create(tmp, size, options, true);
      try (FileDevice file = FileDevice.open(tmp, FileOptions.of(CacheMode.WRITEBACK, true))) {
        RbdDevice.create(rbd, file.size());
        try (RbdDevice device = RbdDevice.open(rbd, CacheMode.WRITEBACK, false)) {
          copyAllocated(file, device);
          device.flush();
        }
      }
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /**
   * A new empty file in the temporary folder. Not Files.createTempFile: its random name starts the JDK's security
   * providers for a SecureRandom (80 classes no start-up cache holds).
   */
  private static Path temporaryFile(String suffix) throws IOException {
    Path folder = Path.of(System.getProperty("java.io.tmpdir"));
    for (int attempt = 0; ; attempt++) {
      try {
        return Files.createFile(folder.resolve("vdisk-rbd-create-" + System.nanoTime() + "." + suffix));
      } catch (FileAlreadyExistsException e) {
        if (attempt == 9) {
          throw e;
        }
      }
    }
  }

  private static void copyAllocated(BlockDevice from, BlockDevice to) throws IOException {
    long size = from.size();
    for (long pos = 0; pos < size; ) {
      for (Extent e : from.extents(pos, size - pos)) {
        for (long at = e.offset(); e.data() && at < e.end(); at += CHUNK) {
          ByteBuffer buf = ByteBuffer.allocateDirect((int) Math.min(CHUNK, e.end() - at));
          from.read(at, buf);
          to.write(at, buf.flip(), Set.of());
        }
        pos = e.end();
      }
    }
  }
}
