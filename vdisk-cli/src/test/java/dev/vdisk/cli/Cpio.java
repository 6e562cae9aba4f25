package dev.vdisk.cli;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Writes a cpio archive in the "newc" format the Linux kernel unpacks as an initramfs. */
final class Cpio {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private int inode = 1;

  /** A directory entry ({@code name} without a leading slash). */
  Cpio directory(String name) {
    entry(name, 0040755, new byte[0]);
    return this;
  }

  /** An executable file. */
  Cpio file(String name, byte[] data) {
    entry(name, 0100755, data);
    return this;
  }

  /** The archive, with its trailer. */
  byte[] finish() {
    entry("TRAILER!!!", 0, new byte[0]);
    return out.toByteArray();
  }

  private void entry(String name, int mode, byte[] data) {
    byte[] n = (name + "\0").getBytes(StandardCharsets.UTF_8);
    int[] fields = {inode++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, n.length, 0};
    StringBuilder h = new StringBuilder("070701");
    for (int f : fields) {
      h.append(String.format("%08x", f));
    }
    out.writeBytes(h.toString().getBytes(StandardCharsets.US_ASCII));
    out.writeBytes(n);
    pad();
    out.writeBytes(data);
    pad();
  }

  private void pad() {
    while (out.size() % 4 != 0) {
      out.write(0);
    }
  }
}
