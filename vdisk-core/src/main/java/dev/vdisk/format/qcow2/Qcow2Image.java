package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.BlockLimits;
import dev.vdisk.block.Capabilities;
import dev.vdisk.block.Extent;
import dev.vdisk.block.ForwardingQueue;
import dev.vdisk.block.HostRange;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.block.Support;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.format.Backing;
import dev.vdisk.format.Bitmap;
import dev.vdisk.format.BitmapEdit;
import dev.vdisk.format.BitmapRuns;
import dev.vdisk.format.BlockStatus;
import dev.vdisk.format.ChainWalker;
import dev.vdisk.format.FormatFacts;
import dev.vdisk.format.FormatImage;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.Snapshot;
import dev.vdisk.io.Preallocation;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.locks.Lock;
import java.util.function.BiFunction;

/**
 * An open qcow2 image: guest reads are served from its clusters, zero clusters, compressed clusters, an external
 * data file, or the backing image; a writable image hands writes, zeroes, discards and flushes to its {@link
 * Qcow2Writer}. A read-only image takes no lock at all; reads of a writable one hold the writer's shared lock only.
 */
final class Qcow2Image implements FormatImage {
  /** Extents returned by one {@link #extents} call at most; callers ask again from where the list ends. */
  static final int MAX_EXTENTS = 4096;

  private static final Capabilities READ_ONLY =
      new Capabilities(true, Support.NONE, Support.NONE, Support.NONE, Support.NONE, Support.NONE, Support.NATIVE);

  private final Qcow2Format format;
  private final BlockDevice file;
  private final Qcow2Header header;
  private final HeaderExtensions extensions;
  private final Geometry geometry;
  private final ClusterMapper mapper;
  private final HostReader image;
  private final HostReader data;
  private final ClusterDecompressor decompressor;
  private final Optional<String> backingName;
  private final Optional<Backing> backing;
  private final HostReader backingReader;
  private final List<Snapshot> snapshots;
  private final List<Closeable> resources;
  private final Qcow2Writer writer;
  /** Compressed writes; null where the image is read-only or keeps its data in an external data file (as QEMU). */
  private final CompressedWriter compressedWriter;
  private final MetadataPreallocation preallocation;
  /** Marked before each write, zeroing and discard (QEMU marks whatever the request's outcome); null for none. */
  private final PersistentBitmaps bitmaps;
  private volatile long size;
  private volatile boolean closed;

  /**
   * @param data where guest clusters are read: the image file, or the external data file
   * @param backingName the backing file name the image records, opened ({@code backing}) or not
   * @param resources closed by {@link #close}, in order: the image file last
   * @param writer makes the writer of a writable image from a reader of the image's guest bytes and their block
   *     status; null for a read-only image
   * @param bitmaps the persistent bitmaps a writable image keeps, marked in use; null for none
   */
  Qcow2Image(Qcow2Format format, BlockDevice file, Qcow2Header header, HeaderExtensions extensions, Geometry geometry,
      ClusterMapper mapper, HostReader data, Optional<String> backingName, Optional<Backing> backing,
      List<Snapshot> snapshots, List<Closeable> resources,
      BiFunction<Qcow2Writer.GuestReader, Qcow2Writer.ZeroStatus, Qcow2Writer> writer, PersistentBitmaps bitmaps)
      throws IOException {
    this.format = format;
    this.file = file;
    this.header = header;
    this.extensions = extensions;
    this.geometry = geometry;
    this.mapper = mapper;
    this.image = new HostReader(file, "image file");
    this.data = data;
    this.decompressor = new ClusterDecompressor(CompressionType.of(header));
    this.backingName = backingName;
    this.backing = backing;
    this.backingReader = backing.map(b -> new HostReader(b.device(), "backing image")).orElse(null);
    this.snapshots = snapshots;
    this.size = header.size();
    this.resources = List.copyOf(resources);
    this.bitmaps = bitmaps;
    // Last: the writer reads through this image, which must be complete by then.
    this.writer = writer == null ? null : writer.apply(this::readUnlocked, this::readsAsZero);
    this.compressedWriter = this.writer == null || hasFeature(Features.INCOMPAT_DATA_FILE) ? null
        : new CompressedWriter(this.writer, CompressionType.of(header), geometry.clusterSize());
    this.preallocation = new MetadataPreallocation(file, data.device(), geometry.clusterBits(), this::clustersInUse);
  }

