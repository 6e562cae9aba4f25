package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Images made by {@code vdisk create} look to qemu-img exactly like images qemu-img create made with the
 * same arguments: same info, same map, same contents.
 */
class CreateInteropIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;

  private Path[] createBoth(String prealloc) throws IOException, InterruptedException {
    Path ours = dir.resolve("vdisk-" + prealloc + ".img");
    Path theirs = dir.resolve("qemu-" + prealloc + ".img");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", "-o", "preallocation=" + prealloc, theirs.toString(), "4M");
    Vdisk.Result r = Vdisk.run("create", "-q", "-f", "raw", "-o", "preallocation=" + prealloc, ours.toString(), "4M");
    assertThat(r.exit()).as(r.err()).isZero();
    return new Path[] {ours, theirs};
  }

  @ParameterizedTest
  @ValueSource(strings = {"off", "falloc", "full"})
  void qemuImgComparesThemIdentical(String prealloc) throws IOException, InterruptedException {
    Path[] p = createBoth(prealloc);
    String out = PeerTools.check(dir, "qemu-img", "compare", "-f", "raw", "-F", "raw", p[0].toString(), p[1].toString());
    assertThat(out).isEqualTo("Images are identical.\n");
  }

  /** Needs the real FileDevice (actual size from st_blocks) and QEMU's create-time allocation of the first block. */
  @ParameterizedTest
  @ValueSource(strings = {"off", "falloc", "full"})
  void qemuImgInfoIsTheSame(String prealloc) throws IOException, InterruptedException {
    Path[] p = createBoth(prealloc);
    ObjectNode ours = (ObjectNode) JSON.readTree(PeerTools.check(dir, "qemu-img", "info", "--output=json", "-f", "raw", p[0].toString()));
    ObjectNode theirs = (ObjectNode) JSON.readTree(PeerTools.check(dir, "qemu-img", "info", "--output=json", "-f", "raw", p[1].toString()));
    ours.remove("filename");
    theirs.remove("filename");
    assertThat(ours).isEqualTo(theirs);
  }

  /** Needs QEMU's create-time allocation of the first block (and, for falloc, a FileDevice that preallocates). */
  @ParameterizedTest
  @ValueSource(strings = {"off", "falloc", "full"})
  void qemuImgMapIsTheSame(String prealloc) throws IOException, InterruptedException {
    Path[] p = createBoth(prealloc);
    String ours = PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "raw", p[0].toString());
    String theirs = PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "raw", p[1].toString());
    assertThat(ours).isEqualTo(theirs);
  }

  /**
   * Sizes the host file cannot take are refused with qemu-img's message and exit code: within 511 bytes of the largest
   * size, where rounding up to a sector overflows (qemu-img: "Could not resize file: Invalid argument"), and above the
   * file system's largest file (EFBIG: "The image size is too large for file format 'raw'").
   */
  @ParameterizedTest
  @ValueSource(longs = {Long.MAX_VALUE, Long.MAX_VALUE - 1000, Long.MAX_VALUE - 4095})
  void sizesTheFileCannotTakeAreRefusedLikeQemuImg(long size) throws IOException, InterruptedException {
    PeerTools.Result theirs = PeerTools.run(dir, "qemu-img", "create", "-f", "raw", "qemu.img", Long.toString(size));
    Vdisk.Result ours = Vdisk.run("create", "-f", "raw", dir.resolve("vdisk.img").toString(), Long.toString(size));
    assertThat(theirs.exit()).as(theirs.err()).isEqualTo(1);
    assertThat(ours.exit()).as(ours.err()).isEqualTo(1);
    String message = theirs.err().strip().replaceFirst("^qemu-img: [^:]*qemu\\.img: ", "");
    assertThat(ours.err().strip()).isEqualTo("vdisk create: " + dir.resolve("vdisk.img") + ": " + message);
  }
}
