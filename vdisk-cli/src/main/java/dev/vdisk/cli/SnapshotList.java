package dev.vdisk.cli;

import dev.vdisk.format.Snapshot;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Internal snapshots as qemu-img lists them: the JSON objects of {@code info} and the table of {@code snapshot -l}. */
final class SnapshotList {
  private static final long NANOS = 1_000_000_000L;
  private static final DateTimeFormatter DATE = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");

  private SnapshotList() {}

  /** QEMU's SnapshotInfo ({@link #json()}); {@code icount} is absent where none was recorded. */
  record Entry(Long icount, long vmClockNsec, String name, long dateSec, long dateNsec, long vmClockSec, String id,
      long vmStateSize) implements Json.Members {
    /** The members in qemu-img 7.2's order. */
    @Override
    public Map<String, Object> json() {
      Map<String, Object> m = new LinkedHashMap<>();
      if (icount != null) {
        m.put("icount", icount);
      }
      m.put("vm-clock-nsec", vmClockNsec);
      m.put("name", name);
      m.put("date-sec", dateSec);
      m.put("date-nsec", dateNsec);
      m.put("vm-clock-sec", vmClockSec);
      m.put("id", id);
      m.put("vm-state-size", vmStateSize);
      return m;
    }
  }

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
