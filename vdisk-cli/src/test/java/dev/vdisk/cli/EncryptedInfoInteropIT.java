package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * LUKS encrypted qcow2 images qemu-img made, described without a key: {@code vdisk info}'s human and JSON output is
 * qemu-img info's for each cipher, mode, IV generator and hash option qemu-img create takes; commands that read data
 * are refused without the key, as qemu-img refuses them; check counts the LUKS area's clusters as used.
 */
class EncryptedInfoInteropIT {
  @TempDir Path dir;

  @BeforeAll
  static void peers() {
    PeerTools.require("qemu-img");
    PeerTools.require("qemu-io");
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "encrypt.cipher-alg=aes-128", "encrypt.cipher-alg=aes-192,encrypt.hash-alg=sha1",
      "encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256,encrypt.hash-alg=sha512",
      "encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=plain,encrypt.hash-alg=sha224",
      "encrypt.cipher-alg=twofish-256", "encrypt.cipher-alg=serpent-128,encrypt.cipher-mode=cbc"})
  void infoIsQemuImgs(String options) throws Exception {
    Path image = dir.resolve("enc.qcow2");
    EncryptedPeers.create(dir, image, "64M", options);
    EncryptedPeers.qemuIo(dir, image, "write -P 7 0 1M");
    for (String[] output : new String[][] {{}, {"--output=json"}}) {
      String[] qemu = concat(new String[] {"qemu-img", "info"}, output, image.toString());
      Vdisk.Result ours = Vdisk.run(concat(new String[] {"info"}, output, image.toString()));
      assertThat(ours.exit()).as(ours.err()).isZero();
      assertThat(ours.out()).isEqualTo(PeerTools.check(dir, qemu));
    }
  }

  @Test
  void infoOfAnOverlayWithABackingFile() throws Exception {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", "64M");
    Path image = dir.resolve("over.qcow2");
    EncryptedPeers.create(dir, image, "64M", "encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,"
        + "encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256 -b base.qcow2 -F qcow2");
    for (String[] output : new String[][] {{}, {"--output=json"}}) {
      Vdisk.Result ours = Vdisk.run(concat(new String[] {"info"}, output, image.toString()));
      assertThat(ours.out()).isEqualTo(PeerTools.check(dir, concat(new String[] {"qemu-img", "info"}, output,
          image.toString())));
    }
  }

  @Test
  void dataIsRefusedWithoutAKey() throws Exception {
    Path image = dir.resolve("enc.qcow2");
    EncryptedPeers.create(dir, image, "64M", "");
    EncryptedPeers.qemuIo(dir, image, "write -P 7 0 1M");
    for (String[] cmd : new String[][] {{"map", image.toString()}, {"convert", "-O", "raw", image.toString(),
        dir.resolve("out.raw").toString()}, {"io", "-r", "-c", "read 0 64k", image.toString()},
        {"compare", image.toString(), image.toString()}}) {
      Vdisk.Result ours = Vdisk.run(cmd);
      // qemu-img compare's exit status for an error is 2.
      assertThat(ours.exit()).as(String.join(" ", cmd)).isEqualTo(cmd[0].equals("compare") ? 2 : 1);
      assertThat(ours.err()).contains("Parameter 'encrypt.key-secret' is required for cipher");
    }
    assertThat(dir.resolve("out.raw")).doesNotExist();
  }

  private static String[] concat(String[] a, String[] b, String last) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length + 1);
    System.arraycopy(b, 0, out, a.length, b.length);
    out[out.length - 1] = last;
    return out;
  }
}
