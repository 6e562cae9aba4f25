package dev.vdisk.advisor.qemu;

import dev.vdisk.advisor.model.DiskSite;
import dev.vdisk.advisor.model.Setting;
import java.util.Map;

/**
 * Writes setting changes into a command line's {@code -drive}, {@code -blockdev} and {@code -device} arguments and
 * prints it. {@code -drive} takes QEMU's sugar keys; a {@code -blockdev} disk gets each switch on the node QEMU
 * reads it from: {@code cache.direct}, {@code cache.no-flush} and {@code aio} on the protocol node, {@code discard}
 * on both nodes (each node drops discards unless its own option says unmap), {@code detect-zeroes} and
 * {@code l2-cache-size} on the format node, and writethrough as the device's {@code write-cache=off}.
 */
public final class CmdlineFixer {
  private CmdlineFixer() {}

  /** The command line of {@code parsed} with {@code changes} made. */
  public static String fix(QemuCmdlineParser.Parsed parsed, Map<DiskSite, Map<Setting, String>> changes) {
    changes.forEach((site, settings) -> settings.forEach((s, v) -> apply((CmdlineSite) site, s, v)));
    return parsed.cmdline().text();
  }

  private static void apply(CmdlineSite site, Setting setting, String value) {
    if (site.drive() != null) {
      if (setting == Setting.CACHE && !site.drive().has("cache")
          && (site.drive().has("cache.direct") || site.drive().has("cache.no-flush") || site.drive().has("cache.writeback"))) {
        switches(new CmdlineSite.Node(site.drive(), ""), value, true);
      } else {
        site.drive().set(setting.driveKey(), value);
      }
      return;
    }
    CmdlineSite.Node format = site.format();
    CmdlineSite.Node protocol = site.protocol();
    CmdlineSite.Node top = format != null ? format : protocol;
    switch (setting) {
      case CACHE -> {
        switches(protocol != null ? protocol : top, value, false);
        boolean writethrough = value.equals("writethrough") || value.equals("directsync");
        if (site.device() != null && (writethrough || "off".equals(site.device().get("write-cache")))) {
          site.device().set("write-cache", writethrough ? "off" : "on");
        }
      }
      case IO -> (protocol != null ? protocol : top).set("aio", value);
      case DISCARD -> {
        top.set("discard", value);
        if (protocol != null && protocol != top) {
          protocol.set("discard", value);
        }
      }
      case DETECT_ZEROES -> top.set("detect-zeroes", value);
      case L2_CACHE_SIZE -> top.set("l2-cache-size", value);
      case FORMAT -> { } // a -blockdev disk always names its driver
    }
  }

  /** Sets the cache switches a mode needs, touching only the ones present or needed. */
  private static void switches(CmdlineSite.Node node, String mode, boolean withWriteback) {
    boolean direct = mode.equals("none") || mode.equals("directsync");
    boolean noFlush = mode.equals("unsafe");
    boolean writeback = !(mode.equals("writethrough") || mode.equals("directsync"));
    if (direct || node.has("cache.direct")) {
      node.set("cache.direct", direct ? "on" : "off");
    }
    if (noFlush || node.has("cache.no-flush")) {
      node.set("cache.no-flush", noFlush ? "on" : "off");
    }
    if (withWriteback && (!writeback || node.has("cache.writeback"))) {
      node.set("cache.writeback", writeback ? "on" : "off");
    }
  }
}
