package dev.vdisk.advisor;

import static dev.vdisk.advisor.Fixtures.domain;
import static dev.vdisk.advisor.Fixtures.fileDisk;
import static dev.vdisk.advisor.Fixtures.image;
import static dev.vdisk.advisor.Fixtures.ruleHits;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.advisor.facts.ImageFacts;
import dev.vdisk.advisor.rules.Rule;
import dev.vdisk.advisor.rules.Rules;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Each rule on a disk it must flag (vda) and a disk it must leave alone (vdb), in virt-install's XML. */
class RulesTest {
  private static final long GIB = 1L << 30;
  private static final String QCOW = "/var/lib/libvirt/images/a.qcow2";
  private static final String RAW = "/var/lib/libvirt/images/b.raw";

  private static List<String> hits(String qemu, Map<String, ImageFacts> images, String... disks) throws AdviseException {
    return ruleHits(domain(disks), qemu, images);
  }

  private static void flagsOnlyVda(List<String> hits, String rule) {
    assertThat(hits).contains("vda:" + rule).doesNotContain("vdb:" + rule);
  }

  @Test
  void cacheWritethroughIsFlaggedOnlyWhenSetAndWritable() throws Exception {
    flagsOnlyVda(hits("7.2", null,
        fileDisk("vda", "virtio", "type='qcow2' cache='writethrough'", QCOW, ""),
        fileDisk("vdb", "virtio", "type='qcow2' cache='writethrough'", QCOW, "      <readonly/>\n")), "cache-writethrough");
    assertThat(hits("7.2", null, fileDisk("vdb", "virtio", "type='qcow2'", QCOW, "")))
        .doesNotContain("vdb:cache-writethrough").contains("vdb:cache-default");
  }

  @Test
  void cacheDefaultIsExplainedAsWritebackSinceQemu12() throws Exception {
    Input in = Input.domainXml(domain(fileDisk("vda", "virtio", "type='qcow2'", QCOW, "")), "x.xml");
    var f = Fixtures.findings(in, "7.2", null).stream().filter(x -> x.rule().equals("cache-default")).findFirst().orElseThrow();
    assertThat(f.severity().word()).isEqualTo("note");
    assertThat(f.reason()).contains("writeback").contains("since QEMU 1.2");
    assertThat(Fixtures.findings(in, "1.1", null).stream().filter(x -> x.rule().equals("cache-default")).findFirst()
        .orElseThrow().severity().word()).isEqualTo("warn");
  }

  @Test
  void cacheUnsafe() throws Exception {
    flagsOnlyVda(hits("7.2", null, fileDisk("vda", "virtio", "type='raw' cache='unsafe'", RAW, ""),
        fileDisk("vdb", "virtio", "type='raw' cache='none'", RAW, "")), "cache-unsafe");
  }

  @Test
  void ioNativeWithoutDirect() throws Exception {
    flagsOnlyVda(hits("7.2", null, fileDisk("vda", "virtio", "type='raw' io='native'", RAW, ""),
        fileDisk("vdb", "virtio", "type='raw' cache='none' io='native'", RAW, "")), "io-native-without-direct");
  }

  @Test
  void ioThreadsOnlyWhereQemuHasIoUring() throws Exception {
    flagsOnlyVda(hits("7.2", null, fileDisk("vda", "virtio", "type='raw' cache='none' io='threads'", RAW, ""),
        fileDisk("vdb", "virtio", "type='raw' cache='none' io='io_uring'", RAW, "")), "io-threads");
    assertThat(hits("4.2", null, fileDisk("vda", "virtio", "type='raw' cache='none' io='threads'", RAW, "")))
        .doesNotContain("vda:io-threads");
  }

  @Test
  void discardIgnoredOnThinImagesOnly() throws Exception {
    Map<String, ImageFacts> images = Map.of(QCOW, image(QCOW, "qcow2", GIB, 200_000, 0, 65536),
        RAW, image(RAW, "raw", GIB, GIB, 1, 0));
    flagsOnlyVda(hits("7.2", images, fileDisk("vda", "virtio", "type='qcow2'", QCOW, ""),
        fileDisk("vdb", "virtio", "type='raw'", RAW, "")), "discard-ignored");
    assertThat(hits("7.2", images, fileDisk("vdb", "virtio", "type='qcow2' discard='unmap'", QCOW, "")))
        .doesNotContain("vdb:discard-ignored");
  }

