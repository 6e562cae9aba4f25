package dev.vdisk.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * LUKS encrypted qcow2 images made by qemu-img and written by qemu-io, with the secret {@link #PASSWORD} as
 * {@code sec0}.
 */
final class EncryptedPeers {
  static final String PASSWORD = "123456";
  /** QEMU's secret object for the password, as qemu-img and vdisk take it. */
  static final String SECRET = "secret,id=sec0,data=" + PASSWORD;

  private EncryptedPeers() {}

  /**
   * Creates {@code image} with qemu-img, encrypted with LUKS and {@code encrypt.iter-time=10} plus {@code options}
   * (comma-separated {@code encrypt.*} options, may be empty, then more of qemu-img's arguments after a space: {@code
   * -b base.qcow2 -F qcow2}). qemu-img times PBKDF2 with the thread's CPU clock and
   * fails now and then ("Unable to get accurate CPU usage" when a round reads 0 ms of that clock): tried again.
   */
  static void create(Path dir, Path image, String size, String options) throws Exception {
    String[] words = options.split(" ");
    List<String> cmd = new ArrayList<>(List.of("qemu-img", "create", "-q", "-f", "qcow2", "--object", SECRET, "-o",
        "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10" + (words[0].isEmpty() ? "" : "," + words[0])));
    cmd.addAll(List.of(words).subList(1, words.length));
    cmd.addAll(List.of(image.toString(), size));
    PeerTools.Result r = PeerTools.run(dir, cmd.toArray(String[]::new));
    // 6 of 20 creates failed so on a quiet machine (sha224, 2026-12-06), and failures come in runs: many tries, apart.
    for (int i = 0; i < 30 && r.exit() != 0 && r.err().contains("Unable to get accurate CPU usage"); i++) {
      Thread.sleep(20);
      r = PeerTools.run(dir, cmd.toArray(String[]::new));
    }
    if (r.exit() != 0) {
      throw new AssertionError(String.join(" ", cmd) + ": exit " + r.exit() + "\n" + r.err());
    }
  }

  /** Runs qemu-io's {@code commands} on the encrypted {@code image}, failing on an error. */
  static String qemuIo(Path dir, Path image, String... commands) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("qemu-io", "--object", SECRET, "--image-opts"));
    for (String c : commands) {
      cmd.addAll(List.of("-c", c));
    }
    cmd.add(imageOpts(image));
    String out = PeerTools.check(dir, cmd.toArray(String[]::new));
    if (out.contains("Pattern verification failed")) {
      throw new AssertionError(out);
    }
    return out;
  }

  /** The {@code --image-opts} of an encrypted qcow2 file, qemu-img's spelling. */
  static String imageOpts(Path image) {
    return "driver=qcow2,file.filename=" + image + ",encrypt.key-secret=sec0";
  }
}
