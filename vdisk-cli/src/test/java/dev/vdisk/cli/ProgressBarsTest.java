package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.ops.Progress;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.HashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class ProgressBarsTest {
  private static final long MIB = 1 << 20;

  /** The totals the bar showed, in MiB. */
  private static Set<String> totals(String drawn) {
    Set<String> totals = new HashSet<>();
    Matcher m = Pattern.compile(" \\d+/(\\d+)MiB ").matcher(drawn);
    while (m.find()) {
      totals.add(m.group(1));
    }
    return totals;
  }

  @Test
  void theTotalIsTheFirstUpdatesAndTheBarNeverPassesIt() throws InterruptedException {
    StringWriter err = new StringWriter();
    Progress bar = ProgressBars.start("convert", true, new PrintWriter(err));
    Thread.sleep(300);
    bar.update(0, 3 * MIB);
    bar.update(2 * MIB, 3 * MIB);
    Thread.sleep(300);
    bar.update(5 * MIB, 3 * MIB);
    ProgressBars.finish(bar);
    assertThat(totals(err.toString())).containsExactly("3");
    assertThat(err.toString()).contains(" 3/3MiB ").doesNotContain(" 5/");
  }
}
