package dev.vdisk.bench.matrix;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The checks before the matrix overwrites a block device ({@code --device}): the user named the same device again
 * with {@code --destroy-data-on}, it is a block device, and nothing uses it: not mounted (nor a partition of it),
 * not swap, not held by the kernel (LVM, RAID, dm-crypt: {@code /sys/class/block/X/holders}), and not open in any
 * process this user can see ({@code /proc/PID/fd}).
 */
public final class DeviceGuard {
  private DeviceGuard() {}

  /**
   * Returns the device's real path when every check passes.
   *
   * @param confirm what {@code --destroy-data-on} named, or null
   * @throws IllegalArgumentException naming the first check that failed
   */
  public static Path check(Path device, Path confirm) throws IOException {
    if (!Files.exists(device)) {
      throw new IllegalArgumentException("--device: " + device + ": no such device (expected: a block device such as /dev/vg/scratch)");
    }
    Path real = device.toRealPath();
    if (confirm == null || !Files.exists(confirm) || !confirm.toRealPath().equals(real)) {
      throw new IllegalArgumentException("--device " + device + " destroys the data on it (expected: --destroy-data-on "
          + device + " to confirm)");
    }
    int mode = (Integer) Files.getAttribute(real, "unix:mode");
    if ((mode & 0170000) != 0060000) {
      throw new IllegalArgumentException("--device: " + device + " is not a block device (expected: a block device; "
          + "for a file use --dir)");
    }
    for (String source : mountSources()) {
      if (source.equals(real.toString()) || source.startsWith(real + "p") || source.matches(Pattern.quote(real.toString()) + "[0-9]+")) {
        throw new IllegalArgumentException("--device: " + device + " is mounted or has a mounted partition (" + source
            + ") (expected: a device nothing uses)");
      }
    }
    Path holders = Path.of("/sys/class/block", real.getFileName().toString(), "holders");
    if (Files.isDirectory(holders)) {
      try (DirectoryStream<Path> s = Files.newDirectoryStream(holders)) {
        for (Path h : s) {
          throw new IllegalArgumentException("--device: " + device + " is held by " + h.getFileName()
              + " (expected: a device nothing uses)");
        }
      }
    }
    String openBy = openBy(real);
    if (openBy != null) {
      throw new IllegalArgumentException("--device: " + device + " is open in process " + openBy
          + " (expected: a device nothing uses)");
    }
    return real;
  }

  /** The sources of /proc/mounts and the devices of /proc/swaps, resolved where they exist. */
  private static List<String> mountSources() throws IOException {
    List<String> out = new ArrayList<>();
    for (String file : List.of("/proc/mounts", "/proc/swaps")) {
      Path p = Path.of(file);
      if (!Files.exists(p)) {
        continue;
      }
      for (String line : Files.readAllLines(p)) {
        String source = line.split("\\s+")[0];
        if (source.startsWith("/")) {
          Path s = Path.of(source);
          out.add(Files.exists(s) ? s.toRealPath().toString() : source);
        }
      }
    }
    return out;
  }

  /** The pid and command of a process that has {@code device} open, or null. */
  private static String openBy(Path device) {
    try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path proc : procs) {
        if (proc.getFileName().toString().equals(Long.toString(ProcessHandle.current().pid()))) {
          continue;
        }
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(proc.resolve("fd"))) {
          for (Path fd : fds) {
            if (Files.readSymbolicLink(fd).equals(device)) {
              return proc.getFileName() + " (" + Files.readString(proc.resolve("comm")).strip() + ")";
            }
          }
        } catch (IOException e) {
          // Gone meanwhile, or not ours to read: nothing to see.
        }
      }
    } catch (IOException e) {
      // No /proc: the other checks stand.
    }
    return null;
  }
}
