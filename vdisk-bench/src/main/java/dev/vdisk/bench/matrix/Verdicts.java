package dev.vdisk.bench.matrix;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The sentences a matrix run supports, computed from its numbers only, and the answers to the seed post's four
 * claims. Every comparison goes through {@link Comparison}: a difference inside the noise of the repeats is said to
 * be no measurable difference, whatever the medians say.
 */
public final class Verdicts {
  public static final String CACHE_MODES = "cache-modes";
  public static final String PREALLOCATION = "preallocation";
  public static final String METADATA = "metadata";
  public static final String DISCARD = "discard";
  public static final String PEER = "peer";

  /** The seed's claims, in its order, each with the topic whose verdicts answer it. */
  static final String CLAIM_WRITETHROUGH = "writethrough makes everything painfully slow, reads included";
  static final String CLAIM_PREALLOCATION = "a qcow2 without metadata preallocation slows writes down immensely";
  static final String CLAIM_METADATA = "qcow2 metadata costs many GiB (16 GiB for a 66 GiB disk)";
  static final String CLAIM_DISCARD = "thin images stay thin only when the guest's discards reach them (discard=unmap)";

  /** What the seed post guessed: 16 GiB of metadata for a 66 GiB disk. */
  private static final long SEED_DISK = 66L << 30;

  private final List<CellResult> cells;
  private final List<LayoutBreakdown> breakdowns;
  private final List<DiscardResult> discards;
  private final List<PeerResult> peer;
  private final List<Verdict> verdicts = new ArrayList<>();
  private final List<ClaimAnswer> claims = new ArrayList<>();

  private Verdicts(List<CellResult> cells, List<LayoutBreakdown> breakdowns, List<DiscardResult> discards,
      List<PeerResult> peer) {
    this.cells = cells;
    this.breakdowns = breakdowns;
    this.discards = discards;
    this.peer = peer;
  }

  /** The verdicts and claim answers of a run. */
  public record Outcome(List<Verdict> verdicts, List<ClaimAnswer> claims) {}

  public static Outcome of(List<CellResult> cells, List<LayoutBreakdown> breakdowns, List<DiscardResult> discards,
      List<PeerResult> peer) {
    Verdicts v = new Verdicts(cells, breakdowns, discards, peer);
    v.cacheModes();
    v.preallocation();
    v.metadata();
    v.discard();
    v.peer();
    return new Outcome(List.copyOf(v.verdicts), List.copyOf(v.claims));
  }

  // ---- cache modes

  private void cacheModes() {
    Optional<String> layout = referenceLayout();
    if (layout.isEmpty() || samples(layout.get(), "writeback", Workload.OVERWRITE_QD16).isEmpty()) {
      claims.add(new ClaimAnswer(CLAIM_WRITETHROUGH, CACHE_MODES, ClaimAnswer.NOT_MEASURED, List.of(
          "needs the writeback and writethrough modes on one layout")));
      return;
    }
    String ref = layout.get();
    Sentence writes = null;
    Sentence reads = null;
    for (String mode : List.of("writethrough", "none", "directsync", "unsafe")) {
      for (Workload w : List.of(Workload.OVERWRITE_QD16, Workload.READ_QD16, Workload.SEQ_WRITE_QD4)) {
        Samples a = samples(ref, mode, w);
        Samples b = samples(ref, "writeback", w);
        if (a.isEmpty() || b.isEmpty()) {
          continue;
        }
        Sentence s = compare(CACHE_MODES, mode + ": " + phrase(w) + " on " + ref, "writeback", a, b, unit(w));
        if (mode.equals("writethrough") && w == Workload.OVERWRITE_QD16) {
          writes = s;
        } else if (mode.equals("writethrough") && w == Workload.READ_QD16) {
          reads = s;
        }
      }
    }
    if (writes == null || reads == null) {
      claims.add(new ClaimAnswer(CLAIM_WRITETHROUGH, CACHE_MODES, ClaimAnswer.NOT_MEASURED, List.of(
          "needs the writeback and writethrough modes on one layout")));
      return;
    }
    boolean w = writes.comparison.slower();
    boolean r = reads.comparison.slower();
    String answer = w && r ? ClaimAnswer.SUPPORTED : w || r ? ClaimAnswer.PARTLY : ClaimAnswer.NOT_SUPPORTED;
    claims.add(new ClaimAnswer(CLAIM_WRITETHROUGH, CACHE_MODES, answer, List.of(writes.text, reads.text)));
  }