  Qcow2Header header() {
    return header;
  }

  /** The image file. */
  BlockDevice file() {
    return file;
  }

  /**
   * A read-only view of this image's guest disk as {@code snapshotMapper} maps it (an internal snapshot's L1 table,
   * {@link SnapshotReader}), at this image's virtual size and over its file, data file and backing image; closing the
   * view closes none of them.
   */
  Qcow2Image snapshotView(ClusterMapper snapshotMapper) throws IOException {
    return new Qcow2Image(format, file, header, extensions, geometry, snapshotMapper, data, backingName, backing,
        snapshots, List.of(), null, null);
  }

  HeaderExtensions extensions() {
    return extensions;
  }

  /** The bitmap directory as QEMU loads it ({@link BitmapTables#trusted}), read now. */
  List<BitmapEntry> bitmaps() throws IOException {
    return BitmapTables.trusted(image, header, extensions).map(BitmapTables::entries).orElse(List.of());
  }

  /** A bitmap of this image as the directory names it, read from the file now. */
  DirtyBitmap loadBitmap(BitmapEntry entry) throws IOException {
    return DirtyBitmap.load(image, entry, header.clusterSize(), size);
  }

  /** The bitmaps a writable version 3 image keeps; null for a read-only or version 2 image. */
  PersistentBitmaps persistentBitmaps() {
    return bitmaps;
  }

  Geometry geometry() {
    return geometry;
  }

  @Override
  public ImageFormat format() {
    return format;
  }

  @Override
  public FormatFacts facts() throws IOException {
    return Qcow2Facts.of(this);
  }

  /**
   * One L2 table's coverage: QEMU's default L2 slice is a whole table, and its qcow2 driver answers block status one
   * slice at a time ({@code qemu-img compare -s} sees where runs end).
   */
  @Override
  public long statusGranularity() {
    return geometry.bytesPerL2();
  }

  @Override
  public Optional<Backing> backing() {
    return backing;
  }

  Optional<String> backingName() {
    return backingName;
  }

  /** QEMU's qcow2_supports_persistent_dirty_bitmap: version 3 (compat 1.1) images only. */
  @Override
  public boolean supportsBitmaps() {
    return header.version() >= 3;
  }

  @Override
  public List<Bitmap> listBitmaps() throws IOException {
    List<Bitmap> out = new ArrayList<>();
    for (BitmapEntry e : bitmaps()) {
      out.add(new Bitmap(e.name(), e.granularity(), e.inUse(), e.auto()));
    }
    return out;
  }

  /** See {@link BitmapEditor}. */
  @Override
  public void editBitmap(String name, BitmapEdit edit) throws IOException {
    BitmapEditor.apply(this, name, edit);
  }

  /** See {@link SnapshotReader}. */
  @Override
  public FormatImage openSnapshot(String spec) throws IOException {
    return SnapshotReader.open(this, spec, format.l2CacheSize());
  }

  /** See {@link Qcow2Checker#referencedClusters}. */
  @Override
  public java.util.OptionalLong referencedBytes() throws IOException {
    return java.util.OptionalLong.of(Qcow2Checker.referencedClusters(file) * header.clusterSize());
  }

  /** See {@link BitmapExport}. */
  @Override
  public BitmapRuns bitmapRuns(String name) throws IOException {
    return BitmapExport.of(this, name);
  }

  List<Snapshot> snapshots() {
    return snapshots;
  }

