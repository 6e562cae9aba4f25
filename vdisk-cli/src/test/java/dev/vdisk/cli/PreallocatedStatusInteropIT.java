package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.io.CacheMode;
import dev.vdisk.nbd.server.DiscardMode;
import dev.vdisk.nbd.server.EventLog;
import dev.vdisk.nbd.server.NbdServer;
import dev.vdisk.nbd.server.ServerConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every allocation answer vdisk gives about a preallocated qcow2 image is qemu-img's and qemu-nbd's: data clusters
 * over holes of a {@code preallocation=metadata} file and zero clusters that keep their storage read as zeroes in
 * {@code map} (JSON and human), {@code measure}, {@code convert -O raw} (bytes and allocation of the output),
 * {@code compare} (also {@code -s}), and over NBD ({@code nbdinfo --map} for {@code base:allocation} and
 * {@code qemu:allocation-depth}, vdisk's server against qemu-nbd's on the same file). The layouts are those the
 * create tests make with each preallocation mode, after qemu-io's writes, zero writes and a discard.
 */
class PreallocatedStatusInteropIT {
  private static final String SIZE = "32M";

  @TempDir Path dir;

  @BeforeEach
  void peers() {
    for (String tool : List.of("qemu-img", "qemu-io", "qemu-nbd", "nbdinfo")) {
      PeerTools.require(tool);
    }
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {
      "preallocation=off",
      "preallocation=metadata",
      "preallocation=falloc",
      "preallocation=full",
      "extended_l2=on,preallocation=metadata",
      "extended_l2=on,preallocation=falloc",
      "extended_l2=on,preallocation=full",
      "compat=0.10,preallocation=metadata",
      "compat=0.10,preallocation=falloc",
      "compat=0.10,preallocation=full",
      "cluster_size=512,preallocation=metadata",
      "cluster_size=512,preallocation=falloc",
      "cluster_size=2M,preallocation=metadata",
      "cluster_size=2M,preallocation=falloc",
      "cluster_size=16k,extended_l2=on,preallocation=metadata",
      "data_file=DATA,preallocation=metadata",
      "data_file=DATA,preallocation=falloc",
  })
  void everyStatusPathAgreesWithQemu(String options) throws Exception {
    // DATA: img.data's absolute name (a relative one is relative to the current directory, not the test's for vdisk).
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-o", options.replace("DATA", path("img.data")),
        "img.qcow2", SIZE);
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 1 0 64k", "-c", "write -z 128k 64k",
        "-c", "write -P 2 1M 4k", "-c", "write -z 2M 4k", "-c", "write -z 4M 2M", "-c", "discard 8M 64k",
        "-c", "write -P 3 30M 2M", "img.qcow2");
    String image = path("img.qcow2");

    for (List<String> args : List.of(List.of("map", "--output=json"), List.of("map"),
        List.of("measure", "-O", "qcow2"), List.of("measure", "-O", "qcow2", "--output=json"))) {
      assertSameAsQemuImg(options, args, image);
    }

    PeerTools.check(dir, "qemu-img", "convert", "-O", "raw", image, "q.raw");
    Vdisk.Result convert = Vdisk.run("convert", "-O", "raw", image, path("v.raw"));
    assertThat(convert.exit()).as(convert.err()).isZero();
    assertThat(Arrays.mismatch(Files.readAllBytes(dir.resolve("v.raw")), Files.readAllBytes(dir.resolve("q.raw"))))
        .as(options + ": convert -O raw, first differing byte").isEqualTo(-1);
    assertThat(PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "raw", "v.raw"))
        .as(options + ": allocation of convert's output")
        .isEqualTo(PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "raw", "q.raw"));
    assertSameAsQemuImg(options, List.of("compare"), image, path("q.raw"));
    assertSameAsQemuImg(options, List.of("compare", "-s"), image, path("q.raw"));

    for (String context : List.of("base:allocation", "qemu:allocation-depth")) {
      String theirs = PeerTools.check(dir, "nbdinfo", "--map=" + context, "--",
          "[", "qemu-nbd", "-r", "-A", "-f", "qcow2", image, "]");
      assertThat(nbdinfoMapOfVdisk(context, image)).as(options + ": nbdinfo --map=" + context).isEqualTo(theirs);
    }
  }

  private void assertSameAsQemuImg(String options, List<String> args, String... images) throws Exception {
    List<String> theirs = new ArrayList<>(List.of("qemu-img"));
    theirs.addAll(args);
    theirs.addAll(List.of(images));
    PeerTools.Result expected = PeerTools.run(dir, theirs.toArray(String[]::new));
    List<String> ours = new ArrayList<>(args);
    ours.addAll(List.of(images));
    Vdisk.Result got = Vdisk.run(ours.toArray(String[]::new));
    String what = options + ": " + String.join(" ", args);
    assertThat(got.out()).as(what + " (stderr: " + got.err() + ")").isEqualTo(expected.out());
    assertThat(got.exit()).as(what).isEqualTo(expected.exit());
  }

  /** nbdinfo's map of {@code image} served writable by vdisk's NBD server, as {@code vdisk serve} serves it. */
  private String nbdinfoMapOfVdisk(String context, String image) throws Exception {
    StringWriter log = new StringWriter();
    EventLog events = new EventLog(new PrintWriter(log, true));
    NbdServer server = new NbdServer(List.of(new ExportSpec("img", image, "qcow2", CacheMode.WRITEBACK, false,
        DiscardMode.IGNORE, "").withAllocationDepth().open(events, new PrintWriter(log, true))), ServerConfig.DEFAULTS, events);
    try {
      Path socket = dir.resolve("vdisk.sock");
      Files.deleteIfExists(socket);
      server.listen(UnixDomainSocketAddress.of(socket));
      return PeerTools.check(dir, "nbdinfo", "--map=" + context, "nbd+unix:///img?socket=" + socket);
    } finally {
      server.stop(Duration.ofSeconds(5));
    }
  }

  private String path(String name) {
    return dir.resolve(name).toString();
  }
}
