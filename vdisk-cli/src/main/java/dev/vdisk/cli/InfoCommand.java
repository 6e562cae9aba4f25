package dev.vdisk.cli;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.vdisk.format.OpenImage;
import dev.vdisk.io.CacheMode;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk info [-f fmt] [-U] [--output=human|json] FILE}: qemu-img info's fields, human and JSON text.
 * Opens the image read-only.
 */
@Command(name = "info", mixinStandardHelpOptions = true, description = "Show an image's format and sizes.")
final class InfoCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Mixin ImageOptions image;

  @Mixin OutputOption output;

  @Parameters(index = "0", paramLabel = "FILE", description = "The image.")
  String file;

  /** qemu-img info's JSON object, members in the order qemu-img 7.2 prints them. */
  @JsonPropertyOrder({"virtual-size", "filename", "format", "actual-size", "format-specific", "dirty-flag"})
  @JsonInclude(JsonInclude.Include.NON_NULL)
  record Info(
      @JsonProperty("virtual-size") long virtualSize,
      @JsonProperty("filename") String filename,
      @JsonProperty("format") String format,
      @JsonProperty("actual-size") long actualSize,
      @JsonProperty("format-specific") FormatSpecific formatSpecific,
      @JsonProperty("dirty-flag") boolean dirtyFlag) {}

  /** {@code "format-specific": {"type": fmt, "data": {...}}}. */
  record FormatSpecific(@JsonProperty("type") String type, @JsonProperty("data") Map<String, Object> data) {}

  @Override
  public Integer call() throws IOException {
    boolean json = output.json();
    Info info;
    try (OpenImage img = image.open(file, CacheMode.WRITEBACK, true, main.err())) {
      Map<String, Object> specific = img.format().formatSpecific(img.device());
      info = new Info(img.device().size(), file, img.format().name(), img.file().allocatedBytes(),
          specific.isEmpty() ? null : new FormatSpecific(img.format().name(), specific), false);
    }
    PrintWriter out = main.out();
    if (json) {
      out.println(Json.pretty(info));
    } else {
      out.print(human(info));
    }
    return 0;
  }

  /** qemu-img 7.2's human form. */
  static String human(Info info) {
    StringBuilder s = new StringBuilder();
    s.append("image: ").append(info.filename()).append('\n');
    s.append("file format: ").append(info.format()).append('\n');
    s.append("virtual size: ").append(Sizes.human(info.virtualSize())).append(" (").append(info.virtualSize()).append(" bytes)\n");
    s.append("disk size: ").append(info.actualSize() < 0 ? "unavailable" : Sizes.human(info.actualSize())).append('\n');
    if (info.formatSpecific() != null) {
      s.append("Format specific information:\n");
      dump(s, 1, info.formatSpecific().data());
    }
    return s.toString();
  }

  /** QEMU's dump_qdict/dump_qlist: {@code key: value} four spaces a level, dashes in keys shown as spaces. */
  private static void dump(StringBuilder s, int level, Object value) {
    if (value instanceof Map<?, ?> map) {
      map.forEach((k, v) -> {
        s.append("    ".repeat(level)).append(k.toString().replace('-', ' ')).append(':');
        entry(s, level, v);
      });
    } else if (value instanceof List<?> list) {
      for (int i = 0; i < list.size(); i++) {
        s.append("    ".repeat(level)).append('[').append(i).append("]:");
        entry(s, level, list.get(i));
      }
    }
  }

  private static void entry(StringBuilder s, int level, Object v) {
    if (v instanceof Map<?, ?> || v instanceof List<?>) {
      s.append('\n');
      dump(s, level + 1, v);
    } else {
      s.append(' ').append(v).append('\n');
    }
  }
}