  // ---- preallocation

  private void preallocation() {
    List<String> modes = cells.stream().map(CellResult::mode).distinct().toList();
    List<Comparison> fresh = new ArrayList<>();
    List<String> because = new ArrayList<>();
    for (String mode : modes) {
      Samples off = samples("qcow2-off", mode, Workload.FRESH_QD16);
      Samples meta = samples("qcow2-metadata", mode, Workload.FRESH_QD16);
      if (off.isEmpty() || meta.isEmpty()) {
        continue;
      }
      Sentence s = compare(PREALLOCATION, "qcow2 without preallocation, " + mode + ": " + phrase(Workload.FRESH_QD16),
          "preallocation=metadata", off, meta, "IOPS");
      fresh.add(s.comparison);
      because.add(s.text);
    }
    Sentence steady = null;
    String steadyMode = modes.contains("writeback") ? "writeback" : modes.isEmpty() ? null : modes.getFirst();
    if (steadyMode != null) {
      Samples off = samples("qcow2-off", steadyMode, Workload.OVERWRITE_QD16);
      Samples meta = samples("qcow2-metadata", steadyMode, Workload.OVERWRITE_QD16);
      if (!off.isEmpty() && !meta.isEmpty()) {
        steady = compare(PREALLOCATION, "qcow2 without preallocation, " + steadyMode + ", once allocated: "
            + phrase(Workload.OVERWRITE_QD16), "preallocation=metadata", off, meta, "IOPS");
        because.add(steady.text);
      }
    }
    for (String mode : List.of("writeback", "none")) {
      Samples base = samples("raw-sparse", mode, Workload.FRESH_QD16);
      for (Layout l : Layout.files()) {
        Samples other = samples(l.key(), mode, Workload.FRESH_QD16);
        if (l != Layout.RAW_SPARSE && !base.isEmpty() && !other.isEmpty()) {
          compare(PREALLOCATION, l.key() + ", " + mode + ": " + phrase(Workload.FRESH_QD16), "raw-sparse", other, base,
              "IOPS");
        }
      }
    }
    if (fresh.isEmpty()) {
      claims.add(new ClaimAnswer(CLAIM_PREALLOCATION, PREALLOCATION, ClaimAnswer.NOT_MEASURED,
          List.of("needs the qcow2-off and qcow2-metadata layouts")));
      return;
    }
    long slowerModes = fresh.stream().filter(Comparison::slower).count();
    boolean immense = fresh.stream().anyMatch(c -> c.slower() && c.factor() >= 2);
    boolean steadySlower = steady != null && steady.comparison.slower();
    String answer = slowerModes == fresh.size() && immense && steadySlower ? ClaimAnswer.SUPPORTED
        : slowerModes > 0 ? ClaimAnswer.PARTLY : ClaimAnswer.NOT_SUPPORTED;
    claims.add(new ClaimAnswer(CLAIM_PREALLOCATION, PREALLOCATION, answer, because));
  }

  // ---- metadata

