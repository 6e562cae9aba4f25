package dev.vdisk.advisor.xml;

import dev.vdisk.advisor.Edits;
import dev.vdisk.advisor.model.DiskSite;
import dev.vdisk.advisor.model.Setting;
import java.util.Map;

/**
 * Writes setting changes into a domain XML's text: an attribute of {@code <driver>} is replaced in place, a missing
 * one is added after the last attribute with the element's own quote character, and a disk without
 * {@code <driver>} gets one as its first child on a line indented like its next child. Every other character
 * (comments, attribute order, indentation, line endings) is kept.
 */
public final class XmlFixer {
  private XmlFixer() {}

  /**
   * {@code text} with {@code changes} made.
   *
   * @param changes per disk (sites from {@link DomainXmlParser} on this same text), the settings to set; settings
   *     without a libvirt attribute are skipped
   */
  public static String fix(String text, Map<DiskSite, Map<Setting, String>> changes) {
    Edits edits = new Edits();
    changes.forEach((site, settings) -> edit(text, (XmlDiskSite) site, settings, edits));
    return edits.applyTo(text);
  }

  private static void edit(String text, XmlDiskSite site, Map<Setting, String> settings, Edits edits) {
    TagScanner.StartTag driver = site.driver();
    if (driver == null) {
      StringBuilder tag = new StringBuilder("<driver name='qemu'");
      settings.forEach((s, v) -> {
        if (s.xmlAttribute() != null) {
          tag.append(' ').append(s.xmlAttribute()).append("='").append(escape(v, '\'')).append('\'');
        }
      });
      edits.insert(site.disk().end(), indentAfter(text, site.disk().end()) + tag + "/>");
      return;
    }
    char quote = driver.attributes().isEmpty() ? '\'' : driver.attributes().getFirst().quote();
    StringBuilder added = new StringBuilder();
    settings.forEach((s, v) -> {
      if (s.xmlAttribute() == null) {
        return;
      }
      TagScanner.Attribute a = driver.attribute(s.xmlAttribute());
      if (a != null) {
        edits.replace(a.valueStart(), a.valueEnd(), escape(v, a.quote()));
      } else {
        added.append(' ').append(s.xmlAttribute()).append('=').append(quote).append(escape(v, quote)).append(quote);
      }
    });
    if (!added.isEmpty()) {
      edits.insert(driver.afterAttributes(), added.toString());
    }
  }

  /** The line break and indentation before the next child of the element whose start tag ends at {@code at}. */
  private static String indentAfter(String text, int at) {
    int i = at;
    while (i < text.length() && Character.isWhitespace(text.charAt(i))) {
      i++;
    }
    String ws = text.substring(at, i);
    int lastBreak = ws.lastIndexOf('\n');
    if (lastBreak < 0) {
      return ""; // children on the same line: the new one joins them there
    }
    boolean crlf = lastBreak > 0 && ws.charAt(lastBreak - 1) == '\r';
    return (crlf ? "\r\n" : "\n") + ws.substring(lastBreak + 1);
  }

  private static String escape(String v, char quote) {
    return v.replace("&", "&amp;").replace("<", "&lt;").replace(String.valueOf(quote), quote == '\'' ? "&apos;" : "&quot;");
  }
}
