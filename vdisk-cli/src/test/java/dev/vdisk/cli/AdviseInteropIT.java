package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vdisk.testkit.Peers;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * vdisk advise --probe-images on images qemu-img made, --fix output checked by libvirt's virt-xml-validate, and the
 * round trip: advised, fixed, advised again, no fixable finding left.
 */
class AdviseInteropIT {
  @BeforeAll
  static void peers() {
    Peers.require("qemu-img");
    Peers.require("virt-xml-validate");
  }

  private static void qemuImg(String... args) throws Exception {
    List<String> cmd = new java.util.ArrayList<>(List.of("qemu-img"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor()).as(String.join(" ", cmd) + ": " + out).isZero();
  }

  private static String[] run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int exit = Main.run(out, err, args);
    return new String[] {Integer.toString(exit), out.toString(), err.toString()};
  }

  /** "disk:rule" for every finding of a --output=json report. */
  private static List<String> hits(String json) throws Exception {
    List<String> out = new java.util.ArrayList<>();
    for (JsonNode f : new ObjectMapper().readTree(json).path("inputs").get(0).path("findings")) {
      out.add(f.path("disk").asText() + ":" + f.path("rule").asText());
    }
    return out;
  }

  private static String disk(String dev, String driver, Path file, String extra) {
    return "    <disk type='file' device='disk'>\n      <driver name='qemu'" + driver + "/>\n      <source file='" + file
        + "'/>\n" + extra + "      <target dev='" + dev + "' bus='virtio'/>\n    </disk>\n";
  }

  private static String domain(String disks) {
    return "<domain type='kvm'>\n  <name>it</name>\n  <memory unit='KiB'>1048576</memory>\n  <os>\n"
        + "    <type arch='x86_64'>hvm</type>\n  </os>\n  <devices>\n" + disks + "  </devices>\n</domain>\n";
  }

  @Test
  void probedRulesOnRealImagesFixValidatesAndRoundTrips(@TempDir Path dir) throws Exception {
    Path base = dir.resolve("base.qcow2");
    Path overlay = dir.resolve("overlay.qcow2");
    Path other = dir.resolve("other.qcow2");
    Path big = dir.resolve("big.qcow2");
    Path sparse = dir.resolve("sparse.raw");
    Path full = dir.resolve("full.raw");
    Path prealloc = dir.resolve("prealloc.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", base.toString(), "1G");
    qemuImg("create", "-q", "-f", "qcow2", other.toString(), "1G");
    qemuImg("create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "qcow2", overlay.toString());
    qemuImg("create", "-q", "-f", "qcow2", big.toString(), "300G");
    qemuImg("create", "-q", "-f", "raw", sparse.toString(), "64M");
    qemuImg("create", "-q", "-f", "raw", "-o", "preallocation=full", full.toString(), "16M");
    qemuImg("create", "-q", "-f", "qcow2", "-o", "preallocation=metadata", prealloc.toString(), "64M");
    String xml = domain(
        disk("vda", " type='raw' cache='writethrough'", base, "") // image-format-mismatch: raw declared, qcow2 found
            + disk("vdb", " type='qcow2'", overlay, "      <backingStore type='file'>\n        <format type='qcow2'/>\n"
                + "        <source file='" + other + "'/>\n      </backingStore>\n") // image-backing-mismatch
            + disk("vdc", " type='qcow2' cache='none' discard='unmap'", big, "") // qcow2-l2-cache (300G > 256G)
            + disk("vdd", " type='raw' cache='none' discard='unmap'", sparse, "") // raw-sparse-direct-threads
            + disk("vde", " type='raw' cache='writeback' io='threads' discard='unmap'", full, "") // raw-fully-allocated
            + disk("vdf", " type='qcow2' cache='none' io='io_uring' discard='unmap'", prealloc, "") // no prealloc finding
            + disk("vdg", " type='raw'", dir.resolve("missing.raw"), "")); // image-unreadable
    Path file = Files.writeString(dir.resolve("it.xml"), xml);
    String[] r = run("advise", "--probe-images", "--qemu-version", "7.2", "--output=json", file.toString());
    assertThat(r[0]).isEqualTo("1");
    List<String> hits = hits(r[1]);
    assertThat(hits).contains("vda:image-format-mismatch", "vdb:image-backing-mismatch", "vdc:qcow2-l2-cache",
        "vde:raw-fully-allocated", "vdg:image-unreadable", "vdc:qcow2-not-preallocated", "vda:cache-writethrough")
        .doesNotContain("vdf:qcow2-not-preallocated", "vdf:qcow2-l2-cache", "vdc:image-unreadable");
    if (Files.getFileStore(dir).type().equals("ext4")) {
      assertThat(hits).contains("vdd:raw-sparse-direct-threads"); // the figure was measured on ext4 only
    }

    Path fixed = dir.resolve("fixed.xml");
    assertThat(run("advise", "--probe-images", "--qemu-version", "7.2", "--fix", "--out", fixed.toString(),
        file.toString())[0]).isEqualTo("1");
    Process v = new ProcessBuilder("virt-xml-validate", fixed.toString(), "domain").redirectErrorStream(true).start();
    String validation = new String(v.getInputStream().readAllBytes());
    assertThat(v.waitFor()).as(validation).isZero();
    String[] again = run("advise", "--probe-images", "--qemu-version", "7.2", "--output=json", fixed.toString());
    assertThat(hits(again[1])).contains("vda:image-format-mismatch"); // not fixable: a person decides
    assertThat(new ObjectMapper().readTree(again[1]).findValues("fixable")).noneMatch(JsonNode::asBoolean);
    assertThat(Files.readString(file)).isEqualTo(xml); // --out leaves the input alone
  }
  @Test
  void anEncryptedImageIsProbedWithoutItsKey(@TempDir Path dir) throws Exception {
    Path base = dir.resolve("base.qcow2");
    Path encrypted = dir.resolve("enc.qcow2");
    qemuImg("create", "-q", "-f", "qcow2", base.toString(), "64M");
    EncryptedPeers.create(dir, encrypted, "64M", " -b " + base + " -F qcow2");
    String xml = domain(disk("vda", " type='qcow2' cache='writethrough' discard='unmap'", encrypted,
        "      <backingStore type='file'>\n        <format type='qcow2'/>\n        <source file='" + base + "'/>\n"
            + "      </backingStore>\n"));
    Path file = Files.writeString(dir.resolve("enc.xml"), xml);
    String[] r = run("advise", "--probe-images", "--qemu-version", "7.2", "--output=json", file.toString());
    assertThat(hits(r[1])).as(r[1] + r[2]).contains("vda:lazy-refcounts-writethrough")
        .doesNotContain("vda:image-unreadable", "vda:image-backing-mismatch");
    assertThat(r[1]).contains("qemu-img amend --object secret,id=sec0,file=KEYFILE --image-opts driver=qcow2,"
        + "file.filename=" + encrypted + ",encrypt.key-secret=sec0 -o lazy_refcounts=on");
  }
}
