package dev.vdisk.advisor.facts;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the host the advisor runs on offers; the advice assumes the VM runs on this host too.
 *
 * @param kernel the kernel release ({@code uname -r}), or "unknown"
 * @param ioUring the kernel has io_uring (Linux 5.1 and later) and it is not disabled by
 *     {@code kernel.io_uring_disabled=2}
 */
public record HostFacts(String kernel, boolean ioUring) {
  private static final Pattern RELEASE = Pattern.compile("(\\d+)\\.(\\d+)");

  /** This host's facts, read from /proc. */
  public static HostFacts detect() {
    String kernel = read(Path.of("/proc/sys/kernel/osrelease"));
    String disabled = read(Path.of("/proc/sys/kernel/io_uring_disabled"));
    return new HostFacts(kernel == null ? "unknown" : kernel,
        kernelAtLeast(kernel, 5, 1) && !"2".equals(disabled));
  }

  static boolean kernelAtLeast(String release, int major, int minor) {
    Matcher m = release == null ? null : RELEASE.matcher(release);
    if (m == null || !m.lookingAt()) {
      return false;
    }
    int a = Integer.parseInt(m.group(1));
    int b = Integer.parseInt(m.group(2));
    return a > major || (a == major && b >= minor);
  }

  private static String read(Path p) {
    try {
      return Files.readString(p).trim();
    } catch (IOException e) {
      return null; // not Linux, or not this version's knob
    }
  }
}
