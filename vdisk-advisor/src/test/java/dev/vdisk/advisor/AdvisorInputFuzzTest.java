package dev.vdisk.advisor;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.DiskSite;
import dev.vdisk.advisor.model.Setting;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Jazzer on {@code vdisk advise}'s parsers of untrusted text: a libvirt domain XML (the hardened JDK parser, then
 * vdisk's tag scanner that keeps where each element is) or a QEMU command line (shell words, -drive, dotted and
 * JSON -blockdev, -device). The first input byte chooses which (even: XML, odd: command line), the rest is the
 * text. Parsing must succeed or throw {@link AdviseException}; where it succeeds, writing changed settings back
 * (with a value full of quote characters) must give a text that parses again to as many disks. Anything else is a
 * finding.
 *
 * <p>Seeds (in {@code AdvisorInputFuzzTestInputs/parseAndFix/}) are a virt-install style domain and the command
 * lines of the advisor's own tests.
 */
class AdvisorInputFuzzTest {
  @FuzzTest(maxDuration = "30s", maxExecutions = 20_000)
  void parseAndFix(byte[] input) {
    if (input.length == 0) {
      return;
    }
    boolean xml = (input[0] & 1) == 0;
    String text = new String(Arrays.copyOfRange(input, 1, input.length), StandardCharsets.UTF_8);
    Input in;
    try {
      in = xml ? Input.domainXml(text, "fuzz.xml") : Input.qemuCmdline(text, "fuzz");
    } catch (AdviseException refused) {
      return;
    }
    Map<DiskSite, Map<Setting, String>> changes = new LinkedHashMap<>();
    for (Disk d : in.config().disks()) {
      Map<Setting, String> set = new EnumMap<>(Setting.class);
      set.put(Setting.CACHE, "none");
      set.put(Setting.IO, "native");
      set.put(Setting.DISCARD, "un'ma\"p,=&<x>");
      changes.put(d.site(), set);
    }
    String fixed = in.fixed(changes);
    try {
      Input again = xml ? Input.domainXml(fixed, "fixed.xml") : Input.qemuCmdline(fixed, "fixed");
      if (again.config().disks().size() != in.config().disks().size()) {
        throw new AssertionError(in.config().disks().size() + " disks before the fix, " + again.config().disks().size()
            + " after:\n" + fixed);
      }
    } catch (AdviseException e) {
      throw new AssertionError("the fixed text does not parse: " + e.getMessage() + "\n" + fixed, e);
    }
  }
}