  /**
   * Metadata after the first writes, per qcow2 layout; then the seed's 66 GiB disk estimated from this run: the
   * fixed part (the metadata of a new image without preallocation: header, L1 and refcount tables) plus the
   * largest growth per byte of virtual disk measured here (L2 tables and refcount blocks), since a small test
   * image makes the fixed part look large.
   */
  private void metadata() {
    Optional<SpaceBreakdown> fresh = breakdowns.stream()
        .filter(b -> b.layout().equals(Layout.QCOW2_OFF.key()) && b.stage().equals(LayoutBreakdown.CREATED))
        .map(LayoutBreakdown::breakdown).findFirst();
    double worstRate = -1;
    String worstText = null;
    for (LayoutBreakdown b : breakdowns) {
      SpaceBreakdown s = b.breakdown();
      if (!s.format().equals("qcow2") || !b.stage().equals(LayoutBreakdown.FIRST_WRITES)) {
        continue;
      }
      String text = "qcow2 metadata for this " + bytes(s.virtualSize()) + " image (" + b.layout() + ", after the first writes): "
          + bytes(s.metadata()) + " (" + percent((double) s.metadata() / s.virtualSize()) + " of the virtual size); data "
          + bytes(s.data()) + ", preallocated zeroes " + bytes(s.zero()) + ", unused " + bytes(s.unused());
      verdicts.add(new Verdict(METADATA, text, true));
      double rate = (double) (s.metadata() - fresh.map(SpaceBreakdown::metadata).orElse(0L)) / s.virtualSize();
      if (rate > worstRate) {
        worstRate = rate;
        worstText = text;
      }
    }
    if (worstText == null || fresh.isEmpty()) {
      claims.add(new ClaimAnswer(CLAIM_METADATA, METADATA, ClaimAnswer.NOT_MEASURED,
          List.of("needs the qcow2-off layout (for the fixed part) and a qcow2 layout after its first writes")));
      return;
    }
    long fixed = fresh.get().metadata();
    long estimate = fixed + Math.round(Math.max(0, worstRate) * SEED_DISK);
    double fraction = (double) estimate / SEED_DISK;
    String scaled = "a 66 GiB disk would carry about " + bytes(estimate) + " of qcow2 metadata (" + percent(fraction)
        + "): a new image's " + bytes(fixed) + " plus the largest growth measured here, " + bytes(Math.round(Math.max(0, worstRate) * (1L << 30)))
        + " per GiB of virtual disk";
    verdicts.add(new Verdict(METADATA, scaled, true));
    String answer = fraction >= 0.10 ? ClaimAnswer.SUPPORTED : fraction >= 0.01 ? ClaimAnswer.PARTLY : ClaimAnswer.NOT_SUPPORTED;
    claims.add(new ClaimAnswer(CLAIM_METADATA, METADATA, answer, List.of(worstText, scaled)));
  }

  // ---- discard

  private void discard() {
    List<String> because = new ArrayList<>();
    int thin = 0;
    int thinReturned = 0;
    boolean ignoreKept = true;
    for (DiscardResult d : discards) {
      long unmap = d.unmap().returned();
      long ignore = d.ignore().returned();
      boolean returned = unmap >= d.region() / 2;
      String text = "discard=unmap on " + d.layout() + " returned " + bytes(Math.max(0, unmap)) + " of the "
          + bytes(d.region()) + " written to the host (allocated " + bytes(d.unmap().before()) + " before, "
          + bytes(d.unmap().after()) + " after); discard=ignore returned "
          + (ignore <= d.region() / 20 ? "nothing (" + bytes(Math.max(0, ignore)) + ")" : bytes(ignore));
      verdicts.add(new Verdict(DISCARD, text, returned));
      if (d.layout().equals(Layout.RAW_SPARSE.key()) || d.layout().equals(Layout.QCOW2_OFF.key())) {
        thin++;
        because.add(text);
        if (returned) {
          thinReturned++;
        }
        ignoreKept &= ignore <= d.region() / 20;
      }
    }
    if (thin == 0) {
      claims.add(new ClaimAnswer(CLAIM_DISCARD, DISCARD, ClaimAnswer.NOT_MEASURED,
          List.of("needs the raw-sparse or qcow2-off layout")));
      return;
    }
    String answer = thinReturned == thin && ignoreKept ? ClaimAnswer.SUPPORTED
        : thinReturned > 0 ? ClaimAnswer.PARTLY : ClaimAnswer.NOT_SUPPORTED;
    claims.add(new ClaimAnswer(CLAIM_DISCARD, DISCARD, answer, because));
  }

  // ---- peer

