package dev.vdisk.advisor.xml;

import dev.vdisk.advisor.AdviseException;
import dev.vdisk.advisor.model.BackingLayer;
import dev.vdisk.advisor.model.Bus;
import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.SourceKind;
import dev.vdisk.advisor.model.VmConfig;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * Reads the disks of a libvirt domain XML as {@code virsh dumpxml} prints it (also the inactive XML under
 * /etc/libvirt/qemu), keeping where each disk's {@code <driver>} is in the text for {@link XmlFixer}.
 */
public final class DomainXmlParser {
  private DomainXmlParser() {}

  /**
   * Parses {@code text}.
   *
   * @param source the input's name, for messages
   * @throws AdviseException for malformed XML (with line and column), a DTD, or a root that is not {@code <domain>}
   */
  public static VmConfig parse(String text, String source) throws AdviseException {
    Document doc = SecureXml.parse(text, source);
    Element root = doc.getDocumentElement();
    if (!root.getTagName().equals("domain")) {
      throw new AdviseException(source + ": root element <" + root.getTagName() + "> (expected: <domain>, as virsh"
          + " dumpxml prints it)");
    }
    Map<Element, TagScanner.StartTag> tags = locate(root, TagScanner.scan(text), source);
    Element devices = child(root, "devices");
    List<Disk> disks = new ArrayList<>();
    if (devices != null) {
      List<Element> controllers = children(devices, "controller");
      for (Element disk : children(devices, "disk")) {
        disks.add(disk(disk, disks.size(), controllers, tags));
      }
    }
    Element name = child(root, "name");
    return new VmConfig(source, name == null ? null : name.getTextContent().trim(), VmConfig.Syntax.LIBVIRT_XML, disks);
  }

  /** Pairs every element with its start tag: both lists are in document order. */
  private static Map<Element, TagScanner.StartTag> locate(Element root, List<TagScanner.StartTag> scanned, String source)
      throws AdviseException {
    List<Element> elements = new ArrayList<>();
    collect(root, elements);
    if (elements.size() != scanned.size()) {
      throw new AdviseException(source + ": " + scanned.size() + " start tags in the text, " + elements.size()
          + " elements parsed (expected: the same; please report this input)");
    }
    Map<Element, TagScanner.StartTag> map = new IdentityHashMap<>();
    for (int i = 0; i < elements.size(); i++) {
      if (!elements.get(i).getTagName().equals(scanned.get(i).name())) {
        throw new AdviseException(source + ": element " + i + " is <" + elements.get(i).getTagName() + "> but the"
            + " text has <" + scanned.get(i).name() + "> (expected: the same; please report this input)");
      }
      map.put(elements.get(i), scanned.get(i));
    }
    return map;
  }

  private static void collect(Element e, List<Element> out) {
    out.add(e);
    for (Node n = e.getFirstChild(); n != null; n = n.getNextSibling()) {
      if (n instanceof Element c) {
        collect(c, out);
      }
    }
  }

  private static Disk disk(Element disk, int index, List<Element> controllers, Map<Element, TagScanner.StartTag> tags) {
    String type = attr(disk, "type", "file");
    String device = attr(disk, "device", "disk");
    Element driver = child(disk, "driver");
    Element source = child(disk, "source");
    Element target = child(disk, "target");
    SourceKind kind = source == null ? SourceKind.NONE : switch (type) {
      case "file" -> SourceKind.FILE;
      case "block" -> SourceKind.BLOCK;
      case "network" -> SourceKind.NETWORK;
      case "volume" -> SourceKind.VOLUME;
      default -> SourceKind.NONE;
    };
    String path = source == null ? null : switch (kind) {
      case FILE -> nonEmpty(source.getAttribute("file"));
      case BLOCK -> nonEmpty(source.getAttribute("dev"));
      case NETWORK -> nonEmpty(source.getAttribute("name"));
      case VOLUME -> source.getAttribute("pool") + "/" + source.getAttribute("volume");
      case NONE -> null;
    };
    if (path == null && (kind == SourceKind.FILE || kind == SourceKind.BLOCK)) {
      kind = SourceKind.NONE; // an empty CD-ROM drive: <source/> with no file
    }
    String name = target == null ? "disk" + index : attr(target, "dev", "disk" + index);
    Element slice = source == null ? null : descendant(source, "slices", "slice");
    Long cacheSize = null;
    Element maxSize = driver == null ? null : descendant(driver, "metadata_cache", "max_size");
    if (maxSize != null) {
      cacheSize = bytes(maxSize.getTextContent().trim(), attr(maxSize, "unit", "bytes"));
    }
    return new Disk(name, device, kind, path,
        kind == SourceKind.NETWORK ? source.getAttribute("protocol") : null,
        driver == null ? null : nonEmpty(driver.getAttribute("type")),
        driver == null ? null : nonEmpty(driver.getAttribute("cache")),
        driver == null ? null : nonEmpty(driver.getAttribute("io")),
        driver == null ? null : nonEmpty(driver.getAttribute("discard")),
        driver == null ? null : nonEmpty(driver.getAttribute("detect_zeroes")),
        bus(target, disk, controllers),
        child(disk, "readonly") != null,
        null, cacheSize,
        backing(child(disk, "backingStore")),
        slice == null ? null : number(slice.getAttribute("offset")),
        slice == null ? null : number(slice.getAttribute("size")),
        new XmlDiskSite(tags.get(disk), driver == null ? null : tags.get(driver)));
  }

