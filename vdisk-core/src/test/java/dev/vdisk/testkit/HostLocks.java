package dev.vdisk.testkit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SortedSet;
import java.util.TreeSet;

/** The OFD locks the host holds on a file, as QEMU's image locking takes them: what tests compare with QEMU's. */
public final class HostLocks {
  private HostLocks() {}

  /**
   * Bytes of {@code file} under OFD locks by anyone (they carry no pid), from /proc/locks
   * ({@code N: OFDLCK ADVISORY READ -1 MAJ:MIN:INODE START END}).
   */
  public static SortedSet<Long> lockedBytes(Path file) throws IOException {
    long inode = (Long) Files.getAttribute(file, "unix:ino");
    SortedSet<Long> bytes = new TreeSet<>();
    for (String line : Files.readAllLines(Path.of("/proc/locks"))) {
      String[] f = line.trim().split("\\s+");
      if (f.length >= 8 && f[1].equals("OFDLCK") && f[5].endsWith(":" + inode)) {
        for (long b = Long.parseLong(f[6]); b <= Long.parseLong(f[7]); b++) {
          bytes.add(b);
        }
      }
    }
    return bytes;
  }
}
