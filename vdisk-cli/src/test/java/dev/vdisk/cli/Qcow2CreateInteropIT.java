package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vdisk.block.Extent;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.FileOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * qcow2 images made by {@code vdisk create} are the same bytes as those {@code qemu-img create} makes with the same
 * arguments (external data files included), and so qemu-img checks them clean, maps and describes them alike,
 * compares them identical; vdisk opens them too.
 */
class Qcow2CreateInteropIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;

  /** Each row: the create arguments after {@code -f qcow2} (space separated, {@code IMG} is the image), then a label. */
  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "IMG 1000",
      "IMG 1G",
      "IMG 3T",
      "-o compat=0.10 IMG 1G",
      "-o compat=v2,preallocation=metadata IMG 200M",
      "-o cluster_size=512 IMG 1G",
      "-o cluster_size=512 IMG 100G",
      "-o cluster_size=2M IMG 3T",
      "-o cluster_size=4k,refcount_bits=1 IMG 1G",
      "-o refcount_bits=2,cluster_size=1k IMG 20G",
      "-o refcount_bits=64 IMG 1T",
      "-o lazy_refcounts=on,refcount_bits=8 IMG 1G",
      "-o extended_l2=on IMG 3T",
      "-o compression_type=zstd IMG 1G",
      "-o data_file=img.data IMG 1G",
      "-o data_file=img.data,data_file_raw=on IMG 1048577",
      "-o data_file=img.data,preallocation=falloc IMG 10M",
      "-o data_file=img.data,preallocation=full IMG 1048577",
      "-o data_file=img.data,preallocation=metadata IMG 1048576",
      "-o preallocation=metadata IMG 1073741825",
      "-o preallocation=metadata,cluster_size=512 IMG 33M",
      "-o preallocation=metadata,cluster_size=4k,refcount_bits=64 IMG 1000",
      "-o preallocation=metadata,cluster_size=16k,extended_l2=on IMG 100M",
      "-o preallocation=metadata,cluster_size=2M IMG 5G",
      "-o preallocation=falloc IMG 100M",
      "-o preallocation=falloc,cluster_size=512,refcount_bits=1 IMG 20M",
      "-o preallocation=falloc,cluster_size=16k,extended_l2=on IMG 20M",
      "-o preallocation=falloc,cluster_size=2M IMG 50M",
      "-o preallocation=full IMG 20971521",
      "-o preallocation=full,cluster_size=4k,refcount_bits=8 IMG 10M",
      "-b base.raw -F raw IMG",
      "-b base.raw -F raw IMG 3G",
      "-u -b missing.qcow2 -F qcow2 IMG 1G",
      "-b base.raw -F raw -o extended_l2=on,preallocation=metadata IMG",
  })
  void sameBytesAsQemuImg(String args) throws IOException, InterruptedException {
    Path q = Files.createDirectories(dir.resolve("qemu"));
    Path v = Files.createDirectories(dir.resolve("vdisk"));
    for (Path d : List.of(q, v)) {
      PeerTools.check(d, "qemu-img", "create", "-q", "-f", "raw", "base.raw", "64M");
      PeerTools.check(d, "qemu-io", "-f", "raw", "-c", "write -P 7 1M 64k", "base.raw");
    }
    PeerTools.check(q, command(List.of("qemu-img", "create", "-q", "-f", "qcow2"), args, q.resolve("img.qcow2")));
    // In a process of its own in v, as qemu-img runs in q: a relative data file name is relative to the current directory.
    PeerTools.Result r = Vdisk.runIn(v, command(List.of("create", "-q", "-f", "qcow2"), args, v.resolve("img.qcow2")));
    assertThat(r.exit()).as(r.err()).isZero();
    for (String name : List.of("img.qcow2", "img.data")) {
      assertThat(Files.exists(v.resolve(name))).as(name).isEqualTo(Files.exists(q.resolve(name)));
      if (Files.exists(q.resolve(name))) {
        assertThat(Files.mismatch(v.resolve(name), q.resolve(name))).as(name + " differs at byte").isEqualTo(-1L);
      }
    }
    if (args.contains("missing")) {
      return;
    }
    String check = PeerTools.check(v, "qemu-img", "check", "img.qcow2");
    assertThat(check).startsWith("No errors were found on the image.\n").doesNotContain("leaked");
    assertThat(check).isEqualTo(PeerTools.check(q, "qemu-img", "check", "img.qcow2"));
    assertThat(info(v)).isEqualTo(info(q));
    for (String name : List.of("img.qcow2", "img.data")) {
      if (Files.exists(q.resolve(name))) {
        assertThat(hostAllocation(v.resolve(name))).as(name + " allocation").isEqualTo(hostAllocation(q.resolve(name)));
      }
    }
    assertThat(PeerTools.check(v, "qemu-img", "map", "--output=json", "img.qcow2"))
        .isEqualTo(PeerTools.check(q, "qemu-img", "map", "--output=json", "img.qcow2"));
    assertThat(PeerTools.check(v, "qemu-img", "compare", "img.qcow2", q.resolve("img.qcow2").toString()))
        .isEqualTo("Images are identical.\n");
    Vdisk.Result vinfo = Vdisk.run("info", "--output=json", v.resolve("img.qcow2").toString());
    assertThat(vinfo.exit()).as(vinfo.err()).isZero();
  }

  /**
   * A relative data file name is relative to the current directory, not to the image's (QEMU 7.2's
   * qcow2_co_create_opts creates it and qcow2_do_open opens it by the name as given): with the image in a
   * subdirectory, vdisk creates the data file where qemu-img creates its own, each tool writes the other's image from
   * that directory, and neither tool opens or checks either image from the image's own directory.
   */
  @Test
  void relativeDataFileNameIsRelativeToTheCurrentDirectory() throws IOException, InterruptedException {
    Path sub = Files.createDirectories(dir.resolve("sub"));
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "data_file=q.data", "sub/q.qcow2", "1M");
    PeerTools.Result made = Vdisk.runIn(dir, "create", "-q", "-f", "qcow2", "-o", "data_file=v.data", "sub/v.qcow2", "1M");
    assertThat(made.exit()).as(made.err()).isZero();
    for (String data : List.of("q.data", "v.data")) {
      assertThat(dir.resolve(data)).as(data).exists();
      assertThat(sub.resolve(data)).as(data).doesNotExist();
    }
    PeerTools.check(dir, "qemu-io", "-c", "write -P 7 0 64k", "sub/v.qcow2");
    PeerTools.Result wrote = Vdisk.runIn(dir, "io", "-c", "write -P 7 0 64k", "sub/q.qcow2");
    assertThat(wrote.exit()).as(wrote.err()).isZero();
    assertThat(Files.mismatch(dir.resolve("v.data"), dir.resolve("q.data"))).as("data files differ at byte").isEqualTo(-1L);
    assertThat(PeerTools.check(dir, "qemu-img", "compare", "sub/q.qcow2", "sub/v.qcow2")).isEqualTo("Images are identical.\n");
    for (String image : List.of("q.qcow2", "v.qcow2")) {
      assertBothFail(image + " opened from sub/", PeerTools.run(sub, "qemu-io", "-c", "read 0 512", image),
          Vdisk.runIn(sub, "io", "-c", "read 0 512", image));
      assertBothFail(image + " checked from sub/", PeerTools.run(sub, "qemu-img", "check", image),
          Vdisk.runIn(sub, "check", image));
    }
  }

  private static void assertBothFail(String what, PeerTools.Result theirs, PeerTools.Result ours) {
    assertThat(theirs.exit()).as("qemu: " + what).isNotZero();
    assertThat(ours.exit()).as("vdisk: " + what + ": " + ours.out() + ours.err()).isEqualTo(theirs.exit());
  }

  /**
   * qemu-img info as JSON without the facts about the file rather than the image: its name, and its actual size,
   * which the file system's own extent blocks can change by a block between two files of identical allocation
   * (compared exactly by {@link #hostAllocation} instead).
   */
  private static ObjectNode info(Path d) throws IOException, InterruptedException {
    ObjectNode n = (ObjectNode) JSON.readTree(PeerTools.check(d, "qemu-img", "info", "--output=json", "img.qcow2"));
    n.remove(List.of("filename", "full-backing-filename", "actual-size"));
    return n;
  }

  /** Which byte ranges of the host file hold data and which are holes (SEEK_DATA/SEEK_HOLE). */
  private static List<String> hostAllocation(Path file) throws IOException {
    try (FileDevice f = FileDevice.open(file, FileOptions.of(CacheMode.WRITEBACK, true))) {
      List<String> out = new ArrayList<>();
      for (long at = 0; at < f.size(); ) {
        for (Extent e : f.extents(at, f.size() - at)) {
          out.add(e.offset() + "+" + e.length() + (e.data() ? " data" : " hole"));
          at = e.end();
        }
      }
      return out;
    }
  }

  private static String[] command(List<String> head, String args, Path image) {
    List<String> cmd = new ArrayList<>(head);
    for (String a : args.trim().split(" +")) {
      cmd.add(a.equals("IMG") ? image.toString() : a);
    }
    return cmd.toArray(String[]::new);
  }
}
