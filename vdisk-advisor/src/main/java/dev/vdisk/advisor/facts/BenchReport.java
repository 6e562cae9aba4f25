package dev.vdisk.advisor.facts;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalDouble;

/**
 * The few numbers the rules quote from a {@code vdisk bench --matrix --output=json} report: IOPS per layout, cache
 * mode and workload, measured on the user's storage. Tolerant by design: cells may be missing (a rule then falls
 * back to the generic fact), and unknown members are ignored.
 *
 * <p>Shape read (the matrix report's, as agreed so far): a top-level {@code "cells"} array (or {@code "results"});
 * each cell has {@code "layout"} (raw-sparse, raw-falloc, raw-full, qcow2-off, qcow2-metadata, qcow2-falloc,
 * qcow2-full; spellings such as {@code "qcow2 preallocation=off"} are normalised), {@code "cache"} (or
 * {@code "mode"}), {@code "workload"} (fresh-4k-qd16, overwrite-4k-qd16, read-4k-qd16, ...) and {@code "iops"},
 * either directly or inside a {@code "vdisk"} object.
 */
public final class BenchReport {
  /** The workload of first writes into unallocated space. */
  public static final String FRESH = "fresh-4k-qd16";
  /** The workload of overwrites of allocated space. */
  public static final String OVERWRITE = "overwrite-4k-qd16";

  private record Cell(String layout, String cache, String workload, double iops) {}

  /**
   * Two measured cells and their quotient.
   *
   * @param better the faster configuration's IOPS
   * @param worse the slower one's
   */
  public record Ratio(double better, double worse) {
    public double times() {
      return better / worse;
    }

    /** {@code 23.1x (72,000 vs 3,100 IOPS)}. */
    public String quote() {
      return String.format(Locale.ROOT, "%.1fx (%,.0f vs %,.0f IOPS)", times(), better, worse);
    }
  }

  private final String source;
  private final List<Cell> cells;

  private BenchReport(String source, List<Cell> cells) {
    this.source = source;
    this.cells = cells;
  }

  /**
   * Reads a report.
   *
   * @throws IOException if the file cannot be read or is not JSON with a cells array
   */
  public static BenchReport read(Path file) throws IOException {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(file.toFile());
    } catch (JsonProcessingException e) {
      throw new IOException("--bench " + file + ": not a JSON document (" + e.getOriginalMessage()
          + "; expected: the output of vdisk bench --matrix --output=json)", e);
    }
    JsonNode array = root == null ? null : root.has("cells") ? root.get("cells") : root.get("results");
    if (array == null || !array.isArray()) {
      throw new IOException("--bench " + file + ": no \"cells\" array (expected: the output of vdisk bench --matrix"
          + " --output=json)");
    }
    List<Cell> cells = new ArrayList<>();
    for (JsonNode c : array) {
      String layout = text(c, "layout");
      String cache = text(c, "cache") != null ? text(c, "cache") : text(c, "mode");
      String workload = text(c, "workload");
      JsonNode iops = c.path("iops").isNumber() ? c.path("iops") : c.path("vdisk").path("iops");
      if (layout != null && cache != null && workload != null && iops.isNumber() && iops.asDouble() > 0) {
        cells.add(new Cell(normalise(layout), cache.toLowerCase(Locale.ROOT), workload, iops.asDouble()));
      }
    }
    return new BenchReport(file.getFileName().toString(), List.copyOf(cells));
  }

  private static String text(JsonNode node, String key) {
    JsonNode v = node.get(key);
    return v != null && v.isTextual() ? v.asText() : null;
  }

  /** {@code "qcow2 preallocation=off"}, {@code "qcow2-off"} and {@code "QCOW2_OFF"} are one layout: qcow2off. */
  static String normalise(String layout) {
    return layout.toLowerCase(Locale.ROOT).replace("preallocation", "").replaceAll("[^a-z0-9]", "");
  }

  /** The report's file name, for quoting. */
  public String source() {
    return source;
  }

  /** The IOPS of one cell, if the report has it. */
  public OptionalDouble iops(String layout, String cache, String workload) {
    String l = normalise(layout);
    return cells.stream().filter(c -> c.layout.equals(l) && c.cache.equals(cache) && c.workload.equals(workload))
        .mapToDouble(Cell::iops).findFirst();
  }

  /** {@code better / worse} where both cells were measured. */
  public Optional<Ratio> ratio(String betterLayout, String betterCache, String worseLayout, String worseCache,
      String workload) {
    OptionalDouble b = iops(betterLayout, betterCache, workload);
    OptionalDouble w = iops(worseLayout, worseCache, workload);
    return b.isPresent() && w.isPresent() ? Optional.of(new Ratio(b.getAsDouble(), w.getAsDouble())) : Optional.empty();
  }
}
