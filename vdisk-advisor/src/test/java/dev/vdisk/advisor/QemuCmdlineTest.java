package dev.vdisk.advisor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.advisor.model.BackingLayer;
import dev.vdisk.advisor.model.Bus;
import dev.vdisk.advisor.model.Disk;
import dev.vdisk.advisor.model.DiskSite;
import dev.vdisk.advisor.model.Setting;
import dev.vdisk.advisor.model.SourceKind;
import dev.vdisk.advisor.qemu.ShellWords;
import dev.vdisk.advisor.rules.Finding;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** -drive, dotted and JSON -blockdev, -device links, shell splitting, and printed fixes. */
class QemuCmdlineTest {
  /** The disk part of a command line as Proxmox VE's qm showcmd prints it. */
  static final String PROXMOX = "/usr/bin/kvm -id 100 -name 'web,debug-threads=on' -m 4096"
      + " -device 'virtio-scsi-pci,id=scsihw0,bus=pci.0,addr=0x5'"
      + " -drive 'file=/var/lib/vz/images/100/vm-100-disk-0.qcow2,if=none,id=drive-scsi0,cache=writethrough,"
      + "format=qcow2,detect-zeroes=unmap'"
      + " -device 'scsi-hd,bus=scsihw0.0,channel=0,scsi-id=0,lun=0,drive=drive-scsi0,id=scsi0,bootindex=100'"
      + " -drive 'file=/dev/pve/vm-100-disk-1,if=none,id=drive-virtio1,aio=native,format=raw,cache=none'"
      + " -device 'virtio-blk-pci,drive=drive-virtio1,id=virtio1,bus=pci.0,addr=0xb'";

  /** Jazzer's finding: two nodes of one name were one disk before the fix and two after it; QEMU refuses both. */
  @Test
  void nodeNamesQemuRefusesAreRefused() {
    assertThatThrownBy(() -> Input.qemuCmdline("-blockdev node-name=base -blockdev node-name=base,", "c"))
        .isInstanceOf(AdviseException.class)
        .hasMessage("c: two -blockdev nodes are named 'base' (expected: a distinct node-name per node, as QEMU requires)");
    assertThatThrownBy(() -> Input.qemuCmdline("-blockdev driver=file,node-name=#0,filename=/x", "c"))
        .isInstanceOf(AdviseException.class).hasMessageContaining("node-name '#0' is not a valid QEMU node name");
    assertThatThrownBy(() -> Input.qemuCmdline("-blockdev driver=file,node-name=" + "a".repeat(32) + ",filename=/x", "c"))
        .isInstanceOf(AdviseException.class).hasMessageContaining("is not a valid QEMU node name");
  }

  /**
   * Jazzer's finding (the -Pfuzz run of 2026-12-04): a node whose backing chain comes back to itself made the chain
   * grow until the heap ran out; QEMU cannot build such a chain (a node names only nodes defined before it).
   */
  @Test
  void aBackingChainThatLoopsIsRefused() {
    assertThatThrownBy(() -> Input.qemuCmdline("-blockdev driver=qcow2,node-name=top,backing=top,file.driver=file,"
        + "file.filename=/i/top.qcow2 -device virtio-blk-pci,drive=top", "c"))
        .isInstanceOf(AdviseException.class)
        .hasMessage("c: the backing chain of -blockdev node 'top' comes back to node 'top' (expected: a chain that ends,"
            + " each node defined before the node naming it, as QEMU requires)");
    assertThatThrownBy(() -> Input.qemuCmdline("-blockdev driver=qcow2,node-name=a,backing=b,file.driver=file,file.filename=/a"
        + " -blockdev driver=qcow2,node-name=b,backing=a,file.driver=file,file.filename=/b -device virtio-blk-pci,drive=a", "c"))
        .isInstanceOf(AdviseException.class).hasMessageContaining("comes back to node 'a'");
  }

  /** Jazzer's finding: a key added after a trailing comma made ",," (an escaped comma) of the separator. */
  @Test
  void addedKeyAfterTrailingComma() throws Exception {
    Input in = Input.qemuCmdline("-blockdev driver=file,node-name=s,filename=/x,", "c");
    DiskSite site = in.config().disks().getFirst().site();
    String fixed = in.fixed(Map.of(site, Map.of(Setting.IO, "native")));
    assertThat(fixed).isEqualTo("-blockdev driver=file,node-name=s,filename=/x,aio=native");
  }

  @Test
  void shellSplitting() throws Exception {
    assertThat(ShellWords.split("a 'b c' \"d \\\"e\\\"\" f\\ g \\\n h")).containsExactly("a", "b c", "d \"e\"", "f g", "h");
    assertThatThrownBy(() -> ShellWords.split("-drive 'file=x")).isInstanceOf(AdviseException.class)
        .hasMessageContaining("unterminated single quote at character 8");
  }

