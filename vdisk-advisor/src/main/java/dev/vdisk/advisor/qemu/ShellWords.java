package dev.vdisk.advisor.qemu;

import dev.vdisk.advisor.AdviseException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Splits a command line the way a POSIX shell does for the cases command lines use: blanks separate words, single
 * quotes keep everything literal, double quotes keep everything but {@code \" \\ \$ \`}, a backslash outside
 * quotes escapes the next character, and backslash-newline joins lines. No expansion of any kind.
 */
public final class ShellWords {
  private static final Pattern PLAIN = Pattern.compile("[A-Za-z0-9_@%+=:,./-]+");

  private ShellWords() {}

  /**
   * The words of {@code text}.
   *
   * @throws AdviseException for an unterminated quote or a trailing backslash, naming the column
   */
  public static List<String> split(String text) throws AdviseException {
    List<String> words = new ArrayList<>();
    StringBuilder word = new StringBuilder();
    boolean inWord = false;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '\'') {
        int end = text.indexOf('\'', i + 1);
        if (end < 0) {
          throw new AdviseException("command line: unterminated single quote at character " + (i + 1)
              + " (expected: a closing ')");
        }
        word.append(text, i + 1, end);
        i = end;
        inWord = true;
      } else if (c == '"') {
        int j = i + 1;
        for (; j < text.length() && text.charAt(j) != '"'; j++) {
          char d = text.charAt(j);
          if (d == '\\' && j + 1 < text.length() && "\"\\$`\n".indexOf(text.charAt(j + 1)) >= 0) {
            j++;
            if (text.charAt(j) != '\n') {
              word.append(text.charAt(j));
            }
          } else {
            word.append(d);
          }
        }
        if (j >= text.length()) {
          throw new AdviseException("command line: unterminated double quote at character " + (i + 1)
              + " (expected: a closing \")");
        }
        i = j;
        inWord = true;
      } else if (c == '\\') {
        if (i + 1 >= text.length()) {
          throw new AdviseException("command line: a backslash at the end (expected: a character after it)");
        }
        char next = text.charAt(++i);
        if (next == '\n') {
          continue; // line continuation
        }
        word.append(next);
        inWord = true;
      } else if (Character.isWhitespace(c)) {
        if (inWord) {
          words.add(word.toString());
          word.setLength(0);
          inWord = false;
        }
      } else {
        word.append(c);
        inWord = true;
      }
    }
    if (inWord) {
      words.add(word.toString());
    }
    return words;
  }

  /** {@code word} as a shell reads it back: as is when plain, else in single quotes. */
  public static String quote(String word) {
    if (!word.isEmpty() && PLAIN.matcher(word).matches()) {
      return word;
    }
    return "'" + word.replace("'", "'\\''") + "'";
  }
}
