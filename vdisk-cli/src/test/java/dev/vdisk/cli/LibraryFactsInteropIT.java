package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vdisk.CreateOptions;
import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.format.ImageInfo;
import dev.vdisk.format.Measurement;
import dev.vdisk.format.Snapshot;
import dev.vdisk.format.internal.OptionString;
import dev.vdisk.io.Preallocation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Java program gets through the library's front door ({@link Vdisk}, {@link Image}), without the CLI, the facts
 * that qemu-img prints as JSON: info of every image of a backing chain, the chain's map, measure of the chain and of
 * sizes, and images of size 0 created byte for byte as qemu-img creates them. The chain is made by qemu-img and
 * written by qemu-io. (The CLI only renders these facts; the info, map and measure interop tests compare its text.)
 */
class LibraryFactsInteropIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final OpenOptions READ = OpenOptions.builder().readOnly(true).build();

  @TempDir Path dir;
  private Path top;

  /** base.raw (8 MiB) under top.qcow2 (12 MiB, 4 KiB clusters, one snapshot), both holding data and zeroes. */
  @BeforeEach
  void chain() throws IOException, InterruptedException {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", "base.raw", "8M");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 1 0 64k", "-c", "write -P 2 3M 1M", "base.raw");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "-b", "base.raw",
        "-F", "raw", "top.qcow2", "12M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 3 32k 64k", "-c", "write -z 3M 8k",
        "-c", "write -P 4 10M 5k", "top.qcow2");
    PeerTools.check(dir, "qemu-img", "snapshot", "-c", "first", "top.qcow2");
    top = dir.resolve("top.qcow2");
  }

  @Test
  void infoOfEveryImageOfTheChainIsQemuImgs() throws IOException, InterruptedException {
    JsonNode theirs = JSON.readTree(PeerTools.check(dir, "qemu-img", "info", "--output=json", "--backing-chain",
        top.toString()));
    List<ImageInfo> ours;
    try (Image image = Vdisk.open(top, READ)) {
      ours = image.backingChain();
      assertThat(image.info()).isEqualTo(ours.getFirst());
    }
    assertThat(ours).hasSize(theirs.size());
    for (int i = 0; i < ours.size(); i++) {
      ImageInfo o = ours.get(i);
      JsonNode t = theirs.get(i);
      assertThat(o.filename()).isEqualTo(t.get("filename").asText());
      assertThat(o.format()).isEqualTo(t.get("format").asText());
      assertThat(o.virtualSize()).isEqualTo(t.get("virtual-size").asLong());
      assertThat(o.actualSize()).hasValue(t.get("actual-size").asLong());
      assertThat(o.dirty()).isEqualTo(t.get("dirty-flag").asBoolean());
      assertThat(o.clusterSize().isPresent()).isEqualTo(t.has("cluster-size"));
      o.clusterSize().ifPresent(c -> assertThat(c).isEqualTo(t.get("cluster-size").asInt()));
      assertThat(o.backingFilename().orElse(null)).isEqualTo(text(t, "backing-filename"));
      assertThat(o.fullBackingFilename().map(Path::toString).orElse(null)).isEqualTo(text(t, "full-backing-filename"));
      assertThat(o.backingFormat().orElse(null)).isEqualTo(text(t, "backing-filename-format"));
      JsonNode specific = t.has("format-specific") ? t.get("format-specific").get("data") : null;
      assertThat(o.formatSpecific().isEmpty() ? null : JSON.readTree(JSON.writeValueAsString(o.formatSpecific())))
          .isEqualTo(specific);
      List<String> snapshots = new ArrayList<>();
      t.path("snapshots").forEach(s -> snapshots.add(s.get("id").asText() + " " + s.get("name").asText() + " "
          + s.get("vm-state-size").asLong() + " " + s.get("date-sec").asLong() + " " + s.get("date-nsec").asLong()));
      assertThat(o.snapshots()).extracting(s -> s.id() + " " + s.name() + " " + s.vmStateSize() + " "
          + s.dateSeconds() + " " + s.dateNanos()).containsExactlyElementsOf(snapshots);
    }
    assertThat(ours.getFirst().snapshots()).extracting(Snapshot::name).containsExactly("first");
  }

  @Test
  void mapOfTheChainIsQemuImgs() throws IOException, InterruptedException {
    for (long[] range : new long[][] {{0, -1}, {1 << 20, 3 << 20}, {(10 << 20) + 1000, 100_000}, {12 << 20, -1}}) {
      List<String> args = new ArrayList<>(List.of("qemu-img", "map", "--output=json"));
      args.addAll(List.of("--start-offset", Long.toString(range[0])));
      if (range[1] >= 0) {
        args.addAll(List.of("--max-length", Long.toString(range[1])));
      }
      args.add(top.toString());
      List<String> theirs = new ArrayList<>();
      JSON.readTree(PeerTools.check(dir, args.toArray(String[]::new))).forEach(e -> theirs.add(e.toString()));
      List<String> ours = new ArrayList<>();
      try (Image image = Vdisk.open(top, READ)) {
        image.map(range[0], range[1], e -> ours.add(JSON.writeValueAsString(MapCommand.json(e))));
      }
      assertThat(ours).as(args.toString()).containsExactlyElementsOf(theirs);
    }
  }

  @Test
  void measureOfTheChainAndOfSizesIsQemuImgs() throws IOException, InterruptedException {
    for (String target : List.of("raw", "qcow2", "qcow2:cluster_size=512", "qcow2:cluster_size=2M,extended_l2=on",
        "qcow2:backing_file=x", "qcow2:preallocation=falloc,refcount_bits=1",
        "qcow2:compat=0.10,lazy_refcounts=on,compression_type=zstd")) {
      String[] parts = target.split(":", 2);
      CreateOptions options = CreateOptions.parseForMeasure(parts[0],
          OptionString.parse(parts.length > 1 ? parts[1] : ""));
      List<String> measure = new ArrayList<>(List.of("qemu-img", "measure", "--output=json", "-O", parts[0]));
      if (parts.length > 1) {
        measure.addAll(List.of("-o", parts[1]));
      }
      List<String> ofChain = new ArrayList<>(measure);
      ofChain.add(top.toString());
      try (Image image = Vdisk.open(top, READ)) {
        assertThat(json(Vdisk.measure(options, image))).as(ofChain.toString())
            .isEqualTo(JSON.readTree(PeerTools.check(dir, ofChain.toArray(String[]::new))));
      }
      for (long size : List.of(0L, 1L, 1_000_000_007L, 1L << 30)) {
        List<String> ofSize = new ArrayList<>(measure);
        ofSize.addAll(List.of("--size", Long.toString(size)));
        assertThat(json(Vdisk.measure(options, size))).as(ofSize.toString())
            .isEqualTo(JSON.readTree(PeerTools.check(dir, ofSize.toArray(String[]::new))));
      }
    }
  }

  @Test
  void imagesOfSizeZeroAreQemuImgsByteForByte() throws IOException, InterruptedException {
    Map<String, CreateOptions> cases = Map.of(
        "raw", CreateOptions.raw(),
        "qcow2", CreateOptions.qcow2().build(),
        "qcow2:preallocation=full", CreateOptions.qcow2().preallocation(Preallocation.FULL).build(),
        "qcow2:compat=0.10,cluster_size=512", CreateOptions.qcow2().compat("0.10").clusterSize(512).build());
    for (Map.Entry<String, CreateOptions> c : cases.entrySet()) {
      String[] parts = c.getKey().split(":", 2);
      Path theirs = dir.resolve("theirs-" + c.getKey().replaceAll("[^a-z0-9]", "_"));
      Path ours = dir.resolve("ours-" + c.getKey().replaceAll("[^a-z0-9]", "_"));
      List<String> create = new ArrayList<>(List.of("qemu-img", "create", "-q", "-f", parts[0]));
      if (parts.length > 1) {
        create.addAll(List.of("-o", parts[1]));
      }
      create.addAll(List.of(theirs.toString(), "0"));
      PeerTools.check(dir, create.toArray(String[]::new));
      Vdisk.create(ours, 0, c.getValue(), false);
      assertThat(Files.readAllBytes(ours)).as(c.getKey()).isEqualTo(Files.readAllBytes(theirs));
      try (Image image = Vdisk.open(ours, READ)) {
        assertThat(image.size()).isZero();
      }
    }
    Path negative = dir.resolve("negative.qcow2");
    assertThatThrownBy(() -> Vdisk.create(negative, -1, CreateOptions.qcow2().build(), false))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("size: -1 (expected: a byte count >= 0)");
    assertThat(negative).doesNotExist();
  }

  /** qemu-img measure's JSON object, from the typed fact (read back, so numbers compare as parsed ones do). */
  private static JsonNode json(Measurement m) throws IOException {
    var o = JSON.createObjectNode();
    m.bitmaps().ifPresent(b -> o.put("bitmaps", b));
    o.put("required", m.required());
    o.put("fully-allocated", m.fullyAllocated());
    return JSON.readTree(o.toString());
  }

  private static String text(JsonNode node, String field) {
    return node.has(field) ? node.get(field).asText() : null;
  }
}
