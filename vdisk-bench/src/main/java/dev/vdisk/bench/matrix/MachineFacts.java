package dev.vdisk.bench.matrix;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;

/**
 * What the numbers were measured on, for the report's header.
 *
 * @param filesystem the type of the filesystem holding the images ({@code ext4}, {@code xfs}, {@code tmpfs}, ...)
 * @param device what the filesystem is mounted from ({@code /dev/sda1}), or the block device under test
 * @param qemu {@code qemu-img --version}'s first line, or null when no peer ran
 */
@JsonPropertyOrder({"date", "host", "kernel", "cpus", "memory-bytes", "filesystem", "device", "directory", "java",
    "vdisk", "qemu"})
public record MachineFacts(
    @JsonProperty("date") String date,
    @JsonProperty("host") String host,
    @JsonProperty("kernel") String kernel,
    @JsonProperty("cpus") int cpus,
    @JsonProperty("memory-bytes") long memoryBytes,
    @JsonProperty("filesystem") String filesystem,
    @JsonProperty("device") String device,
    @JsonProperty("directory") String directory,
    @JsonProperty("java") String java,
    @JsonProperty("vdisk") String vdisk,
    @JsonProperty("qemu") String qemu) {

  /** The facts of this machine for images in {@code dir}. */
  public static MachineFacts of(Path dir, String vdiskVersion, String qemuVersion) throws IOException {
    FileStore store = Files.getFileStore(dir);
    return new MachineFacts(Instant.now().toString(), hostName(), System.getProperty("os.name") + " "
        + System.getProperty("os.version") + " " + System.getProperty("os.arch"),
        Runtime.getRuntime().availableProcessors(), totalMemory(), store.type(), store.name(),
        dir.toAbsolutePath().toString(), System.getProperty("java.vm.name") + " " + Runtime.version(),
        vdiskVersion, qemuVersion);
  }

  /** The same facts with another device (a block device under test). */
  public MachineFacts withDevice(String dev) {
    return new MachineFacts(date, host, kernel, cpus, memoryBytes, filesystem, dev, directory, java, vdisk, qemu);
  }

  private static String hostName() {
    try {
      return Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
    } catch (IOException e) {
      return "unknown";
    }
  }

  /** MemTotal of /proc/meminfo, 0 where it cannot be read. */
  private static long totalMemory() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
        if (line.startsWith("MemTotal:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (IOException | NumberFormatException e) {
      // Not Linux, or an unexpected format: the header says 0.
    }
    return 0;
  }
}
