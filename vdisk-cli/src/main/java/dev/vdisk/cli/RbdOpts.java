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
    boolean bare = "rbd".equals(kv.get("driver"));
    String format = bare ? "raw" : kv.get("driver");
    String prefix = bare ? "" : "file.";
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
    if (format == null || !(format.equals("raw") || format.equals("qcow2"))) {
      throw new CliException("--image-opts: driver=" + format + " (expected: rbd, raw or qcow2)");
    }
    try {
      return new ImageOptsFile(format, RbdName.fromOptions(rbd).toFileName());
    } catch (BlockDeviceException e) {
      throw new CliException("--image-opts: " + e.getMessage());
    }
  }
}
