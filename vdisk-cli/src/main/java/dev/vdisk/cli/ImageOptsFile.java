package dev.vdisk.cli;

import dev.vdisk.format.internal.OptionString;
import java.util.Map;
import java.util.Set;

/**
 * {@code vdisk serve --image-opts}'s FILE: the subset of QEMU's block options that names a local image,
 * {@code driver=raw|qcow2,file.filename=PATH} ({@code file.driver=file} and {@code file=PATH} are accepted too).
 * Other keys are refused with one line rather than ignored. An RBD image ({@code driver=rbd,...} or
 * {@code driver=FMT,file.driver=rbd,file.pool=...}) becomes its {@code rbd:} file name ({@link RbdOpts}).
 *
 * @param format the format driver
 * @param file the image's path
 */
record ImageOptsFile(String format, String file) {
  private static final Set<String> KEYS = Set.of("driver", "file", "file.filename", "file.driver");
  private static final String EXPECTED = "expected: driver=raw|qcow2,file.filename=PATH";

  /** Parses FILE given with {@code --image-opts}. */
  static ImageOptsFile parse(String text) {
    Map<String, String> kv;
    try {
      kv = OptionString.parse(text);
    } catch (IllegalArgumentException e) {
      throw new CliException("--image-opts: " + e.getMessage() + " (" + EXPECTED + ")");
    }
    if ("rbd".equals(kv.get("driver")) || "rbd".equals(kv.get("file.driver"))) {
      return RbdOpts.parse(text, kv);
    }
    for (String k : kv.keySet()) {
      if (!KEYS.contains(k)) {
        throw new CliException("--image-opts: key '" + k + "' is not supported (" + EXPECTED + ")");
      }
    }
    String driver = kv.get("driver");
    if (driver == null || !(driver.equals("raw") || driver.equals("qcow2"))) {
      throw new CliException("--image-opts: driver=" + driver + " (" + EXPECTED + ")");
    }
    if (!kv.getOrDefault("file.driver", "file").equals("file")) {
      throw new CliException("--image-opts: file.driver=" + kv.get("file.driver") + " (expected: file, a local file)");
    }
    String file = kv.getOrDefault("file.filename", kv.get("file"));
    if (file == null || file.isEmpty()) {
      throw new CliException("--image-opts: '" + text + "' names no file (" + EXPECTED + ")");
    }
    return new ImageOptsFile(driver, file);
  }
}
