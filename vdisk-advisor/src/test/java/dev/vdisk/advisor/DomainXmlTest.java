package dev.vdisk.advisor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.rules.Finding;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The hardened parser, its error positions, and fixes that keep every untouched byte. */
class DomainXmlTest {
  /** An OpenStack Nova style domain: double quotes, a config drive, an RBD disk, a local disk. */
  static final String NOVA = """
      <domain type="kvm">
        <uuid>1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b</uuid>
        <name>instance-0000002a</name>
        <memory>4194304</memory>
        <vcpu>2</vcpu>
        <metadata>
          <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
            <nova:name>web-1</nova:name>
          </nova:instance>
        </metadata>
        <os>
          <type machine="q35">hvm</type>
          <boot dev="hd"/>
        </os>
        <devices>
          <disk type="file" device="disk">
            <driver name="qemu" type="qcow2" cache="none"/>
            <source file="/var/lib/nova/instances/1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/disk"/>
            <target bus="virtio" dev="vda"/>
          </disk>
          <disk type="network" device="disk">
            <driver type="raw" cache="writeback" discard="unmap"/>
            <source protocol="rbd" name="volumes/volume-7d1c">
              <host name="192.168.24.10" port="6789"/>
            </source>
            <auth username="cinder">
              <secret type="ceph" uuid="457eb676-33da-42ec-9a8c-9293d545c337"/>
            </auth>
            <target bus="virtio" dev="vdb"/>
            <serial>7d1c</serial>
          </disk>
          <disk type="file" device="cdrom">
            <driver name="qemu" type="raw" cache="none"/>
            <source file="/var/lib/nova/instances/1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/disk.config"/>
            <target bus="sata" dev="sda"/>
          </disk>
        </devices>
      </domain>
      """;

  @Test
  void readsNovaDisks() throws Exception {
    List<Disk> disks = Input.domainXml(NOVA, "nova.xml").config().disks();
    assertThat(disks).extracting(Disk::name).containsExactly("vda", "vdb", "sda");
    assertThat(disks.get(1).protocol()).isEqualTo("rbd");
    assertThat(disks.get(1).path()).isEqualTo("volumes/volume-7d1c");
    assertThat(disks.get(2).writable()).isFalse();
  }

  @Test
  void externalEntityIsNeverResolved(@TempDir Path dir) throws Exception {
    Path secret = Files.writeString(dir.resolve("secret.txt"), "TOP-SECRET-CONTENT");
    String xml = "<?xml version='1.0'?>\n<!DOCTYPE domain [<!ENTITY x SYSTEM 'file://" + secret + "'>]>\n"
        + "<domain type='kvm'><name>&x;</name><devices/></domain>\n";
    assertThatThrownBy(() -> Input.domainXml(xml, "evil.xml"))
        .isInstanceOf(AdviseException.class)
        .hasMessageContaining("evil.xml:2:")
        .hasMessageContaining("DOCTYPE")
        .hasMessageNotContaining("TOP-SECRET");
  }

  @Test
  void aDtdIsRefused() {
    String xml = "<!DOCTYPE domain SYSTEM 'http://127.0.0.1:9/domain.dtd'>\n<domain type='kvm'><devices/></domain>";
    assertThatThrownBy(() -> Input.domainXml(xml, "dtd.xml")).isInstanceOf(AdviseException.class)
        .hasMessageStartingWith("dtd.xml:1:").hasMessageContaining("DTDs and entities are refused");
  }

  @Test
  void malformedXmlNamesLineAndColumn() {
    String xml = "<domain type='kvm'>\n  <devices>\n    <disk type='file'>\n  </devices>\n</domain>\n";
    assertThatThrownBy(() -> Input.domainXml(xml, "bad.xml")).isInstanceOf(AdviseException.class)
        .hasMessageMatching("bad\\.xml:4:\\d+: .*\\(expected: well-formed XML\\)");
  }

  @Test
  void aDomainWithoutDisksHasNoFindings() throws Exception {
    Input in = Input.domainXml("<domain type='kvm'><name>empty</name><devices/></domain>", "e.xml");
    assertThat(in.config().disks()).isEmpty();
    assertThat(Fixtures.findings(in, "7.2", null)).isEmpty();
  }

  @Test
  void fixChangesOnlyTheNamedAttributes() throws Exception {
    String xml = """
        <domain type='kvm'>
          <!-- keep me -->
          <name>fix</name>
          <devices>
            <disk type="file" device="disk">
              <driver   name="qemu" type="qcow2"   cache="writethrough" />
              <source file="/i/a.qcow2"/>
              <target dev="vda" bus="virtio"/>
            </disk>
            <disk type='file' device='disk'>
              <source file='/i/b.raw'/>
              <target dev='vdb' bus='scsi'/>
            </disk>
          </devices>
        </domain>
        """.replace("\n", "\r\n");
    Input in = Input.domainXml(xml, "fix.xml");
    List<Finding> findings = Fixtures.findings(in, "4.2", null);
    String fixed = in.fixed(findings);
    String oldDriver = "<driver   name=\"qemu\" type=\"qcow2\"   cache=\"writethrough\" />";
    String newDriver = "<driver   name=\"qemu\" type=\"qcow2\"   cache=\"none\" discard=\"unmap\" />";
    String added = "\r\n      <driver name='qemu' type='raw' discard='unmap'/>";
    assertThat(fixed).contains(newDriver).contains(added);
    assertThat(fixed.replace(newDriver, oldDriver).replace(added, "")).isEqualTo(xml);
    // Advised again: nothing fixable left.
    assertThat(Fixtures.findings(Input.domainXml(fixed, "fix.xml"), "4.2", null)).noneMatch(Finding::fixable);
  }
}
