package dev.vdisk.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class CompletionTraceTest {
  private static final long MS = 1_000_000;

  @Test
  void countsCompletionsByIntervalOfTheRunsClock() {
    CompletionTrace trace = new CompletionTrace(10);
    long start = 123_456_789;
    trace.started(start);
    trace.completed(start + 5 * MS);
    trace.completed(start + 10 * MS);
    trace.completed(start + 19 * MS);
    trace.completed(start + 35 * MS);
    trace.ended();

    assertThat(trace.intervals()).isEqualTo(4);
    assertThat(new int[] {trace.count(0), trace.count(1), trace.count(2), trace.count(3)}).containsExactly(1, 2, 0, 1);
  }

  @Test
  void growsPastItsFirstArrayAndPrintsOneLinePerInterval() {
    CompletionTrace trace = new CompletionTrace(1);
    trace.started(0);
    trace.completed(0);
    trace.completed(199 * MS);
    trace.ended();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    trace.print(new PrintStream(bytes, true, StandardCharsets.UTF_8));

    assertThat(trace.intervals()).isEqualTo(200);
    assertThat(trace.count(199)).isEqualTo(1);
    String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n");
    assertThat(lines).hasSize(201);
    assertThat(lines[1]).contains("      0 ms").contains("      1 completions");
    assertThat(lines[200]).contains("    199 ms").contains("      1 completions");
    assertThat(lines[2]).contains("      0 completions");
  }

  @Test
  void isOffUnlessTheVariableGivesAnInterval() {
    assertThat(CompletionTrace.parse(null)).isNull();
    assertThat(CompletionTrace.parse("")).isNull();
    assertThat(CompletionTrace.parse("50")).isNotNull();
    for (String bad : new String[] {"0", "-5", "ten", "9999999999"}) {
      assertThatThrownBy(() -> CompletionTrace.parse(bad)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining(CompletionTrace.VARIABLE + "=" + bad);
    }
  }
}
