package dev.vdisk.cli;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.PrettyPrinter;
import com.fasterxml.jackson.core.util.Instantiatable;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Collection;
import java.util.Map;

/**
 * The one JSON output path: Jackson, laid out the two ways qemu-img 7.2 lays JSON out, so that scripts
 * written against qemu-img's output (including ones that compare text) keep working.
 *
 * <p>Maps (in their iteration order), collections, strings, numbers, booleans, nulls and {@link Members} are written
 * with jackson-core's streaming generator; anything else (a record of a long-running command's report) through
 * databind's ObjectMapper, with the same layout and the same bytes for the same members. The short commands'
 * output is all of the first kind: they load none of databind's classes (a few hundred, in every short command's AOT
 * cache and start-up).
 */
final class Json {
  private static final JsonFactory FACTORY = new JsonFactory();

  private Json() {}

  /** A value that gives its JSON object's members itself, in order, instead of through databind's annotations. */
  interface Members {
    /** The members, in the order they are written; a null value is written as null. */
    Map<String, ?> json();
  }

  /** QEMU's {@code qobject_to_json_pretty}: one member per line, four spaces per level, {@code "key": value}. */
  static String pretty(Object value) {
    return write(new QemuPretty(0), value);
  }

  /** One object on one line as {@code qemu-img map} prints it: <code>{ "start": 0, "length": 512}</code>. */
  static String line(Object value) {
    return write(new MapLine(), value);
  }

  private static String write(PrettyPrinter layout, Object value) {
    try {
      if (!streamable(value)) {
        return Databind.MAPPER.writer(layout).writeValueAsString(value);
      }
      StringWriter text = new StringWriter();
      try (JsonGenerator g = FACTORY.createGenerator(text)) {
        g.setPrettyPrinter(layout);
        write(g, value);
      }
      return text.toString();
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException("JSON output of " + value.getClass().getSimpleName(), e);
    } catch (IOException e) {
      throw new UncheckedIOException(e); // a StringWriter does not fail
    }
  }

  // instanceof chains rather than pattern switches: a type switch spins a class at run time, which no AOT cache holds.

  /** True if {@link #write(JsonGenerator, Object)} can write all of {@code value}. */
  private static boolean streamable(Object value) {
    if (value == null || value instanceof String || value instanceof Boolean || value instanceof Integer
        || value instanceof Long || value instanceof Short || value instanceof Double || value instanceof Float
        || value instanceof BigInteger || value instanceof BigDecimal) {
      return true;
    }
    if (value instanceof Members m) {
      return streamable(m.json());
    }
    if (value instanceof Map<?, ?> m) {
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (!(e.getKey() instanceof String) || !streamable(e.getValue())) {
          return false;
        }
      }
      return true;
    }
    if (value instanceof Collection<?> c) {
      for (Object o : c) {
        if (!streamable(o)) {
          return false;
        }
      }
      return true;
    }
    return false;
  }

  /** Writes {@code value} as databind writes it (its serializers call the same generator methods). */
  private static void write(JsonGenerator g, Object value) throws IOException {
    if (value == null) {
      g.writeNull();
    } else if (value instanceof String s) {
      g.writeString(s);
    } else if (value instanceof Boolean b) {
      g.writeBoolean(b);
    } else if (value instanceof Integer i) {
      g.writeNumber(i);
    } else if (value instanceof Long l) {
      g.writeNumber(l);
    } else if (value instanceof Short s) {
      g.writeNumber(s);
    } else if (value instanceof Double d) {
      g.writeNumber(d);
    } else if (value instanceof Float f) {
      g.writeNumber(f);
    } else if (value instanceof BigInteger b) {
      g.writeNumber(b);
    } else if (value instanceof BigDecimal b) {
      g.writeNumber(b);
    } else if (value instanceof Members m) {
      write(g, m.json());
    } else if (value instanceof Map<?, ?> m) {
      g.writeStartObject();
      for (Map.Entry<?, ?> e : m.entrySet()) {
        g.writeFieldName((String) e.getKey());
        write(g, e.getValue());
      }
      g.writeEndObject();
    } else {
      g.writeStartArray();
      for (Object o : (Collection<?>) value) {
        write(g, o);
      }
      g.writeEndArray();
    }
  }

  /** databind, loaded only by output that needs it. */
  private static final class Databind {
    static final ObjectMapper MAPPER = new ObjectMapper();
  }

  /** QEMU 7.2's pretty layout; empty containers print as <code>{\n}</code> like QEMU's. */
  private static final class QemuPretty implements PrettyPrinter, Instantiatable<QemuPretty> {
    private int level;

    QemuPretty(int level) {
      this.level = level;
    }

    @Override
    public QemuPretty createInstance() {
      return new QemuPretty(0);
    }

    private void newline(JsonGenerator g) throws IOException {
      g.writeRaw('\n');
      for (int i = 0; i < level; i++) {
        g.writeRaw("    ");
      }
    }

    @Override
    public void writeRootValueSeparator(JsonGenerator g) {}

    @Override
    public void writeStartObject(JsonGenerator g) throws IOException {
      g.writeRaw('{');
      level++;
    }

    @Override
    public void beforeObjectEntries(JsonGenerator g) throws IOException {
      newline(g);
    }

    @Override
    public void writeObjectFieldValueSeparator(JsonGenerator g) throws IOException {
      g.writeRaw(": ");
    }

    @Override
    public void writeObjectEntrySeparator(JsonGenerator g) throws IOException {
      g.writeRaw(',');
      newline(g);
    }

    @Override
    public void writeEndObject(JsonGenerator g, int entries) throws IOException {
      level--;
      newline(g);
      g.writeRaw('}');
    }

    @Override
    public void writeStartArray(JsonGenerator g) throws IOException {
      g.writeRaw('[');
      level++;
    }

    @Override
    public void beforeArrayValues(JsonGenerator g) throws IOException {
      newline(g);
    }

    @Override
    public void writeArrayValueSeparator(JsonGenerator g) throws IOException {
      g.writeRaw(',');
      newline(g);
    }

    @Override
    public void writeEndArray(JsonGenerator g, int values) throws IOException {
      level--;
      newline(g);
      g.writeRaw(']');
    }
  }

  /** qemu-img map's hand-made layout: a space after the brace, none before the closing one. */
  private static final class MapLine implements PrettyPrinter {
    @Override
    public void writeRootValueSeparator(JsonGenerator g) {}

    @Override
    public void writeStartObject(JsonGenerator g) throws IOException {
      g.writeRaw("{ ");
    }

    @Override
    public void writeEndObject(JsonGenerator g, int entries) throws IOException {
      g.writeRaw('}');
    }

    @Override
    public void writeObjectEntrySeparator(JsonGenerator g) throws IOException {
      g.writeRaw(", ");
    }

    @Override
    public void writeObjectFieldValueSeparator(JsonGenerator g) throws IOException {
      g.writeRaw(": ");
    }

    @Override
    public void writeStartArray(JsonGenerator g) throws IOException {
      g.writeRaw('[');
    }

    @Override
    public void writeEndArray(JsonGenerator g, int values) throws IOException {
      g.writeRaw(']');
    }

    @Override
    public void writeArrayValueSeparator(JsonGenerator g) throws IOException {
      g.writeRaw(", ");
    }

    @Override
    public void beforeArrayValues(JsonGenerator g) {}

    @Override
    public void beforeObjectEntries(JsonGenerator g) {}
  }
}