  @Test
  void proxmoxDrivesAndDevices() throws Exception {
    List<Disk> disks = Input.qemuCmdline(PROXMOX, "pve").config().disks();
    assertThat(disks).extracting(Disk::name).containsExactly("drive-scsi0", "drive-virtio1");
    assertThat(disks.get(0).bus()).isEqualTo(Bus.VIRTIO_SCSI);
    assertThat(disks.get(0).cache()).isEqualTo("writethrough");
    assertThat(disks.get(1).kind()).isEqualTo(SourceKind.BLOCK);
    assertThat(disks.get(1).bus()).isEqualTo(Bus.VIRTIO_BLK);
  }

  @Test
  void idePlainDriveAndSataDevicesAreTheirBuses() throws Exception {
    List<Disk> disks = Input.qemuCmdline("qemu-system-x86_64 -drive file=/i/a.raw,format=raw"
        + " -device ahci,id=ahci0 -drive file=/i/b.raw,format=raw,if=none,id=b -device ide-hd,drive=b,bus=ahci0.0"
        + " -drive file=/i/c.raw,format=raw,if=none,id=c -device ide-hd,drive=c,bus=ide.1", "cmd").config().disks();
    assertThat(disks).extracting(Disk::bus).containsExactly(Bus.IDE, Bus.SATA, Bus.IDE);
  }

  @Test
  void proxmoxFixIsPrintedWithOnlyItsKeysChanged() throws Exception {
    Input in = Input.qemuCmdline(PROXMOX, "pve");
    List<Finding> findings = Fixtures.findings(in, "4.2", null);
    assertThat(findings).extracting(Finding::rule).contains("cache-writethrough", "detect-zeroes-unmap-without-discard");
    String fixed = in.fixed(findings);
    // Words are printed again shell-quoted only where needed (no quote was needed here).
    assertThat(fixed).isEqualTo(PROXMOX.replace("'", "").replace("cache=writethrough,", "cache=none,")
        .replace("detect-zeroes=unmap ", "detect-zeroes=unmap,discard=unmap "));
    assertThat(Fixtures.findings(Input.qemuCmdline(fixed, "pve"), "4.2", null)).noneMatch(Finding::fixable);
  }

  @Test
  void driveWithAJsonPseudoProtocol() throws Exception {
    // Inside -drive, the JSON's commas are doubled as QEMU's option syntax requires.
    Disk d = Input.qemuCmdline("-drive 'file=json:{\"driver\":\"qcow2\",,\"file\":{\"driver\":\"file\",,"
        + "\"filename\":\"/i/a.qcow2\"}}',if=virtio", "x").config().disks().getFirst();
    assertThat(d.kind()).isEqualTo(SourceKind.FILE);
    assertThat(d.path()).isEqualTo("/i/a.qcow2");
    assertThat(d.format()).isEqualTo("qcow2");
    Disk rbd = Input.qemuCmdline("-drive 'file=json:{\"driver\":\"rbd\",,\"pool\":\"vms\",,\"image\":\"d1\"},format=raw'",
        "x").config().disks().getFirst();
    assertThat(rbd.kind()).isEqualTo(SourceKind.NETWORK);
    assertThat(rbd.path()).isEqualTo("vms/d1");
  }

  @Test
  void blockdevDottedAndJsonWithBackingAndDevices() throws Exception {
    String cmd = "-blockdev driver=file,node-name=base-file,filename=/i/base.qcow2"
        + " -blockdev driver=qcow2,node-name=base,file=base-file"
        + " -blockdev '{\"driver\":\"qcow2\",\"node-name\":\"top\",\"backing\":\"base\","
        + "\"file\":{\"driver\":\"file\",\"filename\":\"/i/top.qcow2\",\"cache\":{\"direct\":true},\"aio\":\"native\"}}'"
        + " -device virtio-blk-pci,drive=top,write-cache=off";
    Input in = Input.qemuCmdline(cmd, "x");
    Disk top = in.config().disks().getFirst();
    assertThat(in.config().disks()).hasSize(1);
    assertThat(top.format()).isEqualTo("qcow2");
    assertThat(top.path()).isEqualTo("/i/top.qcow2");
    assertThat(top.cache()).isEqualTo("directsync");
    assertThat(top.io()).isEqualTo("native");
    assertThat(top.backing()).containsExactly(new BackingLayer("/i/base.qcow2", "qcow2"));
    String fixed = in.fixed(Fixtures.findings(in, "7.2", null));
    assertThat(fixed).contains("-device virtio-blk-pci,drive=top,write-cache=on")
        .contains("\"discard\":\"unmap\"}");
    assertThat(Fixtures.findings(Input.qemuCmdline(fixed, "x"), "7.2", null)).noneMatch(Finding::fixable);
  }
}
