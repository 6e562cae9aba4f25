package dev.vdisk.nbd.server;

import java.io.PrintWriter;
import java.io.Writer;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

/**
 * Structured log lines: {@code ts=... level=... event=... key=value ...}, one event per line, values with
 * spaces or quotes quoted, so that {@code grep} and log shippers can take them apart.
 */
public final class EventLog {
  private final PrintWriter out;

  public EventLog(PrintWriter out) {
    this.out = out;
  }

  /** A log that drops everything. */
  public static EventLog discarding() {
    return new EventLog(new PrintWriter(Writer.nullWriter()));
  }

  /** An informational event; {@code fields} alternate key and value. */
  public void info(String event, Object... fields) {
    emit("info", event, fields);
  }

  /** A warning: something a client or an operator did wrong, the server goes on. */
  public void warn(String event, Object... fields) {
    emit("warn", event, fields);
  }

  /** An error: a failure of the server or the storage. */
  public void error(String event, Object... fields) {
    emit("error", event, fields);
  }

  private void emit(String level, String event, Object... fields) {
    StringBuilder line = new StringBuilder(128);
    line.append("ts=").append(Instant.now().truncatedTo(ChronoUnit.MILLIS)).append(" level=").append(level).append(" event=").append(event);
    for (int i = 0; i + 1 < fields.length; i += 2) {
      line.append(' ').append(fields[i]).append('=').append(quoted(String.valueOf(fields[i + 1])));
    }
    synchronized (out) {
      out.println(line);
      out.flush();
    }
  }

  private static String quoted(String v) {
    if (!v.isEmpty() && v.chars().noneMatch(c -> c == ' ' || c == '"' || c == '=' || c < 0x20)) {
      return v;
    }
    StringBuilder q = new StringBuilder(v.length() + 2).append('"');
    v.chars().forEach(c -> {
      if (c == '"' || c == '\\') {
        q.append('\\').append((char) c);
      } else if (c < 0x20) {
        q.append(String.format("\\x%02x", c));
      } else {
        q.append((char) c);
      }
    });
    return q.append('"').toString();
  }
}