  @Test
  void detectZeroesUnmapNeedsDiscardUnmap() throws Exception {
    flagsOnlyVda(hits("7.2", null, fileDisk("vda", "virtio", "type='raw' detect_zeroes='unmap'", RAW, ""),
        fileDisk("vdb", "virtio", "type='raw' discard='unmap' detect_zeroes='unmap'", RAW, "")),
        "detect-zeroes-unmap-without-discard");
  }

  @Test
  void virtioBlkDiscardIsVersionAware() throws Exception {
    String blk = fileDisk("vda", "virtio", "type='raw' discard='unmap'", RAW, "");
    String scsi = fileDisk("vdb", "scsi", "type='raw' discard='unmap'", RAW, "");
    Input in = Input.domainXml(domain(blk, scsi), "x.xml");
    assertThat(Fixtures.findings(in, "3.1", null)).filteredOn(f -> f.rule().equals("virtio-blk-discard"))
        .singleElement().satisfies(f -> {
          assertThat(f.disk()).isEqualTo("vda");
          assertThat(f.severity().word()).isEqualTo("warn");
        });
    assertThat(Fixtures.findings(in, "4.0", null)).filteredOn(f -> f.rule().equals("virtio-blk-discard"))
        .singleElement().satisfies(f -> {
          assertThat(f.severity().word()).isEqualTo("note");
          assertThat(f.reason()).contains("Linux 5.0");
        });
  }

  @Test
  void emulatedBusesAreFlaggedOnWritableDisksOnly() throws Exception {
    String xml = domain(fileDisk("vda", "virtio", "type='raw'", RAW, ""), fileDisk("sdb", "scsi", "type='raw'", RAW, ""),
        fileDisk("hda", "ide", "type='raw'", RAW, ""), fileDisk("sdc", "sata", "type='raw'", RAW, ""),
        fileDisk("sdd", "usb", "type='raw'", RAW, ""), fileDisk("hdb", "ide", "type='raw'", RAW, "      <readonly/>\n"),
        fileDisk("sde", "scsi", "type='raw'", RAW, "      <address type='drive' controller='1' bus='0' target='0' unit='0'/>\n"))
        .replace("<controller type='scsi' index='0' model='virtio-scsi'/>",
            "<controller type='scsi' index='0' model='virtio-scsi'/><controller type='scsi' index='1' model='lsilogic'/>");
    List<dev.vdisk.advisor.rules.Finding> found = Fixtures.findings(Input.domainXml(xml, "x.xml"), "7.2", null).stream()
        .filter(f -> f.rule().equals("emulated-bus")).toList();
    assertThat(found).extracting(dev.vdisk.advisor.rules.Finding::disk).containsExactly("hda", "sdc", "sdd", "sde");
    assertThat(found.getFirst().reason()).contains("one command at a time");
    assertThat(found.get(1).reason()).contains("AHCI");
    assertThat(found.getFirst().fix()).contains("bus='virtio'").contains("viostor");
    assertThat(found).allSatisfy(f -> assertThat(f.fixable()).isFalse());
  }

  @Test
  void qcow2NotPreallocated() throws Exception {
    String other = "/var/lib/libvirt/images/c.qcow2";
    String overlay = "/var/lib/libvirt/images/overlay.qcow2";
    ImageFacts overlayFacts = new ImageFacts(overlay, null, "qcow2", GIB, 1 << 20, 1 << 20, 0, 65536, false, false,
        List.of("/i/base.qcow2"), "ext4", true);
    Map<String, ImageFacts> images = Map.of(QCOW, image(QCOW, "qcow2", GIB, 200_000, 0.01, 65536),
        other, image(other, "qcow2", GIB, GIB, 1, 65536), overlay, overlayFacts);
    flagsOnlyVda(hits("7.2", images,
        fileDisk("vda", "virtio", "type='qcow2'", QCOW, ""), fileDisk("vdb", "virtio", "type='qcow2'", other, "")),
        "qcow2-not-preallocated");
    // An overlay is unallocated by design: its backing image shows through.
    assertThat(hits("7.2", images, fileDisk("vdb", "virtio", "type='qcow2'", overlay, "")))
        .doesNotContain("vdb:qcow2-not-preallocated");
  }