  /** The declared chain: null without {@code <backingStore>}, empty for {@code <backingStore/>}. */
  private static List<BackingLayer> backing(Element store) {
    if (store == null) {
      return null;
    }
    List<BackingLayer> chain = new ArrayList<>();
    for (Element s = store; s != null && child(s, "source") != null; s = child(s, "backingStore")) {
      Element src = child(s, "source");
      String path = nonEmpty(src.getAttribute("file"));
      if (path == null) {
        path = nonEmpty(src.getAttribute("dev"));
      }
      if (path == null) {
        path = src.getAttribute("protocol") + ":" + src.getAttribute("name");
      }
      Element format = child(s, "format");
      chain.add(new BackingLayer(path, format == null ? null : nonEmpty(format.getAttribute("type"))));
    }
    return chain;
  }

  private static Bus bus(Element target, Element disk, List<Element> controllers) {
    String bus = target == null ? "" : target.getAttribute("bus");
    return switch (bus) {
      case "virtio" -> Bus.VIRTIO_BLK;
      case "scsi" -> scsiBus(disk, controllers);
      case "ide" -> Bus.IDE;
      case "sata" -> Bus.SATA;
      case "usb" -> Bus.USB;
      default -> Bus.OTHER;
    };
  }

  /** virtio-scsi when the disk's SCSI controller (address controller=N, default 0) has model virtio-scsi. */
  private static Bus scsiBus(Element disk, List<Element> controllers) {
    Element address = child(disk, "address");
    String index = address == null ? "0" : attr(address, "controller", "0");
    for (Element c : controllers) {
      if (c.getAttribute("type").equals("scsi") && attr(c, "index", "0").equals(index)) {
        return c.getAttribute("model").equals("virtio-scsi") ? Bus.VIRTIO_SCSI : Bus.SCSI;
      }
    }
    return Bus.SCSI;
  }

  private static Long bytes(String value, String unit) {
    Long n = number(value);
    if (n == null) {
      return null;
    }
    long scale = switch (unit.toLowerCase(Locale.ROOT)) {
      case "k", "kib" -> 1L << 10;
      case "kb" -> 1000L;
      case "m", "mib" -> 1L << 20;
      case "mb" -> 1000_000L;
      case "g", "gib" -> 1L << 30;
      case "gb" -> 1000_000_000L;
      default -> 1L;
    };
    return n * scale;
  }

  private static Long number(String s) {
    try {
      return s == null || s.isBlank() ? null : Long.parseLong(s.trim());
    } catch (NumberFormatException e) {
      return null;
    }
  }

  private static String attr(Element e, String name, String otherwise) {
    String v = e.getAttribute(name);
    return v.isEmpty() ? otherwise : v;
  }

  private static String nonEmpty(String s) {
    return s == null || s.isEmpty() ? null : s;
  }

  private static Element child(Element parent, String name) {
    for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
      if (n instanceof Element e && e.getTagName().equals(name)) {
        return e;
      }
    }
    return null;
  }

  private static Element descendant(Element parent, String a, String b) {
    Element first = child(parent, a);
    return first == null ? null : child(first, b);
  }

  private static List<Element> children(Element parent, String name) {
    List<Element> out = new ArrayList<>();
    for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
      if (n instanceof Element e && e.getTagName().equals(name)) {
        out.add(e);
      }
    }
    return out;
  }
}