  boolean hasFeature(long incompatibleBit) {
    return (header.incompatibleFeatures() & incompatibleBit) != 0;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public Capabilities capabilities() {
    if (writer == null) {
      return READ_ONLY;
    }
    // Version 2 zeroes too, as QEMU does: by discarding without a backing file, else by writing zeroes.
    Support compressed = compressedWriter == null ? Support.NONE : Support.NATIVE;
    return new Capabilities(false, Support.NATIVE, Support.NONE, Support.NATIVE, Support.NATIVE, Support.NATIVE,
        Support.NATIVE, compressed);
  }

  /** Compressed writes, where available, come in whole clusters. */
  @Override
  public BlockLimits limits() {
    return new BlockLimits(1, BlockLimits.DEFAULT_MAX_TRANSFER, geometry.clusterSize(), geometry.subclusterSize(),
        compressedWriter == null ? 0 : geometry.clusterSize());
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    if (writer == null) {
      readUnlocked(offset, dst);
      return;
    }
    Lock shared = writer.shared();
    shared.lock();
    try {
      readUnlocked(offset, dst);
    } finally {
      shared.unlock();
    }
  }

  /**
   * A read-only image's queue: a read of normal data clusters that follow each other on the host ({@link
   * ClusterMapper#dataHost}) goes to the queue of the file that holds them, at its host offset (the mapping is looked
   * up first, loading its L2 table if it is not cached); other reads (zero, unallocated, compressed clusters, clusters
   * apart on the host) run through {@link #read} beside it. A writable
   * image's is a {@link WritableImageQueue}.
   */
  @Override
  public RequestQueue queue(int depth) throws IOException {
    RequestQueue below = data.device().queue(depth);
    if (below == null) {
      return null;
    }
    if (writer != null) {
      return new WritableImageQueue(below, this, mapper, data, writer);
    }
    return new ForwardingQueue(below) {
      @Override
      public void read(long offset, ByteBuffer dst, int tag) throws IOException {
        int n = dst.remaining();
        long host;
        try {
          host = mapper.dataHost(offset, n);
        } catch (IOException e) {
          refuse(tag, e);
          return;
        }
        if (host != L2Entry.NO_OFFSET && data.plain(host, n)) {
          super.read(host, dst, tag);
        } else {
          runBeside(tag, () -> Qcow2Image.this.read(offset, dst));
        }
      }

      @Override
      public void write(long offset, ByteBuffer src, int tag) throws IOException {
        runNow(tag, () -> Qcow2Image.this.write(offset, src, Set.of())); // read-only: refused as write() refuses it
      }
    };
  }

  /**
   * The host ranges of a read-only image's range where every cluster of it is a normal data cluster of this image
   * (in the image file or the external data file) whose file yields its bytes; nothing if any part is zero,
   * unallocated (backing or zeroes), compressed, or the image is encrypted or writable: a writable image frees clusters (discard,
   * zeroing) and reuses them for other guest offsets, so bytes sent from the page cache after this returns could
   * belong to another guest range, which a copy under the writer's lock never returns. Adjacent clusters merge.
   */
  @Override
  public List<HostRange> hostRanges(long offset, long length) throws IOException {
    if (writer != null || data.encrypted()) {
      return List.of();
    }
    List<HostRange> out = new ArrayList<>();
    long end = offset + length;
    for (long pos = offset; pos < end; ) {
      ClusterMapper.Run run = mapper.map(pos, end - pos);
      if (!(run.entry() instanceof L2Entry.Normal)) {
        return List.of();
      }
      List<HostRange> got = data.device().hostRanges(run.hostStart(), run.length());
      if (got.isEmpty()) {
        return List.of();
      }
      for (HostRange r : got) {
        HostRange last = out.isEmpty() ? null : out.getLast();
        if (last != null && last.channel() == r.channel() && last.position() + last.length() == r.position()) {
          out.set(out.size() - 1, new HostRange(r.channel(), last.position(), last.length() + r.length(), r.residency()));
        } else {
          out.add(r);
        }
      }
      pos += run.length();
    }
    return out;
  }

  /** Reads without the writer's shared lock: for read-only images, and for the writer, which holds its own. */
  private void readUnlocked(long offset, ByteBuffer dst) throws IOException {
    // The usual request, data clusters in a row on the host: one read at its host offset, found without allocating.
    long host = mapper.dataHost(offset, dst.remaining());
    if (host != L2Entry.NO_OFFSET) {
      data.readData(host, dst);
      return;
    }
    long pos = offset;
    while (dst.hasRemaining()) {
      ClusterMapper.Run run = mapper.map(pos, dst.remaining());
      int n = (int) run.length();
      // A run that covers the rest of dst (a request inside one cluster, the usual case) needs no slice of it.
      ByteBuffer part = n == dst.remaining() ? dst : dst.slice(dst.position(), n);
      int at = dst.position();
      switch (run.entry()) {
        case L2Entry.Normal d -> data.readData(run.hostStart(), part);
        case L2Entry.Zero z -> HostReader.zeroFill(part);
        case L2Entry.Unallocated u -> readBacking(pos, part);
        case L2Entry.Compressed c -> readCompressed(c, pos, part);
      }
      dst.position(at + n);
      pos += n;
    }
  }

  /**
   * QEMU's {@code is_zero} under the writer's lock: true if block status says {@code [offset, offset + length)}
   * (clamped to the virtual size) reads as zeroes: zero clusters here, and where this image defines nothing, zeroes
   * by the backing chain's status (or no backing image, or past its end). Data clusters never count, whatever they
   * hold.
   */
  private boolean readsAsZero(long offset, long length) throws IOException {
    long end = Math.min(offset + length, size);
    for (long pos = offset; pos < end; ) {
      ClusterMapper.Run run = mapper.map(pos, end - pos);
      long n = run.length();
      boolean zero = switch (run.entry()) {
        case L2Entry.Zero z -> true;
        case L2Entry.Normal d -> false;
        case L2Entry.Compressed c -> false;
        case L2Entry.Unallocated u -> backingReadsAsZero(pos, n);
      };
      if (!zero) {
        return false;
      }
      pos += n;
    }
    return true;
  }

  private boolean backingReadsAsZero(long offset, long length) throws IOException {
    if (backing.isEmpty()) {
      return true;
    }
    long inside = Math.min(offset + length, backing.get().device().size()) - offset;
    if (inside <= 0) {
      return true;
    }
    ChainWalker walker = ChainWalker.of(backing.get().device(), ChainWalker.Mode.LAYERS, offset, offset + inside);
    for (long pos = offset; pos < offset + inside; ) {
      BlockStatus st = walker.at(pos);
      if (!st.zero()) {
        return false;
      }
      pos = st.end();
    }
    return true;
  }

  /** Bytes this image does not define: the backing image's (zeroes past its end), or zeroes without one. */
  private void readBacking(long guest, ByteBuffer part) throws IOException {
    if (backingReader == null) {
      HostReader.zeroFill(part);
    } else {
      backingReader.readData(guest, part);
    }
  }

  private void readCompressed(L2Entry.Compressed c, long guest, ByteBuffer part) throws IOException {
    String where = "compressed cluster at guest offset " + (guest & ~geometry.clusterMask());
    long fileSize = image.size();
    if (c.hostOffset() >= fileSize) {
      throw Qcow2Errors.corrupt(where + ": host offset", c.hostOffset(), "inside the image file of " + fileSize + " bytes");
    }
    // The descriptor counts whole sectors, which may run past the end of the file: read only what exists.
    int len = (int) Math.min(c.maxBytes(), fileSize - c.hostOffset());
    ByteBuffer src = image.readMetadata(where, c.hostOffset(), len);
    ByteBuffer cluster = ByteBuffer.allocate(geometry.clusterSize());
    decompressor.decompress(src, cluster, where);
    int from = (int) (guest & geometry.clusterMask());
    part.put(cluster.flip().position(from).limit(from + part.remaining()));
  }

  /**
   * This layer's allocation: DATA with the host offset (in the external data file, if the image has one) for
   * standard clusters, DATA without one for compressed and encrypted clusters (QEMU's block status gives neither
   * BDRV_BLOCK_OFFSET_VALID: their host bytes are not the guest's), ZERO for zero clusters (with the preallocated
   * offset if any), HOLE where the backing image (or nothing) defines the bytes. In an image with preallocated
   * metadata, standard clusters over holes in the file are DATA and ZERO ({@link MetadataPreallocation}). At most
   * {@link #MAX_EXTENTS}.
   */
  @Override
  public List<Extent> extents(long offset, long length) throws IOException {
    List<Extent> out = new ArrayList<>();
    long pos = offset;
    long end = offset + length;
    while (pos < end && out.size() < MAX_EXTENTS) {
      ClusterMapper.Run run = mapUnderSharedLock(pos, end - pos);
      long n = run.length();
      switch (run.entry()) {
        case L2Entry.Normal d when data.encrypted() -> append(out, Extent.data(pos, n, Extent.NO_OFFSET));
        case L2Entry.Normal d -> preallocation.dataExtents(pos, n, run.hostStart(), e -> append(out, e));
        case L2Entry.Compressed c -> append(out, Extent.data(pos, n, Extent.NO_OFFSET));
        case L2Entry.Zero z -> append(out, Extent.zero(pos, n, host(run)));
        // QEMU reports where an unallocated subcluster of an allocated cluster lies, too.
        case L2Entry.Unallocated u -> append(out, new Extent(pos, n, false, true, false, host(run)));
      }
      pos += n;
    }
    return out;
  }

  /** The host offset block status reports for a run: none in an encrypted image (no BDRV_BLOCK_OFFSET_VALID). */
  private long host(ClusterMapper.Run run) {
    return data.encrypted() ? Extent.NO_OFFSET : run.hostStart();
  }

  /**
   * {@link ClusterMapper#map} under the writer's shared lock, if any: an L2 table the writer drops (a shrink, a failed
   * first write into a new table) is given back only once no one holds it, so a mapping that read the old L1 entry
   * never loads the table from a cluster reused for data meanwhile. Not held beyond the mapping: {@link
   * MetadataPreallocation} may take the metadata lock, which no holder of the shared lock may wait for.
   */
  private ClusterMapper.Run mapUnderSharedLock(long offset, long max) throws IOException {
    if (writer == null) {
      return mapper.map(offset, max);
    }
    Lock shared = writer.shared();
    shared.lock();
    try {
      return mapper.map(offset, max);
    } finally {
      shared.unlock();
    }
  }

  private static void append(List<Extent> out, Extent e) {
    if (!out.isEmpty() && out.getLast().mergeableWith(e)) {
      out.set(out.size() - 1, out.getLast().merge(e));
    } else {
      out.add(e);
    }
  }

  /** Clusters in use by refcount: the writer's refcounts, written back or not, else (read-only) those on disk. */
  private long clustersInUse(long clusters, long stopAt) throws IOException {
    if (writer != null) {
      return writer.clustersInUse(clusters, stopAt);
    }
    return new RefcountStore(file, header, RefcountTable.read(image, header), 2).countInUse(clusters, stopAt);
  }

  @Override
  public void write(long offset, ByteBuffer src, Set<WriteFlag> flags) throws IOException {
    Qcow2Writer w = writer("write");
    markDirty(offset, src.remaining());
    if (flags.contains(WriteFlag.COMPRESSED)) {
      if (data.encrypted()) {
        // A compressed cluster is read without the cipher (HostReader decrypts only normal clusters): not written.
        throw new BlockDeviceException(BlockError.ENOTSUP, "write: COMPRESSED at guest offset " + offset
            + ": the image is encrypted (expected: an image without encryption; compression is not built with it)");
      }
      compressedWriter.write(offset, src);
    } else {
      w.write(offset, src);
    }
  }

  /** Writes back the metadata in order and flushes the file; nothing to do for a read-only image. */
  @Override
  public void flush() throws IOException {
    if (writer != null) {
      writer.flush();
    }
  }

  @Override
  public void discard(long offset, long length) throws IOException {
    Qcow2Writer w = writer("discard");
    markDirty(offset, length);
    w.discard(offset, length);
  }

  @Override
  public void writeZeroes(long offset, long length, Set<WriteFlag> flags) throws IOException {
    Qcow2Writer w = writer("writeZeroes");
    markDirty(offset, length);
    w.writeZeroes(offset, length, flags);
  }

  /** qemu-img commit's emptying of the overlay: see {@link Qcow2Writer#makeEmpty}. */
  @Override
  public void makeEmpty() throws IOException {
    writer("make empty").makeEmpty();
  }

  /** Marks the persistent bitmaps for a change of {@code [offset, offset + length)}, as every write does. */
  void markDirty(long offset, long length) {
    if (bitmaps != null) {
      bitmaps.mark(offset, length);
    }
  }

  private Qcow2Writer writer(String op) throws BlockDeviceException {
    if (writer == null) {
      throw readOnly(op);
    }
    return writer;
  }

  /**
   * Grows or shrinks the image as {@code qemu-img resize} does, internal snapshots kept (they keep their own size;
   * a version 2 image with snapshots is refused, as QEMU 7.2 refuses it), as is a size that is not a multiple of 512
   * (QEMU refuses it too).
   */
  @Override
  public void resize(long newSize) throws IOException {
    resize(newSize, Preallocation.OFF);
  }

  /**
   * {@code qemu-img resize --preallocation}: grows the image as {@link #resize(long)} does, the grown clusters
   * allocated as QEMU 7.2 allocates them ({@link GrowthPreallocation}).
   *
   * @throws BlockDeviceException EINVAL with QEMU's message for a shrink with a mode other than off
   */
  @Override
  public void growPreallocated(long newSize, Preallocation mode) throws IOException {
    resize(newSize, mode);
  }

  private void resize(long newSize, Preallocation mode) throws IOException {
    Qcow2Writer w = writer("resize");
    long old = size;
    if (newSize < old && mode != Preallocation.OFF) {
      throw new BlockDeviceException(BlockError.EINVAL, "Preallocation can't be used for shrinking an image");
    }
    if (mode != Preallocation.OFF && data.encrypted()) {
      // A preallocated cluster's zeroed or unwritten bytes would decrypt to noise, not to zeroes.
      throw new BlockDeviceException(BlockError.ENOTSUP, "resize: preallocation=" + mode.name().toLowerCase(
          java.util.Locale.ROOT) + " of an encrypted image (expected: preallocation=off; not built for encrypted images)");
    }
    if (newSize == old) {
      return;
    }
    if (!snapshots.isEmpty() && header.version() < 3) {
      // QEMU 7.2's qcow2_co_truncate: a version 2 snapshot entry may lack the disk size it was taken at.
      throw new BlockDeviceException(BlockError.ENOTSUP, "Can't resize a v2 image which has snapshots");
    }
    if (newSize % 512 != 0) {
      throw new BlockDeviceException(BlockError.EINVAL,
          "resize: size " + newSize + " (expected: a multiple of 512, as qcow2 in QEMU requires)");
    }
    if (bitmaps != null) {
      bitmaps.checkResize(newSize);
    }
    if (newSize < old) {
      w.shrink(newSize);
    } else {
      // As QEMU's bdrv_co_truncate: a longer backing file's bytes must not show in the grown range.
      w.grow(newSize, backing.isPresent() && backing.get().device().size() > old, mode);
    }
    size = newSize;
    if (bitmaps != null) {
      bitmaps.resize(newSize);
    }
  }

  private BlockDeviceException readOnly(String op) {
    String why = hasFeature(Features.INCOMPAT_CORRUPT)
        ? "the image is marked corrupt (expected: repair it with qemu-img check -r all)"
        : "it was opened read-only";
    return new BlockDeviceException(BlockError.EPERM, op + ": qcow2 image is read-only: " + why);
  }

  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    IOException first = null;
    if (writer != null) {
      try {
        writer.flushAll(bitmaps);
      } catch (IOException e) {
        first = e;
      }
    }
    for (Closeable c : resources) {
      try {
        c.close();
      } catch (IOException e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    if (first != null) {
      throw first;
    }
  }

  @Override
  public String toString() {
    return "Qcow2(" + file + ")";
  }
}