  @Test
  void anEncryptedImageIsConvertedAndAmendedWithItsKey() throws Exception {
    ImageFacts plain = image(QCOW, "qcow2", GIB, 200_000, 0.01, 65536);
    ImageFacts encrypted = new ImageFacts(QCOW, null, "qcow2", GIB, 200_000, 200_000, 0.01, 65536, false, false,
        List.of(), "ext4", true, true);
    String disk = fileDisk("vda", "virtio", "type='qcow2' cache='writethrough'", QCOW, "");
    for (ImageFacts facts : List.of(plain, encrypted)) {
      List<dev.vdisk.advisor.rules.Finding> found = Fixtures.findings(Input.domainXml(domain(disk), "x.xml"), "7.2",
          Map.of(QCOW, facts));
      String convert = found.stream().filter(f -> f.rule().equals("qcow2-not-preallocated")).findFirst().orElseThrow().fix();
      String amend = found.stream().filter(f -> f.rule().equals("lazy-refcounts-writethrough")).findFirst().orElseThrow().fix();
      if (facts.encrypted()) {
        assertThat(convert).contains("--object secret,id=sec0,file=KEYFILE --image-opts driver=qcow2,file.filename=" + QCOW
            + ",encrypt.key-secret=sec0 -O qcow2 -o encrypt.format=luks,encrypt.key-secret=sec0,preallocation=metadata NEW");
        assertThat(amend).contains("qemu-img amend --object secret,id=sec0,file=KEYFILE --image-opts driver=qcow2,"
            + "file.filename=" + QCOW + ",encrypt.key-secret=sec0 -o lazy_refcounts=on");
      } else {
        assertThat(convert).contains("qemu-img convert -O qcow2 -o preallocation=metadata " + QCOW + " NEW")
            .doesNotContain("encrypt");
        assertThat(amend).contains("qemu-img amend -o lazy_refcounts=on " + QCOW);
      }
    }
  }

  @Test
  void l2CacheByVersionAndSetting() throws Exception {
    String big = "/var/lib/libvirt/images/big.qcow2";
    Map<String, ImageFacts> images = Map.of(QCOW, image(QCOW, "qcow2", 100 * GIB, 1 << 20, 0, 65536),
        big, image(big, "qcow2", 300 * GIB, 1 << 20, 0, 65536));
    String d100 = fileDisk("vda", "virtio", "type='qcow2'", QCOW, "");
    assertThat(hits("3.0", images, d100)).contains("vda:qcow2-l2-cache"); // 1 MiB covers 8 GiB
    assertThat(hits("3.1", images, d100)).doesNotContain("vda:qcow2-l2-cache"); // 32 MiB covers 256 GiB
    assertThat(hits("7.2", images, fileDisk("vda", "virtio", "type='qcow2'", big, ""))).contains("vda:qcow2-l2-cache");
  }

  @Test
  void longBackingChainDeclared() throws Exception {
    String chain = "      <backingStore type='file'><format type='qcow2'/><source file='/i/1.qcow2'/>"
        + "<backingStore type='file'><format type='qcow2'/><source file='/i/2.qcow2'/>"
        + "<backingStore type='file'><format type='qcow2'/><source file='/i/3.qcow2'/>"
        + "<backingStore type='file'><format type='raw'/><source file='/i/4.raw'/><backingStore/>"
        + "</backingStore></backingStore></backingStore></backingStore>\n";
    flagsOnlyVda(hits("7.2", null, fileDisk("vda", "virtio", "type='qcow2'", QCOW, chain),
        fileDisk("vdb", "virtio", "type='qcow2'", QCOW, "      <backingStore/>\n")), "backing-chain-long");
  }

  @Test
  void clusterSize() throws Exception {
    String small = "/i/small.qcow2";
    flagsOnlyVda(hits("7.2", Map.of(small, image(small, "qcow2", GIB, 1 << 20, 1, 4096),
            QCOW, image(QCOW, "qcow2", GIB, 1 << 20, 1, 65536)),
        fileDisk("vda", "virtio", "type='qcow2'", small, ""), fileDisk("vdb", "virtio", "type='qcow2'", QCOW, "")),
        "qcow2-cluster-size");
  }

  @Test
  void lazyRefcountsWithWritethrough() throws Exception {
    Map<String, ImageFacts> images = Map.of(QCOW, image(QCOW, "qcow2", GIB, 1 << 20, 1, 65536));
    flagsOnlyVda(hits("7.2", images, fileDisk("vda", "virtio", "type='qcow2' cache='writethrough'", QCOW, ""),
        fileDisk("vdb", "virtio", "type='qcow2' cache='none'", QCOW, "")), "lazy-refcounts-writethrough");
  }

