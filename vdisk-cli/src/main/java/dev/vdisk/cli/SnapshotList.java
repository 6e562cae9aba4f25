package dev.vdisk.cli;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.vdisk.format.Snapshot;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.List;

/** Internal snapshots as qemu-img lists them: the JSON objects of {@code info} and the table of {@code snapshot -l}. */
final class SnapshotList {
  private static final long NANOS = 1_000_000_000L;
  private static final DateTimeFormatter DATE = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");

  private SnapshotList() {}

  /** QEMU's SnapshotInfo, members in qemu-img 7.2's order; {@code icount} is absent where none was recorded. */
  @JsonPropertyOrder({"icount", "vm-clock-nsec", "name", "date-sec", "date-nsec", "vm-clock-sec", "id", "vm-state-size"})
  @JsonInclude(JsonInclude.Include.NON_NULL)
  record Entry(
      @JsonProperty("icount") Long icount,
      @JsonProperty("vm-clock-nsec") long vmClockNsec,
      @JsonProperty("name") String name,
      @JsonProperty("date-sec") long dateSec,
      @JsonProperty("date-nsec") long dateNsec,
      @JsonProperty("vm-clock-sec") long vmClockSec,
      @JsonProperty("id") String id,
      @JsonProperty("vm-state-size") long vmStateSize) {}

  static List<Entry> entries(List<Snapshot> snapshots) {
    return snapshots.stream()
        .map(s -> new Entry(s.icount() < 0 ? null : s.icount(), s.vmClockNanos() % NANOS, s.name(), s.dateSeconds(),
            s.dateNanos(), s.vmClockNanos() / NANOS, s.id(), s.vmStateSize()))
        .toList();
  }

  /** {@code text} padded with spaces to {@code width} bytes of UTF-8, as C's {@code %-Ns} pads (it counts bytes). */
  private static String padBytes(String text, int width) {
    int bytes = text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
    return bytes >= width ? text : text + " ".repeat(width - bytes);
  }

  /** QEMU's bdrv_snapshot_dump: a header line, then one line a snapshot, dates in local time. */
  static String table(List<Entry> entries) {
    StringBuilder s = new StringBuilder(String.format("%-10s%-17s%8s%20s%13s%11s%n", "ID", "TAG", "VM SIZE", "DATE",
        "VM CLOCK", "ICOUNT"));
    for (Entry e : entries) {
      String date = DATE.format(Instant.ofEpochSecond(e.dateSec()).atZone(ZoneId.systemDefault()));
      long secs = e.vmClockSec();
      String clock = String.format("%02d:%02d:%02d.%03d", secs / 3600, (secs / 60) % 60, secs % 60,
          e.vmClockNsec() / 1_000_000);
      s.append(String.format("%s %s %8s%20s%13s%11s%n", padBytes(e.id(), 9), padBytes(e.name(), 16),
          Sizes.human(e.vmStateSize()), date, clock, e.icount() == null ? "" : e.icount()));
    }
    return s.toString();
  }
}
