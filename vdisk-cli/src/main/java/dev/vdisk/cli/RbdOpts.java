package dev.vdisk.cli;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.io.rbd.RbdName;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code --image-opts} for an image on RBD, as QEMU spells it: {@code driver=rbd,pool=P,image=I[,namespace=N]
 * [,snapshot=S][,conf=PATH][,user=ID]} (a raw image), or {@code driver=FMT,file.driver=rbd,file.pool=P,...} (a
 * format on RBD). The result names the image in QEMU's file-name form, which every command opens.
 */
final class RbdOpts {
  private RbdOpts() {}

  /** The format and {@code rbd:} name of {@code kv}, parsed from {@code text}. */
  static ImageOptsFile parse(String text, Map<String, String> kv) {
    Map<String, String> keys = rbdKeys(kv);
    String format = format(kv);
    return new ImageOptsFile(format, name(keys).toFileName());
  }

  /**
   * The name qemu-img prints for the image {@code kv} names ({@code json:{...}} of its rbd options: the rbd driver's
   * alone for {@code driver=rbd}, inside the format's otherwise; {@code namespace} only where the options set it).
   */
  static String qemuName(Map<String, String> kv) {
    Map<String, String> keys = rbdKeys(kv);
    return name(keys).toQemuJson(bare(kv) ? null : format(kv), keys.containsKey("namespace"));
  }

  /** Whether {@code kv} opens the rbd driver alone ({@code driver=rbd}): QEMU then reports {@code rbd} as the format. */
  static boolean bare(Map<String, String> kv) {
    return "rbd".equals(kv.get("driver"));
  }

  private static String format(Map<String, String> kv) {
    String format = bare(kv) ? "raw" : kv.get("driver");
    if (format == null || !(format.equals("raw") || format.equals("qcow2"))) {
      throw new CliException("--image-opts: driver=" + format + " (expected: rbd, raw or qcow2)");
    }
    return format;
  }

  private static RbdName name(Map<String, String> rbdKeys) {
    try {
      return RbdName.fromOptions(rbdKeys);
    } catch (BlockDeviceException e) {
      throw new CliException("--image-opts: " + e.getMessage());
    }
  }

  /** The rbd driver's keys of {@code kv}, without their {@code file.} prefix (for a format on RBD) or driver. */
  private static Map<String, String> rbdKeys(Map<String, String> kv) {
    String prefix = bare(kv) ? "" : "file.";
    Map<String, String> rbd = new LinkedHashMap<>();
    kv.forEach((k, v) -> {
      if (k.equals("driver") || k.equals(prefix + "driver")) {
        return;
      }
      if (!k.startsWith(prefix)) {
        throw new CliException("--image-opts: key '" + k + "' is not supported (expected: " + prefix + "pool, "
            + prefix + "image, ... for an image on RBD)");
      }
      rbd.put(k.substring(prefix.length()), v);
    });
    return rbd;
  }
}
