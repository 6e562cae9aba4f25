package dev.vdisk.advisor.facts;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The QEMU version the rules judge a configuration against, and where that number came from.
 *
 * @param major QEMU's major version
 * @param minor QEMU's minor version
 * @param source how it was found: {@code --qemu-version}, the tool that printed it, or that it is an assumption
 */
public record QemuVersion(int major, int minor, String source) {
  /** What the rules assume when no QEMU is installed and none is given: Debian 12's, the version the quoted measurements used. */
  public static final QemuVersion ASSUMED = new QemuVersion(7, 2,
      "assumed (no qemu-system-x86_64 or qemu-img found; give --qemu-version X.Y)");

  private static final Pattern GIVEN = Pattern.compile("(\\d+)\\.(\\d+)(?:\\.\\d+)?");
  private static final Pattern PRINTED = Pattern.compile("version (\\d+)\\.(\\d+)");

  /**
   * Parses {@code X.Y} or {@code X.Y.Z} as given on the command line.
   *
   * @throws IllegalArgumentException naming the text and the expected form
   */
  public static QemuVersion parse(String text) {
    Matcher m = GIVEN.matcher(text.trim());
    if (!m.matches()) {
      throw new IllegalArgumentException("--qemu-version: '" + text + "' (expected: X.Y, for example 7.2)");
    }
    return new QemuVersion(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), "--qemu-version");
  }

  /** The installed QEMU's version ({@code qemu-system-x86_64 --version}, else {@code qemu-img --version}), else {@link #ASSUMED}. */
  public static QemuVersion detect() {
    for (String tool : List.of("qemu-system-x86_64", "qemu-img")) {
      String printed = run(tool);
      Matcher m = printed == null ? null : PRINTED.matcher(printed);
      if (m != null && m.find()) {
        return new QemuVersion(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), tool + " --version");
      }
    }
    return ASSUMED;
  }

  private static String run(String tool) {
    try {
      Process p = new ProcessBuilder(tool, "--version").redirectErrorStream(true).start();
      try (InputStream in = p.getInputStream()) {
        String text = new String(in.readNBytes(4096), StandardCharsets.UTF_8);
        return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0 ? text : null;
      } finally {
        p.destroy();
      }
    } catch (IOException e) {
      return null; // not installed
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  /** True if this version is {@code major.minor} or later. */
  public boolean atLeast(int major, int minor) {
    return this.major > major || (this.major == major && this.minor >= minor);
  }

  /** {@code X.Y}. */
  public String number() {
    return major + "." + minor;
  }
}
