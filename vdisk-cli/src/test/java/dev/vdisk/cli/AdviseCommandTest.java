package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** vdisk advise in-process: golden JSON, exit codes, --list-rules, --fix targets. */
class AdviseCommandTest {
  private record Run(int exit, String out, String err) {}

  private static Run run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int exit = Main.run(out, err, args);
    return new Run(exit, out.toString(), err.toString());
  }

  private static Path resource(Path dir, String name) throws Exception {
    Path p = dir.resolve(name);
    try (var in = AdviseCommandTest.class.getResourceAsStream("advise/" + name)) {
      Files.write(p, in.readAllBytes());
    }
    return p;
  }

  @Test
  void goldenJsonForANovaDomain(@TempDir Path dir) throws Exception {
    Path xml = resource(dir, "nova.xml");
    Run r = run("advise", "--qemu-version", "4.2", "--output=json", xml.toString());
    String golden = new String(AdviseCommandTest.class.getResourceAsStream("advise/nova.json").readAllBytes(),
        StandardCharsets.UTF_8);
    assertThat(r.out().replace(xml.toString(), "nova.xml")).isEqualTo(golden);
    assertThat(r.exit()).isZero();
  }

  @Test
  void humanReportEndsWithTheSummaryAndExitsOneOnAFail(@TempDir Path dir) throws Exception {
    Path xml = Files.writeString(dir.resolve("d.xml"), """
        <domain type='kvm'><name>d</name><devices>
          <disk type='file' device='disk'>
            <driver name='qemu' type='raw' cache='writethrough' io='native'/>
            <source file='/i/d.raw'/>
            <target dev='vda' bus='virtio'/>
          </disk>
        </devices></domain>
        """);
    Run r = run("advise", "--qemu-version", "4.2", xml.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.out()).contains("vda  fail  io-native-without-direct").endsWith("3 findings: 1 fail, 2 warn\n");
  }

  @Test
  void malformedXmlExitsTwoWithLineAndColumn(@TempDir Path dir) throws Exception {
    Path xml = Files.writeString(dir.resolve("bad.xml"), "<domain>\n  <devices>\n</domain>\n");
    Run r = run("advise", xml.toString());
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).startsWith("vdisk advise: " + xml + ":3:3: ").endsWith("(expected: well-formed XML)\n");
    assertThat(r.out()).isEmpty();
  }

  @Test
  void anEntityPointingAtALocalFileExitsTwoWithoutLeakingIt(@TempDir Path dir) throws Exception {
    Path secret = Files.writeString(dir.resolve("secret"), "TOP-SECRET-CONTENT");
    Path xml = Files.writeString(dir.resolve("evil.xml"), "<!DOCTYPE domain [<!ENTITY s SYSTEM 'file://" + secret
        + "'>]>\n<domain type='kvm'><name>&s;</name><devices/></domain>\n");
    Run r = run("advise", "--output=json", xml.toString());
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.out() + r.err()).doesNotContain("TOP-SECRET").contains("DTDs and entities are refused");
  }

  @Test
  void missingInputExitsTwo() {
    Run r = run("advise", "/nonexistent/domain.xml");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("/nonexistent/domain.xml: no such file");
  }

  @Test
  void readsStandardInput(@TempDir Path dir) throws Exception {
    java.io.InputStream saved = System.in;
    try {
      System.setIn(AdviseCommandTest.class.getResourceAsStream("advise/nova.xml"));
      Run r = run("advise", "--qemu-version", "4.2", "-");
      assertThat(r.exit()).isZero();
      assertThat(r.out()).contains("-: domain 'instance-0000002a', 3 disks").endsWith("2 findings: 1 warn, 1 note\n");
    } finally {
      System.setIn(saved);
    }
  }

  @Test
  void argumentConflictsExitTwoAndTouchNothing(@TempDir Path dir) throws Exception {
    Path xml = resource(dir, "nova.xml");
    assertThat(run("advise", "--out", dir.resolve("o.xml").toString(), xml.toString()).exit()).isEqualTo(2);
    assertThat(run("advise", "--fix", "--in-place", "--qemu-cmdline", "-drive file=x").exit()).isEqualTo(2);
    assertThat(run("advise").err()).contains("no input");
    assertThat(dir.resolve("o.xml")).doesNotExist();
  }

  @Test
  void listRulesNamesEveryRule() {
    Run r = run("advise", "--list-rules");
    assertThat(r.exit()).isZero();
    assertThat(r.out().lines()).hasSize(23).anyMatch(l -> l.startsWith("cache-writethrough"))
        .anyMatch(l -> l.startsWith("virtio-blk-discard")).anyMatch(l -> l.startsWith("emulated-bus"));
  }

  @Test
  void fixInPlaceKeepsABackupAndACommandLineFixGoesToStdout(@TempDir Path dir) throws Exception {
    Path xml = resource(dir, "nova.xml");
    String before = Files.readString(xml);
    Run r = run("advise", "--qemu-version", "4.2", "--fix", "--in-place", xml.toString());
    assertThat(r.exit()).isZero();
    assertThat(Files.readString(dir.resolve("nova.xml.bak"))).isEqualTo(before);
    assertThat(Files.readString(xml)).contains("<driver name=\"qemu\" type=\"qcow2\" cache=\"none\" discard=\"unmap\"/>");
    Run c = run("advise", "--qemu-version", "4.2", "--fix", "--qemu-cmdline", "-drive file=/i/a.qcow2,format=qcow2,if=virtio");
    assertThat(c.out()).isEqualTo("-drive file=/i/a.qcow2,format=qcow2,if=virtio,discard=unmap\n");
    assertThat(c.err()).contains("discard-ignored");
  }
}
