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
 * @param keySecret the id of the secret holding an encrypted qcow2 image's password ({@code encrypt.key-secret}, only
 *     where {@link #parseWithKey} takes it), or null
 */
record ImageOptsFile(String format, String file, String keySecret) {
  private static final Set<String> KEYS = Set.of("driver", "file", "file.filename", "file.driver");
  private static final String KEY_SECRET = "encrypt.key-secret";
  private static final String EXPECTED = "expected: driver=raw|qcow2,file.filename=PATH";

  /** An image without a key. */
  ImageOptsFile(String format, String file) {
    this(format, file, null);
  }

  /** Parses FILE given with {@code --image-opts}; {@code encrypt.key-secret} is refused, as every other key. */
  static ImageOptsFile parse(String text) {
    return parse(text, false);
  }

  /** {@link #parse}, taking {@code encrypt.key-secret=ID} with {@code driver=qcow2} (a command that reads with a key). */
  static ImageOptsFile parseWithKey(String text) {
    return parse(text, true);
  }

  private static ImageOptsFile parse(String text, boolean key) {
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
      if (!KEYS.contains(k) && !(key && k.equals(KEY_SECRET) && "qcow2".equals(kv.get("driver")))) {
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
    return new ImageOptsFile(driver, file, kv.get(KEY_SECRET));
  }
}
