package dev.vdisk.advisor.qemu;

import dev.vdisk.advisor.AdviseException;
import dev.vdisk.advisor.model.BackingLayer;
import dev.vdisk.advisor.model.Bus;
import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.SourceKind;
import dev.vdisk.advisor.model.VmConfig;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads the disks of a QEMU command line: {@code -drive} (QEMU's legacy sugar), {@code -blockdev} node graphs in
 * dotted or JSON syntax (a format node over a protocol node, given by name or inline, with a declared backing
 * chain), and the {@code -device} options that attach them to a bus.
 */
public final class QemuCmdlineParser {
  private static final Set<String> FORMATS = Set.of("raw", "qcow2", "qed", "vmdk", "vdi", "vhdx", "vpc", "luks",
      "parallels", "qcow", "bochs", "cloop", "dmg", "copy-on-read", "throttle");
  private static final Set<String> NETWORK_PREFIXES = Set.of("nbd", "rbd", "iscsi", "gluster", "http", "https",
      "ssh", "ftp", "ftps", "sheepdog", "nfs");
  /** QEMU's rule for node names (id_wellformed, and its 32-byte name buffer). */
  private static final Pattern NODE_NAME = Pattern.compile("[A-Za-z][A-Za-z0-9._-]{0,30}");

  /**
   * A parsed command line.
   *
   * @param config its disks
   * @param cmdline its words, for {@link CmdlineFixer}
   */
  public record Parsed(VmConfig config, QemuCmdline cmdline) {}

  private record Device(OptionArg arg) {
    String get(String k) {
      return arg.get(k);
    }
  }

  private QemuCmdlineParser() {}

  /**
   * Parses {@code text}, a whole command line or only its disk options.
   *
   * @throws AdviseException for a command line that cannot be split or a JSON argument that is not an object
   */
  public static Parsed parse(String text, String source) throws AdviseException {
    List<String> words = ShellWords.split(text);
    Map<Integer, OptionArg> args = new LinkedHashMap<>();
    List<OptionArg> drives = new ArrayList<>();
    List<OptionArg> blockdevs = new ArrayList<>();
    List<Device> devices = new ArrayList<>();
    for (int i = 0; i < words.size(); i++) {
      String option = words.get(i).startsWith("--") ? words.get(i).substring(1) : words.get(i);
      if (!option.equals("-drive") && !option.equals("-blockdev") && !option.equals("-device")) {
        continue;
      }
      if (i + 1 >= words.size()) {
        throw new AdviseException(source + ": " + option + " without an argument (expected: " + option + " KEY=VALUE,...)");
      }
      OptionArg arg = OptionArg.parse(words.get(i + 1), option.equals("-device") ? "driver" : null, option);
      args.put(i + 1, arg);
      switch (option) {
        case "-drive" -> drives.add(arg);
        case "-blockdev" -> blockdevs.add(arg);
        default -> devices.add(new Device(arg));
      }
      i++;
    }
    List<Disk> disks = new ArrayList<>();
    for (OptionArg d : drives) {
      disks.add(drive(d, disks.size(), devices));
    }
    disks.addAll(blockdevDisks(blockdevs, devices, source));
    return new Parsed(new VmConfig(source, null, VmConfig.Syntax.QEMU_CMDLINE, disks), new QemuCmdline(words, args));
  }

  private static Disk drive(OptionArg d, int index, List<Device> devices) throws AdviseException {
    String id = d.get("id") != null ? d.get("id") : "drive" + index;
    Device device = deviceFor(id, devices);
    String file = d.get("file");
    SourceKind kind;
    String path = file;
    String protocol = null;
    String fileDriver = d.get("file.driver");
    String jsonFormat = null;
    if (fileDriver != null) {
      kind = kindOf(fileDriver);
      path = d.get("file.filename") != null ? d.get("file.filename") : file;
      protocol = kind == SourceKind.NETWORK ? fileDriver : null;
    } else if (file == null || file.isEmpty()) {
      kind = SourceKind.NONE;
    } else if (file.startsWith("json:")) {
      // QEMU's json: pseudo-protocol: a whole node graph, a format node over a protocol node or a protocol alone.
      CmdlineSite.Node root = new CmdlineSite.Node(OptionArg.parse(file, null, "-drive file"), "");
      boolean isFormat = FORMATS.contains(String.valueOf(root.driver()));
      CmdlineSite.Node proto = isFormat && root.has("file.driver") ? new CmdlineSite.Node(root.arg(), "file.") : root;
      kind = proto.driver() == null ? SourceKind.NONE : kindOf(proto.driver());
      path = proto.driver() == null ? null : pathOf(proto);
      protocol = kind == SourceKind.NETWORK ? proto.driver() : null;
      jsonFormat = isFormat ? root.driver() : null;
    } else if (file.contains(":") && NETWORK_PREFIXES.contains(file.substring(0, file.indexOf(':')).toLowerCase(Locale.ROOT))) {
      kind = SourceKind.NETWORK;
      protocol = file.substring(0, file.indexOf(':'));
    } else {
      kind = file.startsWith("/dev/") ? SourceKind.BLOCK : SourceKind.FILE;
    }
    String iface = d.get("if") == null ? "ide" : d.get("if");
    Bus bus = switch (iface) {
      case "virtio" -> Bus.VIRTIO_BLK;
      case "scsi" -> Bus.SCSI;
      case "ide" -> Bus.IDE;
      case "none" -> device == null ? Bus.UNKNOWN : deviceBus(device, devices);
      default -> Bus.OTHER;
    };
    boolean cdrom = "cdrom".equals(d.get("media")) || (device != null && String.valueOf(device.get("driver")).endsWith("-cd"));
    String format = d.get("format") != null ? d.get("format") : jsonFormat;
    return new Disk(id, cdrom ? "cdrom" : "disk", kind, path, protocol, format, cacheOf(d, "", null),
        d.get("aio"), d.get("discard"), d.get("detect-zeroes"), bus, truthy(d.get("readonly")),
        size(d.get("l2-cache-size")), size(d.get("cache-size")), null, size(d.get("offset")), size(d.get("size")),
        new CmdlineSite(d, null, null, device == null ? null : device.arg()));
  }

  /**
   * The disks of the {@code -blockdev} graph.
   *
   * @throws AdviseException for a node name QEMU refuses: malformed, or given to two nodes
   */
  private static List<Disk> blockdevDisks(List<OptionArg> blockdevs, List<Device> devices, String source)
      throws AdviseException {
    Map<String, CmdlineSite.Node> nodes = new LinkedHashMap<>();
    for (OptionArg b : blockdevs) {
      CmdlineSite.Node node = new CmdlineSite.Node(b, "");
      String name = node.get("node-name");
      if (name == null) {
        nodes.put("#" + nodes.size(), node); // '#' is never in a valid name, so no clash with the user's
        continue;
      }
      if (!NODE_NAME.matcher(name).matches()) {
        throw new AdviseException(source + ": -blockdev node-name '" + name + "' is not a valid QEMU node name"
            + " (expected: a letter, then up to 31 letters, digits, '-', '.' or '_')");
      }
      if (nodes.putIfAbsent(name, node) != null) {
        throw new AdviseException(source + ": two -blockdev nodes are named '" + name
            + "' (expected: a distinct node-name per node, as QEMU requires)");
      }
    }
    Set<String> referenced = new HashSet<>();
    for (CmdlineSite.Node n : nodes.values()) {
      for (String key : List.of("file", "backing", "data-file")) {
        if (n.get(key) != null) {
          referenced.add(n.get(key));
        }
      }
    }
    List<String> roots = new ArrayList<>();
    for (Device dev : devices) {
      if (dev.get("drive") != null && nodes.containsKey(dev.get("drive"))) {
        roots.add(dev.get("drive"));
      }
    }
    if (roots.isEmpty()) {
      nodes.keySet().stream().filter(n -> !referenced.contains(n)).forEach(roots::add);
    }
    List<Disk> disks = new ArrayList<>();
    for (String root : roots) {
      disks.add(blockdev(root, nodes, devices, source));
    }
    return disks;
  }

  private static Disk blockdev(String name, Map<String, CmdlineSite.Node> nodes, List<Device> devices, String source)
      throws AdviseException {
    CmdlineSite.Node top = nodes.get(name);
    boolean isFormat = FORMATS.contains(String.valueOf(top.driver()));
    CmdlineSite.Node format = isFormat ? top : null;
    CmdlineSite.Node protocol = isFormat ? child(top, "file", nodes) : top;
    Device device = deviceFor(name, devices);
    CmdlineSite.Node settings = format != null ? format : protocol;
    String protoDriver = protocol == null ? null : protocol.driver();
    SourceKind kind = protoDriver == null ? SourceKind.NONE : kindOf(protoDriver);
    String path = protocol == null ? null : pathOf(protocol);
    boolean cdrom = device != null && String.valueOf(device.get("driver")).endsWith("-cd");
    boolean readOnly = truthy(settings.get("read-only")) || (protocol != null && truthy(protocol.get("read-only")));
    return new Disk(name, cdrom ? "cdrom" : "disk", kind, path, kind == SourceKind.NETWORK ? protoDriver : null,
        format != null ? format.driver() : "raw", cacheOf(protocol != null ? protocol.arg() : top.arg(),
            protocol != null ? protocol.prefix() : "", device),
        protocol == null ? null : protocol.get("aio"), settings.get("discard"), settings.get("detect-zeroes"),
        device == null ? Bus.UNKNOWN : deviceBus(device, devices), readOnly,
        format == null ? null : size(format.get("l2-cache-size")), format == null ? null : size(format.get("cache-size")),
        format == null ? null : backing(name, format, nodes, source),
        format == null ? null : size(format.get("offset")), format == null ? null : size(format.get("size")),
        new CmdlineSite(null, format, protocol, device == null ? null : device.arg()));
  }

  /** The child named by {@code key}: a node name, or an inline definition under {@code key.}. */
  private static CmdlineSite.Node child(CmdlineSite.Node parent, String key, Map<String, CmdlineSite.Node> nodes) {
    if (parent.has(key + ".driver")) {
      return new CmdlineSite.Node(parent.arg(), parent.prefix() + key + ".");
    }
    String ref = parent.get(key);
    return ref == null ? null : nodes.get(ref);
  }

  /**
   * The declared chain of node {@code name}: null when not declared, empty for {@code backing=null}.
   *
   * @throws AdviseException for a chain that comes back to a node it passed (QEMU cannot build one: a node names
   *     only nodes defined before it)
   */
  private static List<BackingLayer> backing(String name, CmdlineSite.Node format, Map<String, CmdlineSite.Node> nodes,
      String source) throws AdviseException {
    if (!format.has("backing") && !format.has("backing.driver")) {
      return null;
    }
    List<BackingLayer> chain = new ArrayList<>();
    Set<CmdlineSite.Node> seen = new HashSet<>(List.of(format));
    for (CmdlineSite.Node b = child(format, "backing", nodes); b != null; b = child(b, "backing", nodes)) {
      if (!seen.add(b)) {
        throw new AdviseException(source + ": the backing chain of -blockdev node '" + name + "' comes back to node '"
            + b.get("node-name") + "' (expected: a chain that ends, each node defined before the node naming it, as"
            + " QEMU requires)");
      }
      boolean isFormat = FORMATS.contains(String.valueOf(b.driver()));
      CmdlineSite.Node proto = isFormat ? child(b, "file", nodes) : b;
      chain.add(new BackingLayer(proto == null ? String.valueOf(b.get("node-name")) : pathOf(proto),
          isFormat ? b.driver() : "raw"));
    }
    return chain;
  }

  private static String pathOf(CmdlineSite.Node protocol) {
    for (String key : List.of("filename", "path", "image", "export", "server.path", "target")) {
      if (protocol.get(key) != null) {
        String pool = protocol.get("pool");
        return key.equals("image") && pool != null ? pool + "/" + protocol.get(key) : protocol.get(key);
      }
    }
    return protocol.driver();
  }

  private static SourceKind kindOf(String driver) {
    return switch (driver) {
      case "file" -> SourceKind.FILE;
      case "host_device", "host_cdrom" -> SourceKind.BLOCK;
      default -> SourceKind.NETWORK;
    };
  }

  private static Device deviceFor(String id, List<Device> devices) {
    return devices.stream().filter(d -> id.equals(d.get("drive"))).findFirst().orElse(null);
  }

  private static Bus deviceBus(Device device, List<Device> devices) {
    String driver = String.valueOf(device.get("driver"));
    if (driver.startsWith("virtio-blk")) {
      return Bus.VIRTIO_BLK;
    }
    String bus = device.get("bus");
    String controllerId = bus == null ? null : bus.substring(0, bus.indexOf('.') < 0 ? bus.length() : bus.indexOf('.'));
    if (driver.startsWith("scsi-")) {
      List<Device> hbas = devices.stream().filter(d -> isScsiHba(d.get("driver"))).toList();
      Device hba = controllerId == null ? (hbas.size() == 1 ? hbas.getFirst() : null)
          : hbas.stream().filter(d -> controllerId.equals(d.get("id"))).findFirst().orElse(null);
      return hba != null && hba.get("driver").startsWith("virtio-scsi") ? Bus.VIRTIO_SCSI : Bus.SCSI;
    }
    if (driver.startsWith("ide-")) {
      // An ide-hd on an AHCI controller (-device ahci,id=A ... bus=A.0) is a SATA disk.
      boolean ahci = controllerId != null && devices.stream()
          .anyMatch(d -> controllerId.equals(d.get("id")) && String.valueOf(d.get("driver")).endsWith("ahci"));
      return ahci ? Bus.SATA : Bus.IDE;
    }
    return driver.startsWith("usb-") ? Bus.USB : Bus.OTHER;
  }

  private static boolean isScsiHba(String driver) {
    return driver != null && (driver.startsWith("virtio-scsi") || driver.equals("lsi53c895a") || driver.equals("megasas")
        || driver.equals("megasas-gen2") || driver.equals("pvscsi") || driver.equals("am53c974") || driver.equals("dc390"));
  }

  /**
   * The cache mode a drive or protocol node gets, by QEMU's three switches: {@code cache=} itself, or
   * {@code cache.direct}/{@code cache.no-flush} and, for {@code -blockdev}, the device's {@code write-cache}
   * (off means writethrough); null when nothing is set.
   */
  private static String cacheOf(OptionArg arg, String prefix, Device device) {
    if (arg.get(prefix + "cache") != null) {
      return arg.get(prefix + "cache").equals("off") ? "none" : arg.get(prefix + "cache");
    }
    String direct = arg.get(prefix + "cache.direct");
    String noFlush = arg.get(prefix + "cache.no-flush");
    String writeback = arg.get(prefix + "cache.writeback");
    String writeCache = device == null ? null : device.get("write-cache");
    if (direct == null && noFlush == null && writeback == null && writeCache == null) {
      return null;
    }
    boolean wt = "off".equals(writeCache) || (writeback != null && !truthy(writeback));
    if (truthy(noFlush)) {
      return "unsafe";
    }
    if (truthy(direct)) {
      return wt ? "directsync" : "none";
    }
    return wt ? "writethrough" : "writeback";
  }

  static boolean truthy(String v) {
    return v != null && (v.equals("on") || v.equals("true") || v.equals("yes"));
  }

  /** QEMU's sizes: bytes, or a number with a k/M/G/T suffix (binary). */
  private static Long size(String v) {
    if (v == null || v.isEmpty()) {
      return null;
    }
    char unit = Character.toLowerCase(v.charAt(v.length() - 1));
    int shift = switch (unit) {
      case 'k' -> 10;
      case 'm' -> 20;
      case 'g' -> 30;
      case 't' -> 40;
      default -> 0;
    };
    try {
      return Long.parseLong(shift == 0 ? v : v.substring(0, v.length() - 1)) << shift;
    } catch (NumberFormatException e) {
      return null;
    }
  }
}