  @Test
  void rawFullyAllocatedAndSparseUnderDirectThreads() throws Exception {
    String sparse = "/i/sparse.raw";
    Map<String, ImageFacts> images = Map.of(RAW, image(RAW, "raw", GIB, GIB, 1, 0),
        sparse, image(sparse, "raw", GIB, 4096, 0, 0));
    flagsOnlyVda(hits("7.2", images, fileDisk("vda", "virtio", "type='raw' cache='writeback'", RAW, ""),
        fileDisk("vdb", "virtio", "type='raw' cache='writeback'", sparse, "")), "raw-fully-allocated");
    flagsOnlyVda(hits("7.2", images, fileDisk("vda", "virtio", "type='raw' cache='none'", sparse, ""),
        fileDisk("vdb", "virtio", "type='raw' cache='none' io='native'", sparse, "")), "raw-sparse-direct-threads");
  }

  @Test
  void formatUnset() throws Exception {
    flagsOnlyVda(hits("7.2", null, fileDisk("vda", "virtio", "", RAW, ""),
        fileDisk("vdb", "virtio", "type='raw'", RAW, "")), "format-unset");
  }

  @Test
  void directIoRefused() throws Exception {
    String shm = "/dev/shm/a.raw";
    ImageFacts tmpfs = new ImageFacts(shm, null, "raw", GIB, GIB, GIB, 1, 0, false, false, List.of(), "tmpfs", false);
    flagsOnlyVda(hits("7.2", Map.of(shm, tmpfs, RAW, image(RAW, "raw", GIB, GIB, 1, 0)),
        fileDisk("vda", "virtio", "type='raw' cache='none'", shm, ""),
        fileDisk("vdb", "virtio", "type='raw' cache='none'", RAW, "")), "cache-none-no-odirect");
  }

  @Test
  void imageMismatches() throws Exception {
    String overlay = "/i/overlay.qcow2";
    ImageFacts withBacking = new ImageFacts(overlay, null, "qcow2", GIB, 1 << 20, 1 << 20, 0, 65536, false, false,
        List.of("/i/base.qcow2"), "ext4", true);
    Map<String, ImageFacts> images = Map.of(QCOW, image(QCOW, "qcow2", GIB, 1 << 20, 0, 65536),
        RAW, image(RAW, "raw", GIB, GIB, 1, 0), overlay, withBacking);
    flagsOnlyVda(hits("7.2", images, fileDisk("vda", "virtio", "type='raw'", QCOW, ""),
        fileDisk("vdb", "virtio", "type='qcow2'", QCOW, "")), "image-format-mismatch");
    flagsOnlyVda(hits("7.2", images,
        fileDisk("vda", "virtio", "type='qcow2'", overlay, "      <backingStore type='file'><format type='qcow2'/>"
            + "<source file='/i/other.qcow2'/></backingStore>\n"),
        fileDisk("vdb", "virtio", "type='qcow2'", overlay, "      <backingStore type='file'><format type='qcow2'/>"
            + "<source file='/i/base.qcow2'/></backingStore>\n")), "image-backing-mismatch");
    String slice = "      <source file='%s'><slices><slice type='storage' offset='0' size='%d'/></slices></source>\n";
    flagsOnlyVda(hits("7.2", images,
        fileDisk("vda", "virtio", "type='raw'", RAW, "").replace("      <source file='" + RAW + "'/>\n", slice.formatted(RAW, 2 * GIB)),
        fileDisk("vdb", "virtio", "type='raw'", RAW, "").replace("      <source file='" + RAW + "'/>\n", slice.formatted(RAW, GIB))),
        "image-size-mismatch");
    flagsOnlyVda(hits("7.2", images, fileDisk("vda", "virtio", "type='raw'", "/i/missing.raw", ""),
        fileDisk("vdb", "virtio", "type='raw'", RAW, "")), "image-unreadable");
  }

  @Test
  void networkSourcesAreReportedNotProbed() throws Exception {
    String rbd = """
            <disk type='network' device='disk'>
              <driver name='qemu' type='raw' cache='writeback' discard='unmap'/>
              <source protocol='rbd' name='vms/0b6c_disk'>
                <host name='10.0.0.1' port='6789'/>
              </source>
              <target dev='vda' bus='virtio'/>
            </disk>
        """;
    flagsOnlyVda(hits("7.2", Map.of(RAW, image(RAW, "raw", GIB, GIB, 1, 0)), rbd,
        fileDisk("vdb", "virtio", "type='raw' cache='none' discard='unmap'", RAW, "")), "source-not-probed");
  }

  @Test
  void ruleIdsAreUnique() {
    var ids = new HashSet<String>();
    for (Rule r : Rules.all()) {
      assertThat(ids.add(r.id())).as("unique id " + r.id()).isTrue();
      assertThat(r.summary()).isNotBlank();
    }
  }
}