  private void peer() {
    for (Workload w : Workload.values()) {
      List<PeerResult> rs = peer.stream().filter(p -> p.workload().equals(w.key()) && p.ratio() != null).toList();
      if (rs.isEmpty()) {
        continue;
      }
      Samples ratios = new Samples(rs.stream().map(PeerResult::ratio).toList());
      String aio = String.join("/", rs.stream().map(PeerResult::aio).distinct().toList());
      verdicts.add(new Verdict(PEER, "vdisk against qemu-img bench (aio=" + aio + "), " + phrase(w) + ": median ratio "
          + factor(ratios.median()) + " over " + rs.size() + " cells (from " + factor(ratios.min()) + " to "
          + factor(ratios.max()) + "; above 1 means vdisk was faster)", true));
    }
  }

  // ---- helpers

  private record Sentence(String text, Comparison comparison) {}

  /** Adds and returns the sentence comparing {@code a} (named by {@code subject}) with {@code b} (named {@code other}). */
  private Sentence compare(String topic, String subject, String other, Samples a, Samples b, String unit) {
    Comparison c = new Comparison(a, b);
    String numbers = number(a.median()) + " vs " + number(b.median()) + " " + unit;
    String text;
    if (c.measurable()) {
      text = subject + " are " + factor(c.factor()) + (c.ratio() < 1 ? " slower" : " faster") + " than " + other
          + " here (" + numbers + "; repeats spread " + percent(a.spread()) + " and " + percent(b.spread()) + ")";
    } else {
      text = subject + ": no measurable difference from " + other + " (" + factor(c.ratio()) + ", " + numbers
          + ", inside the repeats' noise of " + percent(c.noise()) + ")";
    }
    verdicts.add(new Verdict(topic, text, c.measurable()));
    return new Sentence(text, c);
  }

  /** raw-sparse when it was measured, else the first layout with cells. */
  private Optional<String> referenceLayout() {
    return cells.stream().map(CellResult::layout)
        .filter(l -> l.equals(Layout.RAW_SPARSE.key())).findFirst()
        .or(() -> cells.stream().map(CellResult::layout).findFirst());
  }

  private Samples samples(String layout, String mode, Workload w) {
    return cells.stream()
        .filter(c -> c.layout().equals(layout) && c.mode().equals(mode) && c.workload().equals(w.key()) && c.error() == null)
        .map(CellResult::result).findFirst().orElse(Samples.of());
  }

  private static String phrase(Workload w) {
    return switch (w) {
      case FRESH_QD1 -> "4 KiB first writes at depth 1";
      case FRESH_QD16 -> "4 KiB first writes at depth 16";
      case OVERWRITE_QD16 -> "4 KiB overwrites at depth 16";
      case READ_QD16 -> "4 KiB random reads at depth 16";
      case SEQ_WRITE_QD4 -> "1 MiB sequential writes at depth 4";
      case SEQ_READ_QD4 -> "1 MiB sequential reads at depth 4";
    };
  }

  static String unit(Workload w) {
    return w.sequential() ? "MB/s" : "IOPS";
  }

  /** 72,000 / 3,100 / 12.5 / 0.42: thousands separated, decimals only for small numbers. */
  static String number(double v) {
    if (v >= 100) {
      return String.format(Locale.ROOT, "%,.0f", v);
    }
    return String.format(Locale.ROOT, v >= 10 ? "%.1f" : "%.2f", v);
  }

  /** 23x, 3.4x, 1.02x. */
  static String factor(double f) {
    if (!Double.isFinite(f)) {
      return "∞x";
    }
    return String.format(Locale.ROOT, f >= 10 ? "%.0fx" : f >= 1.2 || f < 0.8 ? "%.1fx" : "%.2fx", f);
  }

  static String percent(double fraction) {
    double p = fraction * 100;
    String f = p >= 10 || p == 0 ? "%.0f%%" : p >= 1 ? "%.1f%%" : p >= 0.1 ? "%.2f%%" : "%.3f%%";
    return String.format(Locale.ROOT, f, p);
  }

  /** 0 B, 4 KiB, 1.3 MiB, 16 GiB: binary units, one decimal below 10. */
  static String bytes(long n) {
    String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = n;
    int u = 0;
    while (Math.abs(v) >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    if (u == 0) {
      return n + " B";
    }
    return String.format(Locale.ROOT, v < 10 && v != Math.rint(v) ? "%.1f %s" : "%.0f %s", v, units[u]);
  }
}
