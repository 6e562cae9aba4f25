package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * vdisk writes LUKS encrypted qcow2 images with their key ({@code --object secret}, {@code encrypt.key-secret=ID}),
 * and QEMU reads them: after the same writes (aligned and unaligned, zeroes, discards, a write past the end of the
 * file, partial clusters over a backing file, a growth, {@code convert -n}), {@code qemu-img compare} with the key
 * finds the image identical to a plain image qemu-io (or qemu-img) wrote, and {@code qemu-img check} finds it clean.
 */
class EncryptedWriteInteropIT {
  /**
   * Writes of every shape: inside sectors, across clusters, zeroes aligned and not, a discard, parts of a zeroed and a
   * discarded cluster, past the end of the file.
   */
  private static final String[] WRITES = {"write -P 7 0 1M", "write -P 9 3000 5000", "write -P 10 2M 4k",
      "write -P 11 2100001 333", "write -z 512k 64k", "write -z 700001 1000", "discard 64k 64k", "write -P 8 520k 4k",
      "write -P 1 64k 1k", "write -P 12 63M 1M", "write -P 13 40M 100", "write -P 14 40M 7", "write -z 2M 1k"};

  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    PeerTools.require("qemu-img");
    PeerTools.require("qemu-io");
  }

  private static String[] io(String image, String... commands) {
    List<String> cmd = new ArrayList<>(List.of("io", "--object", EncryptedPeers.SECRET, "--image-opts"));
    for (String c : commands) {
      cmd.addAll(List.of("-c", c));
    }
    cmd.add(image);
    return cmd.toArray(String[]::new);
  }

  private void vdisk(String... args) {
    Vdisk.Result r = Vdisk.run(args);
    assertThat(r.exit()).as(String.join(" ", args) + ": " + r.err()).isZero();
    assertThat(r.out()).doesNotContain("Pattern verification failed");
  }

  private void qemuIo(Path plain, String... commands) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("qemu-io"));
    for (String c : commands) {
      cmd.addAll(List.of("-c", c));
    }
    cmd.add(plain.toString());
    PeerTools.check(dir, cmd.toArray(String[]::new));
  }

  /** qemu-img compare (with the key) finds {@code encrypted} identical to {@code plain}, and check finds it clean. */
  private void sameAsQemus(Path encrypted, Path plain) throws Exception {
    assertThat(PeerTools.check(dir, "qemu-img", "compare", "--object", EncryptedPeers.SECRET, "--image-opts",
        EncryptedPeers.imageOpts(encrypted), "driver=qcow2,file.filename=" + plain)).isEqualTo("Images are identical.\n");
    assertThat(PeerTools.check(dir, "qemu-img", "check", "--object", EncryptedPeers.SECRET, "--image-opts",
        EncryptedPeers.imageOpts(encrypted))).startsWith("No errors were found on the image.");
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "encrypt.cipher-alg=aes-128,encrypt.hash-alg=sha1",
      "encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256",
      "encrypt.cipher-alg=aes-256,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=plain64,encrypt.hash-alg=md5",
      "encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=plain,encrypt.hash-alg=sha224"})
  void writesQemuReadsBack(String options) throws Exception {
    Path image = dir.resolve("enc.qcow2");
    EncryptedPeers.create(dir, image, "64M", options);
    Path plain = dir.resolve("plain.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", plain.toString(), "64M");
    vdisk(io(EncryptedPeers.imageOpts(image), WRITES));
    qemuIo(plain, WRITES);
    sameAsQemus(image, plain);
    // A growth, then writes in the grown part and over what qemu-io wrote before.
    vdisk("resize", "--object", EncryptedPeers.SECRET, "--image-opts", EncryptedPeers.imageOpts(image), "80M");
    PeerTools.check(dir, "qemu-img", "resize", "-q", plain.toString(), "80M");
    String[] more = {"write -P 15 79M 65537", "write -P 16 1000 10"};
    EncryptedPeers.qemuIo(dir, image, "write -P 17 30M 4k");
    qemuIo(plain, "write -P 17 30M 4k");
    vdisk(io(EncryptedPeers.imageOpts(image), more));
    qemuIo(plain, more);
    sameAsQemus(image, plain);
    vdisk(io(EncryptedPeers.imageOpts(image), "read -P 17 30M 4k", "read -P 15 79M 65537", "read -P 0 64M 1M"));
  }

  /**
   * Partial-cluster writes into an encrypted overlay: the rest of each cluster (or subcluster, with extended L2
   * entries) is copied up from the backing file.
   */
  @ParameterizedTest
  @ValueSource(strings = {"", "extended_l2=on"})
  void partialClustersOverABackingFile(String options) throws Exception {
    Path base = dir.resolve("base.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", base.toString(), "16M");
    qemuIo(base, "write -P 3 0 16M");
    Path image = dir.resolve("enc.qcow2");
    EncryptedPeers.create(dir, image, "16M", options + " -b " + base + " -F qcow2");
    Path plain = dir.resolve("plain.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", options.isEmpty() ? "extended_l2=off" : options,
        "-b", base.toString(), "-F", "qcow2", plain.toString(), "16M");
    String[] writes = {"write -P 4 1000 3000", "write -P 5 1M 512", "write -z 2M 4k", "write -P 6 3M 100",
        "write -z 5000001 17"};
    vdisk(io(EncryptedPeers.imageOpts(image), writes));
    qemuIo(plain, writes);
    sameAsQemus(image, plain);
  }

  /**
   * convert -n into an existing encrypted image ({@code --target-image-opts}), as qemu-img convert -n; without -n the
   * option is qemu-img's one-line refusal.
   */
  @Test
  void convertsIntoAnEncryptedImage() throws Exception {
    Path src = dir.resolve("src.raw");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", src.toString(), "16M");
    qemuIo(src, "write -P 21 1M 3M", "write -P 22 10000 777");
    Path image = dir.resolve("enc.qcow2");
    EncryptedPeers.create(dir, image, "16M", "");
    EncryptedPeers.qemuIo(dir, image, "write -P 8 0 16M");
    vdisk("convert", "-n", "--object", EncryptedPeers.SECRET, "--target-image-opts", "-f", "raw", src.toString(),
        EncryptedPeers.imageOpts(image));
    Path plain = dir.resolve("plain.qcow2");
    PeerTools.check(dir, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", src.toString(), plain.toString());
    sameAsQemus(image, plain);
    Vdisk.Result create = Vdisk.run("convert", "--object", EncryptedPeers.SECRET, "--target-image-opts", "-f", "raw",
        src.toString(), EncryptedPeers.imageOpts(image));
    assertThat(create.exit()).isEqualTo(1);
    assertThat(create.err()).isEqualTo("vdisk convert: --target-image-opts requires use of -n flag\n");
  }
}
