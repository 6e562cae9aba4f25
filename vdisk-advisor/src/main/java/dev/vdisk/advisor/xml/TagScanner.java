package dev.vdisk.advisor.xml;

import java.util.ArrayList;
import java.util.List;

/**
 * Finds the start tags of an XML text with the character positions of their attributes, in document order, so a
 * fix can change one attribute and leave every other character as it was. Runs only on text the DOM parser has
 * accepted (well-formed, no DOCTYPE), so it needs no error handling of its own.
 */
final class TagScanner {
  /**
   * One attribute.
   *
   * @param name its name
   * @param valueStart the first character of the value (after the quote)
   * @param valueEnd the closing quote's position
   * @param quote the quote character used
   */
  record Attribute(String name, int valueStart, int valueEnd, char quote) {}

  /**
   * One start tag.
   *
   * @param name the element name
   * @param start the position of {@code <}
   * @param end the position after {@code >}
   * @param afterAttributes the position after the last attribute's closing quote, or after the name
   * @param selfClosing {@code <x/>}
   */
  record StartTag(String name, int start, int end, int afterAttributes, boolean selfClosing, List<Attribute> attributes) {
    Attribute attribute(String attr) {
      return attributes.stream().filter(a -> a.name.equals(attr)).findFirst().orElse(null);
    }
  }

  private TagScanner() {}

  /** The start tags of {@code text}, in document order. */
  static List<StartTag> scan(String text) {
    List<StartTag> tags = new ArrayList<>();
    int i = 0;
    while ((i = text.indexOf('<', i)) >= 0) {
      if (text.startsWith("<!--", i)) {
        i = text.indexOf("-->", i + 4) + 3;
      } else if (text.startsWith("<![CDATA[", i)) {
        i = text.indexOf("]]>", i + 9) + 3;
      } else if (text.startsWith("<?", i)) {
        i = text.indexOf("?>", i + 2) + 2;
      } else if (text.startsWith("</", i)) {
        i = text.indexOf('>', i) + 1;
      } else {
        StartTag tag = startTag(text, i);
        tags.add(tag);
        i = tag.end();
      }
    }
    return tags;
  }

  private static StartTag startTag(String text, int start) {
    int i = start + 1;
    int nameStart = i;
    while (!Character.isWhitespace(text.charAt(i)) && text.charAt(i) != '>' && text.charAt(i) != '/') {
      i++;
    }
    String name = text.substring(nameStart, i);
    int afterAttributes = i;
    List<Attribute> attributes = new ArrayList<>();
    while (true) {
      while (Character.isWhitespace(text.charAt(i))) {
        i++;
      }
      char c = text.charAt(i);
      if (c == '>') {
        return new StartTag(name, start, i + 1, afterAttributes, false, attributes);
      }
      if (c == '/') {
        return new StartTag(name, start, text.indexOf('>', i) + 1, afterAttributes, true, attributes);
      }
      int attrStart = i;
      while (text.charAt(i) != '=' && !Character.isWhitespace(text.charAt(i))) {
        i++;
      }
      String attr = text.substring(attrStart, i);
      i = text.indexOf('=', i) + 1;
      while (Character.isWhitespace(text.charAt(i))) {
        i++;
      }
      char quote = text.charAt(i);
      int valueStart = i + 1;
      int valueEnd = text.indexOf(quote, valueStart);
      attributes.add(new Attribute(attr, valueStart, valueEnd, quote));
      i = valueEnd + 1;
      afterAttributes = i;
    }
  }
}
