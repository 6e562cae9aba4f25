package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * LUKS encrypted qcow2 images qemu-io wrote, read by vdisk with the key ({@code --object secret} and {@code
 * encrypt.key-secret} in {@code --image-opts}): convert and dd give qemu-img convert's bytes (also with {@code -C}, whose
 * kernel copies would send ciphertext), map qemu-img map's JSON (no host offsets), check qemu-img check's verdict, io
 * reads the patterns, compare finds the plaintext identical; for each cipher, mode, IV generator and hash qemu-img
 * create takes that vdisk decrypts. A wrong password is QEMU's message, exit 1.
 */
class EncryptedReadInteropIT {
  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    PeerTools.require("qemu-img");
    PeerTools.require("qemu-io");
  }

  /** qemu-io's writes: whole clusters, sectors inside a cluster, one sector, zeroes over data, a cluster apart. */
  private Path written(String options) throws Exception {
    Path image = dir.resolve("enc.qcow2");
    EncryptedPeers.create(dir, image, "64M", options);
    EncryptedPeers.qemuIo(dir, image, "write -P 7 0 1M", "write -P 9 2M 4k", "write -P 10 2052k 512",
        "write -z 512k 64k", "write -P 11 40M 64k", "write -P 12 63M 1M");
    return image;
  }

  /** {@code command} on the encrypted {@code image} with the key, then {@code rest}: the same for both tools. */
  private static String[] withKey(String command, Path image, String... rest) {
    return concat(new String[] {command, "--object", EncryptedPeers.SECRET, "--image-opts",
        EncryptedPeers.imageOpts(image)}, rest);
  }

  private Vdisk.Result vdisk(String command, Path image, String... rest) {
    return Vdisk.run(withKey(command, image, rest));
  }

  private String[] qemuImg(String command, Path image, String... rest) {
    return concat(new String[] {"qemu-img"}, withKey(command, image, rest));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "encrypt.cipher-alg=aes-128,encrypt.hash-alg=sha1",
      "encrypt.cipher-alg=aes-192,encrypt.hash-alg=sha512",
      "encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256",
      "encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=plain,encrypt.hash-alg=sha224",
      "encrypt.cipher-alg=aes-256,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=plain64,encrypt.hash-alg=md5"})
  void readsWhatQemuWrote(String options) throws Exception {
    Path image = written(options);
    Path theirs = dir.resolve("theirs.raw");
    PeerTools.check(dir, qemuImg("convert", image, "-O", "raw", theirs.toString()));
    for (String[] extra : new String[][] {{}, {"-C"}}) {
      Path ours = dir.resolve("ours" + extra.length + ".raw");
      Vdisk.Result c = vdisk("convert", image, concat(extra, "-O", "raw", ours.toString()));
      assertThat(c.exit()).as(c.err()).isZero();
      assertThat(Files.mismatch(ours, theirs)).as("convert %s", String.join(" ", extra)).isEqualTo(-1);
    }
    Vdisk.Result map = vdisk("map", image, "--output=json");
    assertThat(map.out()).isEqualTo(PeerTools.check(dir, qemuImg("map", image, "--output=json")));
    assertThat(map.out()).doesNotContain("offset");
    PeerTools.Result qemuCheck = PeerTools.run(dir, qemuImg("check", image));
    Vdisk.Result check = vdisk("check", image);
    assertThat(check.out()).isEqualTo(qemuCheck.out());
    assertThat(check.exit()).isEqualTo(qemuCheck.exit());
    Vdisk.Result io = vdisk("io", image, "-r", "-c", "read -P 7 0 512k", "-c", "read -P 0 512k 64k",
        "-c", "read -P 9 2M 4k", "-c", "read -P 10 2052k 512", "-c", "read -P 11 40M 64k", "-c", "read -P 12 63M 1M",
        "-c", "read -P 0 50M 64k");
    assertThat(io.exit()).as(io.err()).isZero();
    assertThat(io.out()).doesNotContain("Pattern verification failed");
    Vdisk.Result compare = vdisk("compare", image, "driver=raw,file.filename=" + theirs);
    assertThat(compare.out()).as(compare.err()).isEqualTo("Images are identical.\n");
  }

  /** Reads that start and end inside a sector decrypt the whole sectors around them. */
  @Test
  void unalignedReads() throws Exception {
    Path image = written("");
    Vdisk.Result io = vdisk("io", image, "-r", "-c", "read -P 9 2049k 3000", "-c", "read -P 10 2052k 17",
        "-c", "read -P 10 2101501 11", "-c", "read -P 0 2101760 100");
    assertThat(io.exit()).as(io.err()).isZero();
    assertThat(io.out()).doesNotContain("Pattern verification failed");
  }

  @Test
  void ddReadsWithTheKey() throws Exception {
    Path image = written("");
    Path theirs = dir.resolve("theirs.raw");
    Path ours = dir.resolve("ours.raw");
    PeerTools.check(dir, "qemu-img", "dd", "--object", EncryptedPeers.SECRET, "--image-opts", "bs=1M",
        "if=" + EncryptedPeers.imageOpts(image), "of=" + theirs);
    Vdisk.Result dd = Vdisk.run("dd", "--object", EncryptedPeers.SECRET, "--image-opts", "bs=1M",
        "if=" + EncryptedPeers.imageOpts(image), "of=" + ours);
    assertThat(dd.exit()).as(dd.err()).isZero();
    assertThat(Files.mismatch(ours, theirs)).isEqualTo(-1);
  }

  @Test
  void aWrongPasswordIsQemusMessage() throws Exception {
    Path image = written("");
    Vdisk.Result r = Vdisk.run("convert", "--object", "secret,id=sec0,data=654321", "--image-opts",
        EncryptedPeers.imageOpts(image), "-O", "raw", dir.resolve("x.raw").toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).contains("Invalid password, cannot unlock any keyslot");
    Vdisk.Result missing = Vdisk.run("map", "--image-opts", EncryptedPeers.imageOpts(image));
    assertThat(missing.exit()).isEqualTo(1);
    assertThat(missing.err()).contains("No secret with id 'sec0'");
  }

  private static String[] concat(String[] a, String... b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
