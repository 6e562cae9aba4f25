package dev.vdisk.advisor;

import dev.vdisk.advisor.facts.HostFacts;
import dev.vdisk.advisor.facts.ImageFacts;
import dev.vdisk.advisor.facts.QemuVersion;
import dev.vdisk.advisor.rules.Finding;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** Domains written the way virt-install writes them, and the advisor run over them with given facts. */
final class Fixtures {
  static final HostFacts IO_URING_HOST = new HostFacts("6.1.0", true);

  private Fixtures() {}

  /** A virt-install style domain around {@code disks}. */
  static String domain(String... disks) {
    return """
        <domain type='kvm'>
          <name>fixture</name>
          <uuid>0b6c5a8e-4c0e-4f37-a3e4-1c7f6d2b9a10</uuid>
          <memory unit='KiB'>2097152</memory>
          <vcpu placement='static'>2</vcpu>
          <os>
            <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
          </os>
          <devices>
            <emulator>/usr/bin/qemu-system-x86_64</emulator>
        %s    <controller type='scsi' index='0' model='virtio-scsi'/>
          </devices>
        </domain>
        """.formatted(String.join("", disks));
  }

  /** One {@code <disk type='file'>} with {@code driver} attributes, on {@code bus}, plus {@code extra} children. */
  static String fileDisk(String dev, String bus, String driver, String file, String extra) {
    return """
            <disk type='file' device='disk'>
              <driver name='qemu'%s/>
              <source file='%s'/>
              <target dev='%s' bus='%s'/>
        %s    </disk>
        """.formatted(driver.isEmpty() ? "" : " " + driver, file, dev, bus, extra);
  }

  /** The findings for {@code xml} as "disk:rule" strings. */
  static List<String> ruleHits(String xml, String qemu, Map<String, ImageFacts> images) throws AdviseException {
    return findings(Input.domainXml(xml, "fixture.xml"), qemu, images).stream().map(f -> f.disk() + ":" + f.rule()).toList();
  }

  /** The findings for {@code input} under QEMU {@code qemu}; {@code images} by path, or null not to probe. */
  static List<Finding> findings(Input input, String qemu, Map<String, ImageFacts> images) {
    Function<Path, ImageFacts> prober = images == null ? null
        : p -> images.getOrDefault(p.toString(), ImageFacts.unreadable(p.toString(), "no such file"));
    return new Advisor(QemuVersion.parse(qemu), IO_URING_HOST, null, prober).advise(input).findings();
  }

  /** Probed facts of a healthy image. */
  static ImageFacts image(String path, String format, long size, long allocated, double mapped, int cluster) {
    return new ImageFacts(path, null, format, size, allocated, allocated, mapped, cluster, false, false, List.of(),
        "ext4", true);
  }
}
