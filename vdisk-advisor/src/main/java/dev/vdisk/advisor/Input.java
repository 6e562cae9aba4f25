package dev.vdisk.advisor;

import dev.vdisk.advisor.model.DiskSite;
import dev.vdisk.advisor.model.Setting;
import dev.vdisk.advisor.model.VmConfig;
import dev.vdisk.advisor.qemu.CmdlineFixer;
import dev.vdisk.advisor.qemu.QemuCmdlineParser;
import dev.vdisk.advisor.rules.Finding;
import dev.vdisk.advisor.xml.DomainXmlParser;
import dev.vdisk.advisor.xml.XmlFixer;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** One configuration to advise: its text, what was parsed from it, and how to write fixes back into it. */
public final class Input {
  private final String text;
  private final VmConfig config;
  private final QemuCmdlineParser.Parsed cmdline;

  private Input(String text, VmConfig config, QemuCmdlineParser.Parsed cmdline) {
    this.text = text;
    this.config = config;
    this.cmdline = cmdline;
  }

  /** A libvirt domain XML. */
  public static Input domainXml(String text, String source) throws AdviseException {
    return new Input(text, DomainXmlParser.parse(text, source), null);
  }

  /** A QEMU command line (whole, or only its disk options). */
  public static Input qemuCmdline(String text, String source) throws AdviseException {
    QemuCmdlineParser.Parsed parsed = QemuCmdlineParser.parse(text, source);
    return new Input(text, parsed.config(), parsed);
  }

  /** What was parsed. */
  public VmConfig config() {
    return config;
  }

  /**
   * The configuration with the changes of {@code findings} made: for XML the same text with only those attributes
   * changed, for a command line the command line printed again. Where two findings change one setting of a disk,
   * the first (the more severe: rules run in order of severity) wins.
   */
  public String fixed(List<Finding> findings) {
    Map<DiskSite, Map<Setting, String>> changes = new LinkedHashMap<>();
    for (Finding f : findings) {
      Map<Setting, String> forDisk = changes.computeIfAbsent(f.target().site(), s -> new EnumMap<>(Setting.class));
      f.changes().forEach(forDisk::putIfAbsent);
    }
    changes.values().removeIf(Map::isEmpty);
    return fixed(changes);
  }

  /** The configuration with {@code changes} made (per disk site of this input, the settings to set). */
  String fixed(Map<DiskSite, Map<Setting, String>> changes) {
    return cmdline == null ? XmlFixer.fix(text, changes) : CmdlineFixer.fix(cmdline, changes);
  }
}
