package dev.vdisk.format.qcow2;

import static dev.vdisk.format.qcow2.Qcow2Errors.invalid;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.Backing;
import dev.vdisk.format.CheckResult;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.Repair;
import dev.vdisk.format.Snapshot;
import dev.vdisk.format.luks.LuksHeader;
import dev.vdisk.format.luks.SectorCipher;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.BiFunction;

/**
 * Opens a qcow2 image: header, extensions and feature bits, then the tables in an order that lets each be
 * checked against those before it (refcount table, snapshot table, L1 table and the L2 tables it names), then
 * the external data file and the backing chain. Nothing is allocated from a header value before that value is
 * bounded.
 */
final class Qcow2Opener {
  /**
   * The logger, looked up when there is something to say: the first {@code System.getLogger} searches the class path
   * for a logger service (opening and indexing the jar) and starts java.util.logging, which a command that logs
   * nothing should not pay for.
   */
  private static System.Logger log() {
    return System.getLogger(Qcow2Opener.class.getName());
  }

  private Qcow2Opener() {}

  /**
   * Opens the image whose bytes are {@code file} (any device) in {@code context}, which names it and opens its data
   * file and backing image; on success the image owns {@code file}, on failure the caller still does.
   */
  static Qcow2Image open(BlockDevice file, ImageContext context, Qcow2Format format) throws IOException {
    Path path = context.name();
    long l2CacheSize = format.l2CacheSize();
    HostReader image = new HostReader(file, "image file");
    ImageHead head = ImageHead.read(image);
    if (!context.readOnly() && (head.header().incompatibleFeatures() & Features.INCOMPAT_DIRTY) != 0
        && (head.header().incompatibleFeatures() & Features.INCOMPAT_CORRUPT) == 0) {
      repairDirty(file, path);
      head = ImageHead.read(image);
    }
    ByteBuffer first = head.firstCluster();
    Qcow2Header header = head.header();
    HeaderExtensions ext = head.extensions();
    Geometry geometry = head.geometry();
    Optional<String> backingName = header.hasBackingFile()
        ? Optional.of(string(first, (int) header.backingFileOffset(), (int) header.backingFileSize()))
        : Optional.empty();
    boolean dataFile = checkDataFile(header, ext, backingName);
    Optional<LuksHeader> luks = Qcow2Encryption.header(image, ext);
    SectorCipher cipher = luks.isPresent()
        ? Qcow2Encryption.cipher(luks.get(), image, ext.cryptoHeader().orElseThrow(), context) : null;
    if ((header.incompatibleFeatures() & Features.INCOMPAT_CORRUPT) != 0) {
      log().log(System.Logger.Level.WARNING, "qcow2: {0} is marked corrupt; reading it anyway, writes are refused", path);
    }

    Layout layout = new Layout(image.size(), header.clusterSize());
    // Read-only, a table past the end of a file cut short reads as zeroes, as QEMU reads it (qemu-img info works).
    long refcountTableBytes = header.refcountTableClusters() << header.clusterBits();
    layout.claim("refcount table", header.refcountTableOffset(), context.readOnly()
        ? layout.insideFile(header.refcountTableOffset(), refcountTableBytes) : refcountTableBytes);
    List<Snapshot> snapshots = SnapshotTable.read(image, header, layout);
    L1Table l1 = L1Table.read(image, header, geometry, layout, context.readOnly());
    L2Cache cache = new L2Cache(l2CacheSize, header.clusterSize(), offset -> loadL2(image, offset, geometry));
    ClusterMapper mapper = new ClusterMapper(geometry, l1, cache, new L2Entry.Decoder(geometry, header.version(), dataFile));

    List<Closeable> resources = new ArrayList<>();
    try {
      HostReader data = cipher == null ? image : new HostReader(file, "image file", cipher);
      BlockDevice dataDevice = file;
      if (dataFile) {
        BlockDevice df = context.openDataFile(ext.dataFile().orElseThrow());
        resources.add(df);
        data = new HostReader(df, "data file", cipher);
        dataDevice = df;
      }
      Optional<Backing> backing = Optional.empty();
      if (backingName.isPresent()) {
        backing = context.openBacking(backingName.get(), ext.backingFormat());
        backing.ifPresent(b -> resources.add(b.device()));
      }
      BiFunction<Qcow2Writer.GuestReader, Qcow2Writer.ZeroStatus, Qcow2Writer> writer = null;
      PersistentBitmaps bitmaps = null;
      if (!context.readOnly()) {
        checkWritable(header);
        bitmaps = PersistentBitmaps.load(file, image, header, ext);
        clearAutoclearFeatures(file, header, bitmaps != null && bitmaps.trusted());
        if (bitmaps != null) {
          bitmaps.markInUse();
        }
        // QEMU's default refcount block cache is a quarter of its L2 cache.
        int blocks = (int) Math.min(Integer.MAX_VALUE, l2CacheSize / 4 / header.clusterSize());
        RefcountStore refcounts = new RefcountStore(file, header, RefcountTable.read(image, header), blocks);
        refcounts.guard(MetadataOverlap.of(image, header, l1,
            bitmaps == null ? Optional.empty() : bitmaps.directoryAtOpen()));
        boolean hasBacking = backing.isPresent();
        if (cipher != null && dataFile) {
          throw Qcow2Errors.unsupported("writing", "a LUKS encrypted image with an external data file",
              "an encrypted image that keeps its data clusters in the image file, or a read-only open");
        }
        BlockDevice store = cipher == null ? dataDevice : new EncryptingDevice(dataDevice, cipher);
        boolean raw = (header.autoclearFeatures() & Features.AUTOCLEAR_DATA_FILE_RAW) != 0;
        DirtyBit lazy = (header.compatibleFeatures() & Features.COMPAT_LAZY_REFCOUNTS) != 0 && header.version() >= 3
            ? new DirtyBit(file, header.incompatibleFeatures()) : null;
        writer = (current, zeroes) -> new Qcow2Writer(file, store, raw, geometry, l1, cache, refcounts,
            header.version(), header.size(), hasBacking, current, zeroes, lazy);
      }
      resources.add(file);
      return new Qcow2Image(format, file, header, ext, geometry, mapper, data, backingName, backing, snapshots, resources,
          writer, bitmaps);
    } catch (IOException | RuntimeException e) {
      for (Closeable c : resources) {
        if (c != file) {
          try {
            c.close();
          } catch (IOException suppressed) {
            e.addSuppressed(suppressed);
          }
        }
      }
      throw e;
    }
  }

