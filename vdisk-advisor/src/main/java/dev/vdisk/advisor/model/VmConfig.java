package dev.vdisk.advisor.model;

import java.util.List;

/**
 * A virtual machine's disk configuration as read from one input.
 *
 * @param source the input's name (a file name, {@code -} for standard input, or {@code qemu-cmdline})
 * @param name the domain's name, or null when the input names none
 * @param syntax what it was parsed from
 * @param disks the disks, in the input's order
 */
public record VmConfig(String source, String name, Syntax syntax, List<Disk> disks) {
  /** The configuration languages the advisor reads. */
  public enum Syntax {
    LIBVIRT_XML,
    QEMU_CMDLINE
  }
}
