package dev.vdisk.cli;

import dev.vdisk.format.ImageFormat;
import java.io.PrintWriter;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code -o help} (or {@code -o ?}) of create, convert and measure: qemu-img 7.2's list of creation options in its
 * words and layout, limited to the options vdisk implements (qemu-img also lists encryption, {@code nocow} and
 * {@code extent_size_hint}). Without an image file name only the format's own options are listed, as qemu-img
 * lists them; with one, the host file's options too ({@code preallocation} of a raw image lives there in QEMU).
 */
final class OptionHelp {
  /** qcow2's options: name, then QEMU's type and help text. */
  private static final Map<String, String> QCOW2 = Map.ofEntries(
      Map.entry("backing_file", "<str> - File name of a base image"),
      Map.entry("backing_fmt", "<str> - Image format of the base image"),
      Map.entry("cluster_size", "<size> - qcow2 cluster size"),
      Map.entry("compat", "<str> - Compatibility level (v2 [0.10] or v3 [1.1])"),
      Map.entry("compression_type", "<str> - Compression method used for image cluster compression"),
      Map.entry("data_file", "<str> - File name of an external data file"),
      Map.entry("data_file_raw", "<bool (on/off)> - The external data file must stay valid as a raw image"),
      Map.entry("extended_l2", "<bool (on/off)> - Extended L2 tables"),
      Map.entry("lazy_refcounts", "<bool (on/off)> - Postpone refcount updates"),
      Map.entry("preallocation", "<str> - Preallocation mode (allowed values: off, metadata, falloc, full)"),
      Map.entry("refcount_bits", "<num> - Width of a reference count entry in bits"),
      Map.entry("size", "<size> - Virtual disk size"));

  /** The encryption options qemu-img amend lists for qcow2 (vdisk has no encrypted images, so it refuses them). */
  private static final Map<String, String> QCOW2_ENCRYPT_AMEND = Map.of(
      "encrypt.iter-time", "<num> - Time to spend in PBKDF in milliseconds",
      "encrypt.keyslot", "<num> - Select a single keyslot to modify explicitly",
      "encrypt.new-secret", "<str> - New secret to set in the matching keyslots. Empty string to erase",
      "encrypt.old-secret", "<str> - Select all keyslots that match this password",
      "encrypt.state", "<str> - Select new state of affected keyslots (active/inactive)");

  /** raw's own option. */
  private static final Map<String, String> RAW = Map.of("size", "<size> - Virtual disk size");

  /** The host file's options (QEMU's file protocol). */
  private static final Map<String, String> FILE = Map.of(
      "preallocation", "<str> - Preallocation mode (allowed values: off, falloc, full)",
      "size", "<size> - Virtual disk size");

  private OptionHelp() {}

  /** qemu-img's has_help_option: any entry of the option list is {@code help} or {@code ?}. */
  static boolean asked(String options) {
    for (String entry : options.split(",")) {
      if (entry.equals("help") || entry.equals("?")) {
        return true;
      }
    }
    return false;
  }

  /** qemu-img amend's {@code -o help}: {@code names} (the format's amend options, in order) with qemu-img's help. */
  static void printAmend(ImageFormat format, java.util.List<String> names, PrintWriter out) {
    out.println("Amend options for '" + format.name() + "':");
    for (String name : names) {
      line(out, name, QCOW2.getOrDefault(name, QCOW2_ENCRYPT_AMEND.get(name)));
    }
  }

  /**
   * Prints the options of {@code format} as qemu-img's {@code qemu_opts_print_help} does.
   *
   * @param withFile an image file name was given: the host file's options are listed too
   */
  static void print(ImageFormat format, boolean withFile, PrintWriter out) {
    Map<String, String> own = format.name().equals("qcow2") ? QCOW2 : RAW;
    Map<String, String> shown = new TreeMap<>(own);
    if (withFile) {
      FILE.forEach(shown::putIfAbsent);
    }
    out.println(withFile ? "Supported options:" : "Supported " + format.name() + " options:");
    shown.forEach((name, help) -> line(out, name, help));
    if (!withFile) {
      out.println();
      out.println("The protocol level may support further options.");
      out.println("Specify the target filename to include those options.");
    }
  }

  private static void line(PrintWriter out, String name, String help) {
    int dash = help.indexOf(" - ");
    String head = "  " + name + "=" + help.substring(0, dash);
    out.println(String.format("%-24s", head) + help.substring(dash));
  }
}
