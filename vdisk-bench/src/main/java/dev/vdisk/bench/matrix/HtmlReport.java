package dev.vdisk.bench.matrix;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

/**
 * The matrix's HTML report: one self-contained file (it opens offline) with the verdicts per question of the seed
 * post, a chart under each (Apache ECharts, its script inlined from the {@code org.webjars.npm:echarts} WebJar, drawn
 * as SVG), every cell in a table, and the machine's facts in the header. The page is built in the browser from the
 * report's JSON, embedded in it.
 */
public final class HtmlReport {
  private static final String TEMPLATE = "report.html";
  private static final String ECHARTS_POM = "META-INF/maven/org.webjars.npm/echarts/pom.properties";

  private HtmlReport() {}

  /** Writes the report for {@code report} to {@code file}, replacing it. */
  public static void write(MatrixReport report, Path file) throws IOException {
    Files.writeString(file, html(report), StandardCharsets.UTF_8);
  }

  /** The report's HTML text. */
  public static String html(MatrixReport report) {
    // Inside <script>, "</script" would end the element: '<' only occurs in JSON strings, where \u003c is the same.
    String data = MatrixJson.of(report).replace("<", "\\u003c");
    String script = echarts().replace("</script", "<\\/script");
    return template().replace("/*@ECHARTS@*/", script).replace("/*@DATA@*/", data);
  }

  private static String template() {
    try (InputStream in = HtmlReport.class.getResourceAsStream(TEMPLATE)) {
      if (in == null) {
        throw new IllegalStateException("matrix report: the template " + TEMPLATE + " is missing from the jar");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** echarts.min.js of the WebJar on the class path, whichever version the build put there. */
  static String echarts() {
    ClassLoader loader = HtmlReport.class.getClassLoader();
    try {
      Properties pom = new Properties();
      try (InputStream in = loader.getResourceAsStream(ECHARTS_POM)) {
        if (in == null) {
          throw new IllegalStateException("matrix report: the echarts WebJar is missing from the class path");
        }
        pom.load(in);
      }
      String path = "META-INF/resources/webjars/echarts/" + pom.getProperty("version") + "/dist/echarts.min.js";
      try (InputStream in = loader.getResourceAsStream(path)) {
        if (in == null) {
          throw new IllegalStateException("matrix report: " + path + " is missing from the echarts WebJar");
        }
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
