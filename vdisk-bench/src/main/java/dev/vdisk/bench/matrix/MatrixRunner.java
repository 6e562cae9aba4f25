package dev.vdisk.bench.matrix;

import dev.vdisk.bench.BenchResult;
import dev.vdisk.bench.BenchRunner;
import dev.vdisk.bench.BenchSpec;
import dev.vdisk.format.Images;
import dev.vdisk.format.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Runs the matrix: every layout under every cache mode, each cell {@code repeats} times on a fresh image, then the
 * discard pass per layout and, with a peer, the same cells through qemu-img bench; returns the whole
 * {@link MatrixReport} with its verdicts.
 *
 * <p>One cell is one fresh image through all {@link Workload}s in order: first writes at depth 1 and 16 (into slots
 * never written before), overwrites and random reads of the slots they reached, then the 1 MiB sequential
 * workloads. After the first writes of the first repeat under the first mode, the image's {@link SpaceBreakdown} is
 * taken. A mode this filesystem refuses (O_DIRECT on tmpfs) leaves its cells with an error and the run goes on.
 * {@link #cancel} (Ctrl-C) stops the run within one request and makes {@link #run} throw.
 */
public final class MatrixRunner {
  /** Told before each step of the run, for a progress display. */
  public interface Listener {
    /**
     * @param step what starts now ({@code qcow2-off writeback 2/3})
     * @param done steps finished before it
     * @param total steps in the whole run
     */
    void step(String step, int done, int total);
  }

  /** Bytes the discard pass writes and discards: at most this, at most half the image. */
  private static final long DISCARD_REGION = 64L << 20;
  /** The least requests of a peer's 4 KiB and 1 MiB workloads that are not first writes (see peerSpecs). */
  private static final int PEER_MIN_SMALL = 1024;
  private static final int PEER_MIN_BIG = 64;
  /** A time budget that never ends a run (an hour; a sum with System.nanoTime() must not overflow). */
  private static final long UNLIMITED = 3_600_000_000_000L;

  private final MatrixSettings settings;
  private final QemuPeer peer;
  private final Listener listener;
  private volatile boolean cancelled;
  private int done;
  private int total;

  private final Map<String, List<RunStats>> stats = new HashMap<>();
  private final Map<String, Long> hostBytes = new HashMap<>();
  private final Map<String, String> errors = new HashMap<>();
  private final List<LayoutBreakdown> breakdowns = new ArrayList<>();
  private final Map<String, List<Double>> peerVdisk = new LinkedHashMap<>();
  private final Map<String, List<Double>> peerQemu = new LinkedHashMap<>();
  private final Map<String, String> peerAio = new HashMap<>();

  /** @param peer qemu-img bench to run every cell through as well, or null */
  public MatrixRunner(MatrixSettings settings, QemuPeer peer, Listener listener) {
    this.settings = settings;
    this.peer = peer;
    this.listener = listener;
  }

  /** Stops a run in progress: its workloads start no more requests and {@link #run} throws. Any thread. */
  public void cancel() {
    cancelled = true;
  }

  public boolean cancelled() {
    return cancelled;
  }

  /**
   * Runs the whole matrix in {@link MatrixSettings#dir}, leaving no image behind there (a block device keeps what
   * was written to it).
   *
   * @throws InterruptedIOException after {@link #cancel}
   * @throws IOException when an image cannot be created in the folder
   */
  public MatrixReport run(MachineFacts machine) throws IOException {
    List<Layout> layouts = settings.allLayouts();
    List<Layout> files = layouts.stream().filter(l -> l != Layout.DEVICE).toList();
    int cells = layouts.size() * settings.modes().size() * settings.repeats();
    total = cells + files.size() + (peer == null ? 0 : cells) + 1;
    warmUp();
    for (Layout layout : layouts) {
      for (CacheMode mode : settings.modes()) {
        for (int r = 0; r < settings.repeats() && !errors.containsKey(key(layout, mode)); r++) {
          step(layout.key() + " " + mode.name() + " " + (r + 1) + "/" + settings.repeats());
          try {
            runCell(layout, mode, r == 0 && mode.equals(settings.modes().getFirst()));
          } catch (IOException e) {
            stopIfCancelled();
            errors.put(key(layout, mode), e.getMessage());
          } finally {
            removeImage(layout);
          }
        }
      }
    }
    List<DiscardResult> discards = new ArrayList<>();
    for (Layout layout : files) {
      step(layout.key() + " discard");
      try {
        discards.add(discardPass(layout));
      } finally {
        removeImage(layout);
      }
    }
    List<PeerResult> peerResults = peer == null ? List.of() : runPeer(layouts);
    List<CellResult> cellResults = cellResults(layouts);
    Verdicts.Outcome outcome = Verdicts.of(cellResults, breakdowns, discards, peerResults);
    List<String> notes = new ArrayList<>(List.of(
        "Page cache in the read workloads: cache=none and directsync bypass it (O_DIRECT); writeback, writethrough and"
            + " unsafe read clusters that were just written through it, so those reads come from memory.",
        "Each workload stops starting requests after " + settings.budgetMillis() + " ms; the overwrites and reads"
            + " visit only the clusters the first writes reached.",
        String.format(Locale.ROOT, "Latency percentiles are estimated from a random sample of each run's requests,"
            + " each chosen before it is sent: each worker times its first %d, then 1 in N, each of those counted N"
            + " times, N the smallest power of two up to %d that makes N times their mean latency at least %d µs"
            + " (requests that slow are all timed). IOPS and MB/s count every request over the run's whole time.",
            LatencySampling.CALIBRATION, LatencySampling.MAX_INTERVAL, LatencySampling.SPARSE_ENOUGH_NANOS / 1000)));
    if (peer != null) {
      notes.add("Peer cells use qemu-img bench's only pattern, a fixed stride of " + (MatrixSettings.SLOT >> 10)
          + " KiB (first writes, overwrites and reads of the first half of the image, 1 MiB sequential over all of it),"
          + " for vdisk and QEMU alike, each on its own fresh image.");
    }
    if (settings.device() != null) {
      machine = machine.withDevice(settings.device().toString());
    }
    return new MatrixReport(machine, settings, MatrixReport.WorkloadInfo.all(), notes, outcome.claims(),
        outcome.verdicts(), cellResults, breakdowns, discards, peerResults);
  }

  /**
   * One untimed pass of every workload on a small raw image, so that the first cell measured does not also pay for
   * the JIT compiling the I/O path (it otherwise comes out several times slower than its repeats).
   */
  private void warmUp() throws IOException {
    step("warm-up");
    Path path = settings.dir().resolve("warm-up.img");
    try {
      Layout.RAW_SPARSE.create(path, Math.min(settings.size(), 16L << 20));
      try (OpenImage img = Images.open(path, "raw", FileOptions.of(CacheMode.WRITEBACK, false))) {
        OffsetPlan plan = settings.plan(img.device().size());
        for (Workload w : Workload.values()) {
          long[] offsets = w.sequential() ? plan.sequential() : plan.freshQd16();
          OffsetRunner.run(img.device(), offsets, w.requestSize(), w.depth(), w.write(),
              settings.budgetMillis() * 1_000_000L, this::cancelled);
        }
      }
    } finally {
      Files.deleteIfExists(path);
    }
  }

  private void runCell(Layout layout, CacheMode mode, boolean breakdown) throws IOException {
    Path path = imagePath(layout);
    if (layout != Layout.DEVICE) {
      layout.create(path, settings.size());
    }
    try (OpenImage img = Images.open(path, layout.format(), FileOptions.of(mode, false))) {
      if (breakdown && layout != Layout.DEVICE) {
        breakdowns.add(new LayoutBreakdown(layout.key(), LayoutBreakdown.CREATED, SpaceBreakdown.of(img.device(), img.file())));
      }
      OffsetPlan plan = settings.plan(Math.min(settings.size(), img.device().size()));
      long n1 = 0;
      long n16 = 0;
      for (Workload w : Workload.values()) {
        stopIfCancelled();
        long[] offsets = switch (w) {
          case FRESH_QD1 -> plan.freshQd1();
          case FRESH_QD16 -> plan.freshQd16();
          case OVERWRITE_QD16 -> plan.revisit(n1, n16, 1);
          case READ_QD16 -> plan.revisit(n1, n16, 2);
          case SEQ_WRITE_QD4, SEQ_READ_QD4 -> plan.sequential();
        };
        RunStats s = OffsetRunner.run(img.device(), offsets, w.requestSize(), w.depth(), w.write(),
            settings.budgetMillis() * 1_000_000L, this::cancelled);
        stopIfCancelled();
        if (w == Workload.FRESH_QD1) {
          n1 = s.requests();
        } else if (w == Workload.FRESH_QD16) {
          n16 = s.requests();
        }
        String k = key(layout, mode, w);
        stats.computeIfAbsent(k, x -> new ArrayList<>()).add(s);
        hostBytes.put(k, img.file().allocatedBytes());
        if (w == Workload.FRESH_QD16 && breakdown && layout != Layout.DEVICE) {
          img.device().flush();
          breakdowns.add(new LayoutBreakdown(layout.key(), LayoutBreakdown.FIRST_WRITES, SpaceBreakdown.of(img.device(), img.file())));
        }
      }
    }
  }

  /**
   * Writes a region, flushes, discards it (discard=unmap), flushes, and compares the host's allocated bytes; then
   * writes it again and lets discard=ignore drop the discard (QEMU never passes it on), measuring the same way.
   */
  private DiscardResult discardPass(Layout layout) throws IOException {
    Path path = imagePath(layout);
    layout.create(path, settings.size());
    long region = Math.min(DISCARD_REGION, settings.size() / 2);
    long start = settings.size() - region;
    long[] offsets = new long[(int) (region / OffsetPlan.SEQUENTIAL_SIZE)];
    for (int i = 0; i < offsets.length; i++) {
      offsets[i] = start + (long) i * OffsetPlan.SEQUENTIAL_SIZE;
    }
    try (OpenImage img = Images.open(path, layout.format(), FileOptions.of(CacheMode.WRITEBACK, false))) {
      DiscardResult.Space unmap = discardOnce(img, offsets, start, region, true);
      DiscardResult.Space ignore = discardOnce(img, offsets, start, region, false);
      return new DiscardResult(layout.key(), region, unmap, ignore);
    }
  }

  private DiscardResult.Space discardOnce(OpenImage img, long[] offsets, long start, long region, boolean unmap)
      throws IOException {
    stopIfCancelled();
    // No time budget: the whole region must be written for the space figures to mean anything.
    OffsetRunner.run(img.device(), offsets, OffsetPlan.SEQUENTIAL_SIZE, 4, true, UNLIMITED, this::cancelled);
    img.device().flush();
    long before = img.file().allocatedBytes();
    if (unmap) {
      img.device().discard(start, region);
    }
    img.device().flush();
    return new DiscardResult.Space(before, img.file().allocatedBytes());
  }

  /** The peer cells: the stride workloads through vdisk's {@link BenchRunner} and through qemu-img bench. */
  private List<PeerResult> runPeer(List<Layout> layouts) throws IOException {
    Path probe = settings.dir().resolve("aio-probe.img");
    Layout.RAW_SPARSE.create(probe, 1 << 20);
    try {
      for (Layout layout : layouts) {
        for (CacheMode mode : settings.modes()) {
          if (errors.containsKey(key(layout, mode))) {
            total -= settings.repeats();
            continue;
          }
          String aio = peer.bestAio(mode, probe, this::cancelled);
          for (int r = 0; r < settings.repeats(); r++) {
            step(layout.key() + " " + mode.name() + " qemu-img bench " + (r + 1) + "/" + settings.repeats());
            try {
              peerCell(layout, mode, aio);
            } finally {
              removeImage(layout);
            }
          }
        }
      }
    } finally {
      Files.deleteIfExists(probe);
    }
    List<PeerResult> out = new ArrayList<>();
    peerVdisk.forEach((k, v) -> {
      String[] parts = k.split("\\|");
      Samples vd = new Samples(v);
      Samples qe = new Samples(peerQemu.get(k));
      Workload w = workload(parts[2]);
      out.add(new PeerResult(parts[0], parts[1], parts[2], Verdicts.unit(w), peerAio.get(k), vd, qe,
          qe.isEmpty() ? null : vd.median() / qe.median()));
    });
    return out;
  }

  /**
   * The peer's request streams for one image: qemu-img bench's stride over the first half for the first writes;
   * the overwrites, reads and 1 MiB requests wrap around the image (as qemu-img bench's offsets do) up to a count
   * that takes QEMU long enough to time, since it reports whole milliseconds.
   */
  private List<Map.Entry<Workload, BenchSpec>> peerSpecs(long size) {
    int n = (int) (size / MatrixSettings.SLOT / 2);
    BenchSpec small = BenchSpec.DEFAULTS.withDepth(16).withBufferSize(4096).withStep(MatrixSettings.SLOT);
    BenchSpec again = small.withCount(Math.max(n, PEER_MIN_SMALL));
    BenchSpec big = BenchSpec.DEFAULTS.withCount((int) Math.max(size / OffsetPlan.SEQUENTIAL_SIZE, PEER_MIN_BIG))
        .withDepth(4).withBufferSize(OffsetPlan.SEQUENTIAL_SIZE);
    return List.of(Map.entry(Workload.FRESH_QD16, small.withCount(n).withWrite(true)),
        Map.entry(Workload.OVERWRITE_QD16, again.withWrite(true)), Map.entry(Workload.READ_QD16, again),
        Map.entry(Workload.SEQ_WRITE_QD4, big.withWrite(true)), Map.entry(Workload.SEQ_READ_QD4, big));
  }

  private void peerCell(Layout layout, CacheMode mode, String aio) throws IOException {
    Path path = imagePath(layout);
    long size = settings.size();
    if (layout != Layout.DEVICE) {
      layout.create(path, size);
    }
    try (OpenImage img = Images.open(path, layout.format(), FileOptions.of(mode, false))) {
      for (Map.Entry<Workload, BenchSpec> e : peerSpecs(size)) {
        stopIfCancelled();
        BenchResult r = BenchRunner.run(img.device(), e.getValue());
        peerVdisk.computeIfAbsent(key(layout, mode, e.getKey()), x -> new ArrayList<>()).add(rate(e.getKey(), r.iops(), r.bytesPerSecond()));
      }
    }
    if (layout != Layout.DEVICE) {
      layout.create(path, size);
    }
    for (Map.Entry<Workload, BenchSpec> e : peerSpecs(size)) {
      stopIfCancelled();
      BenchSpec spec = e.getValue();
      double seconds = peer.run(path, layout.format(), mode, aio, spec, this::cancelled);
      String k = key(layout, mode, e.getKey());
      List<Double> samples = peerQemu.computeIfAbsent(k, x -> new ArrayList<>());
      // qemu-img bench prints milliseconds: a faster run has no rate, only "too fast to time".
      if (seconds > 0) {
        double iops = spec.count() / seconds;
        samples.add(rate(e.getKey(), iops, iops * spec.bufferSize()));
      }
      peerAio.put(k, aio);
    }
  }

  private List<CellResult> cellResults(List<Layout> layouts) {
    List<CellResult> out = new ArrayList<>();
    for (Layout layout : layouts) {
      for (CacheMode mode : settings.modes()) {
        String error = errors.get(key(layout, mode));
        for (Workload w : Workload.values()) {
          String k = key(layout, mode, w);
          List<RunStats> runs = stats.getOrDefault(k, List.of());
          String pageCache = w.write() ? null : mode.direct() ? "bypassed (O_DIRECT)" : "warm (just written through it)";
          if (error != null || runs.isEmpty()) {
            out.add(new CellResult(layout.key(), mode.name(), w.key(), Verdicts.unit(w), Samples.of(), null, 0, 0,
                pageCache, error != null ? error : "not run"));
            continue;
          }
          Samples result = new Samples(runs.stream().map(s -> rate(w, s.iops(), s.bytesPerSecond())).toList());
          RunStats last = runs.getLast();
          CellResult.Latency latency = new CellResult.Latency(median(runs, 50), median(runs, 99),
              median(runs, 99.9), last.allOfFirst(), last.sampledOneIn(), last.timed());
          out.add(new CellResult(layout.key(), mode.name(), w.key(), Verdicts.unit(w), result, latency,
              last.requests(), hostBytes.getOrDefault(k, 0L), pageCache, null));
        }
      }
    }
    return out;
  }

  private static double median(List<RunStats> runs, double percentile) {
    return new Samples(runs.stream().map(s -> s.latencyMicros(percentile)).toList()).median();
  }

  /** IOPS for the 4 KiB workloads, MB/s for the 1 MiB ones. */
  private static double rate(Workload w, double iops, double bytesPerSecond) {
    return w.sequential() ? bytesPerSecond / 1e6 : iops;
  }

  private static Workload workload(String key) {
    for (Workload w : Workload.values()) {
      if (w.key().equals(key)) {
        return w;
      }
    }
    throw new IllegalArgumentException(key);
  }

  private Path imagePath(Layout layout) {
    return layout == Layout.DEVICE ? settings.device() : settings.dir().resolve(layout.key() + ".img");
  }

  private void removeImage(Layout layout) throws IOException {
    if (layout != Layout.DEVICE) {
      Files.deleteIfExists(imagePath(layout));
    }
  }

  private void step(String what) throws InterruptedIOException {
    stopIfCancelled();
    listener.step(what, done++, total);
  }

  private void stopIfCancelled() throws InterruptedIOException {
    if (cancelled) {
      throw new InterruptedIOException("bench: interrupted");
    }
  }

  private static String key(Layout layout, CacheMode mode) {
    return layout.key() + "|" + mode.name();
  }

  private static String key(Layout layout, CacheMode mode, Workload w) {
    return key(layout, mode) + "|" + w.key();
  }
}