  /**
   * Repairs an image whose dirty bit says its refcounts may be behind (lazy refcounts, not closed cleanly) before
   * it is written, as QEMU's open does ({@code qemu-img check -r all}'s repair, problems logged); the repair clears
   * the bit unless corruptions remain, which {@link #checkWritable} then refuses.
   */
  private static void repairDirty(BlockDevice file, Path path) throws IOException {
    CheckResult result = Qcow2Checker.repair(file, Repair.ALL,
        problem -> log().log(System.Logger.Level.DEBUG, "qcow2: repairing dirty image {0}: {1}", path, problem.message()));
    log().log(System.Logger.Level.INFO, "qcow2: {0} was dirty (lazy refcounts not written back): repaired {1} leaked "
        + "clusters and {2} corruptions before writing", path, result.leaksFixed(), result.corruptionsFixed());
    if (result.checkErrors() > 0) {
      throw new BlockDeviceException(BlockError.EIO, "qcow2: could not repair dirty image " + path + ": "
          + result.checkErrors() + " check errors (expected: an image that check -r all repairs)");
    }
  }

  /** Refuses to open for writing what vdisk cannot write safely. */
  private static void checkWritable(Qcow2Header header) throws IOException {
    if ((header.incompatibleFeatures() & Features.INCOMPAT_CORRUPT) != 0) {
      throw new BlockDeviceException(BlockError.EPERM, "qcow2: the image is marked corrupt and can only be opened "
          + "read-only (expected: repair it with qemu-img check -r all)");
    }
    if ((header.incompatibleFeatures() & Features.INCOMPAT_DIRTY) != 0) {
      throw new BlockDeviceException(BlockError.EIO, "qcow2: could not repair dirty image: corruptions remain "
          + "(expected: an image that check -r all repairs; try qemu-img check -r all, or open it read-only)");
    }
  }

  /**
   * Clears the autoclear feature bits before the first write, as QEMU does for the bits it does not know.
   * data_file_raw stays: vdisk keeps the raw data file in step with the image; so does the bitmaps bit when vdisk
   * keeps the bitmaps ({@code bitmapsKept}, {@link PersistentBitmaps}).
   */
  private static void clearAutoclearFeatures(BlockDevice file, Qcow2Header header, boolean bitmapsKept)
      throws IOException {
    long kept = header.autoclearFeatures()
        & (Features.AUTOCLEAR_DATA_FILE_RAW | (bitmapsKept ? Features.AUTOCLEAR_BITMAPS : 0));
    if (header.version() >= 3 && header.autoclearFeatures() != kept) {
      file.write(Qcow2Header.AUTOCLEAR_FEATURES_FIELD, ByteBuffer.allocate(8).putLong(0, kept), Set.of());
      file.flush();
    }
  }

  /** Checks the external data file settings and says whether the image has one. */
  private static boolean checkDataFile(Qcow2Header header, HeaderExtensions ext, Optional<String> backingName)
      throws IOException {
    boolean dataFile = (header.incompatibleFeatures() & Features.INCOMPAT_DATA_FILE) != 0;
    boolean raw = (header.autoclearFeatures() & Features.AUTOCLEAR_DATA_FILE_RAW) != 0;
    if (dataFile && ext.dataFile().isEmpty()) {
      throw invalid("external data file name", "absent", "a data file name header extension with incompatible feature bit 2");
    }
    if (!dataFile && ext.dataFile().isPresent()) {
      throw invalid("external data file name", "'" + ext.dataFile().get() + "'",
          "none without incompatible feature bit 2 (external data file)");
    }
    if (raw && !dataFile) {
      throw invalid("autoclear feature bit 1 (data_file_raw)", "set", "unset without an external data file");
    }
    if (raw && backingName.isPresent()) {
      throw invalid("backing file", "'" + backingName.get() + "'", "none with data_file_raw");
    }
    if (dataFile && header.nbSnapshots() > 0) {
      throw invalid("nb_snapshots", header.nbSnapshots(), "0 with an external data file");
    }
    return dataFile;
  }

  /** An L2 table; what lies past the end of the file reads as zeroes (unallocated), as QEMU reads it. */
  private static long[] loadL2(HostReader image, long offset, Geometry geometry) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(geometry.clusterSize());
    image.readData(offset, b);
    long[] words = new long[geometry.clusterSize() / 8];
    b.flip().asLongBuffer().get(words);
    return words;
  }

  private static String string(ByteBuffer b, int at, int length) {
    byte[] raw = new byte[length];
    b.get(at, raw);
    return new String(raw, StandardCharsets.UTF_8);
  }
}
