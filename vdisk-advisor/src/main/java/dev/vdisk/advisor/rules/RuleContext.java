package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.facts.BenchReport;
import dev.vdisk.advisor.facts.HostFacts;
import dev.vdisk.advisor.facts.ImageFacts;
import dev.vdisk.advisor.facts.QemuVersion;
import dev.vdisk.advisor.model.VmConfig;
import java.util.Optional;

/**
 * What a rule may consult besides the disk.
 *
 * @param vm the configuration the disk belongs to
 * @param qemu the QEMU version judged against
 * @param host this host's kernel facts
 * @param bench the measured report, or null
 * @param image the probed image of the disk, or null when not probed (no {@code --probe-images}, or not a local disk)
 * @param probing {@code --probe-images} was given
 */
public record RuleContext(VmConfig vm, QemuVersion qemu, HostFacts host, BenchReport bench,
    ImageFacts image, boolean probing) {

  /** The probed image if it opened. */
  public Optional<ImageFacts> readableImage() {
    return image != null && image.readable() ? Optional.of(image) : Optional.empty();
  }

  /** The probed image if it opened and is qcow2. */
  public Optional<ImageFacts> probedQcow2() {
    return readableImage().filter(i -> "qcow2".equals(i.format()) && i.clusterSize() > 0);
  }

  /** The measured report, if given. */
  public Optional<BenchReport> benchReport() {
    return Optional.ofNullable(bench);
  }

  /** True when fixes are written as libvirt XML (else as a QEMU command line). */
  public boolean libvirt() {
    return vm.syntax() == VmConfig.Syntax.LIBVIRT_XML;
  }
}
