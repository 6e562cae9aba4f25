package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * vdisk allocates as QEMU 7.2 does: the same writes, zeroes and discards through {@code qemu-io} on one copy of an
 * image and through {@code vdisk io} on another leave the same {@code qemu-img map --output=json}, the same guest
 * data, both images clean by {@code qemu-img check}, host files of about the same size and, with an external data
 * file, the same data file. Layouts: extended L2 (subcluster allocation, with and without a backing file, 2 MiB
 * clusters), standard L2 of version 3 and 2, external data files (raw or not, with extended L2), and 1 KiB clusters,
 * where the workload needs new refcount blocks, placed where QEMU places them (RefcountAllocator).
 *
 * <p>The maps are compared whole, host offsets included, for workloads that free no cluster. Where clusters are
 * freed, QEMU reuses them at once while vdisk reuses them only after the flush that makes their release durable
 * (a crash must not leave two entries on one cluster), so there the offsets are left out. The {@code zero} flag of
 * data extents is left out everywhere: qemu-img map sets it from holes of the host file, when a heuristic takes the
 * image for a metadata-preallocated one, and the page-level sparseness of the host file is not part of the format.
 * (Zeroes on a version 2 image without a backing file are discards, so that layout is among those with frees.)
 */
class Qcow2AllocationInteropIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Writes into new and partly written (sub)clusters, zeroes of every shape; no cluster is freed. */
  private static final List<String> NO_FREES = List.of(
      "write -P 0xa1 5000 3000", "write -z 70000 100", "write -z 131072 2048", "write -z 196608 100000",
      "write -P 0xa2 1000000 200000", "write -z 1100000 70000", "write -P 0xa3 100k 5000", "write -P 0xa4 3M 4k",
      "write -P 0xa5 3100k 10k", "write -z 3000k 300k", "write -P 0xa6 4000000 194304", "write -P 0xa7 2M 1M");

  /** The same and then discards, zeroes that may unmap, and writes into what they freed. */
  private static final List<String> WITH_FREES = List.of(
      "write -P 0xb1 0 1M", "write -P 0xb2 1500k 700k", "discard 0 128k", "write -z -u 256k 256k",
      "write -P 0xb3 100k 5000", "write -z -u 1600k 3000", "discard 2M 64k", "write -P 0xb4 3M 65537",
      "write -z 3200k 1k", "discard 3M 1M", "write -P 0xb5 3070k 200k");

  /** Bytes {@link #WITH_FREES} frees at most. */
  private static final long FREED = 3L << 19;

  @TempDir Path dir;

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"extended_l2=on", "extended_l2=on,cluster_size=16384", "extended_l2=on,cluster_size=2M",
      "extended_l2=on + backing", "extended_l2=on,cluster_size=2M + backing", "cluster_size=4096", "cluster_size=1024",
      "cluster_size=4096 + backing", "compat=0.10 + backing", "data_file=DATA", "data_file=DATA,data_file_raw=on", "data_file=DATA,extended_l2=on"})
  void sameAllocationWithoutFrees(String layout) throws Exception {
    run(layout, NO_FREES, true);
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"extended_l2=on", "extended_l2=on + backing", "cluster_size=4096 + backing",
      "compat=0.10", "compat=0.10 + backing", "data_file=DATA", "data_file=DATA,data_file_raw=on",
      "data_file=DATA,extended_l2=on,cluster_size=16384"})
  void sameAllocationWithFrees(String layout) throws Exception {
    run(layout, WITH_FREES, false);
  }

  private void run(String layout, List<String> commands, boolean offsets) throws Exception {
    boolean backing = layout.endsWith(" + backing");
    String options = layout.replace(" + backing", "");
    make("qemu", options, backing);
    make("vdisk", options, backing);
    io(List.of("qemu-io", "-f", "qcow2"), "qemu.qcow2", commands);
    io(List.of("./vdisk", "io", "-f", "qcow2"), "vdisk.qcow2", commands);

    assertThat(map("vdisk.qcow2", offsets)).as("qemu-img map of vdisk's image vs QEMU's").isEqualTo(map("qemu.qcow2", offsets));
    PeerTools.Result cmp = PeerTools.run(dir, "qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", "vdisk.qcow2", "qemu.qcow2");
    assertThat(cmp.exit()).as("qemu-img compare: " + cmp.out() + cmp.err()).isZero();
    for (String image : List.of("vdisk.qcow2", "qemu.qcow2")) {
      PeerTools.Result check = PeerTools.run(dir, "qemu-img", "check", image);
      assertThat(check.exit()).as("qemu-img check " + image + ": " + check.out() + check.err()).isZero();
    }
    long ours = Files.size(dir.resolve("vdisk.qcow2"));
    long theirs = Files.size(dir.resolve("qemu.qcow2"));
    // Without frees the same clusters; with them, vdisk may have grown the file by what the workload freed (at most
    // FREED) where QEMU reused it at once.
    long slack = offsets ? 0 : FREED + 2 * clusterSize(options);
    assertThat(ours).as("host file size vs QEMU's " + theirs).isBetween(theirs - slack, theirs + slack);
    if (options.contains("data_file")) {
      assertThat(Files.readAllBytes(dir.resolve("vdisk.data"))).as("data file contents")
          .isEqualTo(Files.readAllBytes(dir.resolve("qemu.data")));
    }
  }

  private static long clusterSize(String options) {
    for (String o : options.split(",")) {
      if (o.startsWith("cluster_size=")) {
        String v = o.substring("cluster_size=".length());
        return v.endsWith("M") ? Long.parseLong(v.substring(0, v.length() - 1)) << 20 : Long.parseLong(v);
      }
    }
    return 65536;
  }

  /**
   * {@code NAME.qcow2} of 4 MiB with {@code options} (DATA standing for {@code NAME.data}'s absolute name: a data file
   * name is relative to the current directory, which is not the test's for vdisk in-process), over a shared backing
   * file.
   */
  private void make(String name, String options, boolean backing) throws IOException, InterruptedException {
    String o = options.replace("DATA", dir.resolve(name + ".data").toString());
    if (backing) {
      if (!Files.exists(dir.resolve("base.qcow2"))) {
        PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", "4M");
        io(List.of("qemu-io", "-f", "qcow2"), "base.qcow2", List.of("write -P 0x55 0 1M", "write -P 0x66 2M 64k",
            "write -z 3M 64k", "write -P 0x77 3500k 100k"));
      }
      PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", o, "-b", "base.qcow2", "-F", "qcow2",
          name + ".qcow2", "4M");
    } else {
      PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", o, name + ".qcow2", "4M");
    }
  }

  private void io(List<String> tool, String image, List<String> commands) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(tool);
    if (cmd.getFirst().equals("./vdisk")) {
      List<String> args = new ArrayList<>(cmd.subList(1, cmd.size()));
      for (String c : commands) {
        args.add("-c");
        args.add(c);
      }
      args.add(dir.resolve(image).toString());
      Vdisk.Result r = Vdisk.run(args.toArray(String[]::new));
      assertThat(r.exit()).as("vdisk io: " + r.err()).isZero();
      return;
    }
    for (String c : commands) {
      cmd.add("-c");
      cmd.add(c);
    }
    cmd.add(image);
    String out = PeerTools.check(dir, cmd.toArray(String[]::new));
    assertThat(out).as("qemu-io " + commands).doesNotContain("error", "failed");
  }

  /** qemu-img map's JSON, with the parts the class comment explains left out, merged again where that joins entries. */
  private List<String> map(String image, boolean offsets) throws IOException, InterruptedException {
    JsonNode all = JSON.readTree(PeerTools.check(dir, "qemu-img", "map", "--output=json", image));
    List<JsonNode> out = new ArrayList<>();
    for (JsonNode e : all) {
      ObjectNode n = ((ObjectNode) e).deepCopy();
      if (n.get("data").asBoolean()) {
        n.remove("zero");
      }
      if (!offsets) {
        n.remove("offset");
      }
      if (!out.isEmpty() && mergeable((ObjectNode) out.getLast(), n)) {
        ObjectNode last = (ObjectNode) out.getLast();
        last.put("length", last.get("length").asLong() + n.get("length").asLong());
      } else {
        out.add(n);
      }
    }
    return out.stream().map(JsonNode::toString).toList();
  }

  private static boolean mergeable(ObjectNode a, ObjectNode b) {
    for (String k : List.of("depth", "present", "zero", "data")) {
      if (!String.valueOf(a.get(k)).equals(String.valueOf(b.get(k)))) {
        return false;
      }
    }
    if (a.has("offset") != b.has("offset")) {
      return false;
    }
    return !a.has("offset") || a.get("offset").asLong() + a.get("length").asLong() == b.get("offset").asLong();
  }
}
