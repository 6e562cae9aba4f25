package dev.vdisk.advisor.qemu;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A split command line and the parsed arguments of its {@code -drive}, {@code -blockdev} and {@code -device}
 * options, by word index; the printed form after changes keeps every other word as given.
 */
public final class QemuCmdline {
  private final List<String> words;
  private final Map<Integer, OptionArg> args;

  QemuCmdline(List<String> words, Map<Integer, OptionArg> args) {
    this.words = List.copyOf(words);
    this.args = args;
  }

  /** The command line with the recorded changes, one shell-quoted word after another. */
  public String text() {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < words.size(); i++) {
      OptionArg arg = args.get(i);
      out.add(ShellWords.quote(arg == null ? words.get(i) : arg.text()));
    }
    return String.join(" ", out);
  }
}
