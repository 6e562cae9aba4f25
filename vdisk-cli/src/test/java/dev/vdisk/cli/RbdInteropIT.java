package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.block.RequestQueue;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.format.internal.RbdImages;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.rbd.RbdDevice;
import dev.vdisk.io.rbd.RbdName;
import dev.vdisk.nbd.server.DiscardMode;
import dev.vdisk.nbd.server.EventLog;
import dev.vdisk.nbd.server.Export;
import dev.vdisk.nbd.server.NbdServer;
import dev.vdisk.nbd.server.ServerConfig;
import dev.vdisk.testkit.BlockDeviceContractTest;
import dev.vdisk.testkit.QueuedDevice;
import dev.vdisk.testkit.Racers;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * vdisk on a real Ceph cluster (one per class, {@link CephCluster}), checked by the real peers: QEMU's rbd driver
 * ({@code qemu-img}, {@code qemu-io}, {@code qemu-nbd}), the {@code rbd} tool, {@code nbdinfo}. Images are a few
 * MiB so the class stays short; the cluster's OSD is killed in the last test.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RbdInteropIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final AtomicInteger IMAGES = new AtomicInteger();
  private static CephCluster cluster;

  @TempDir Path dir;

  @BeforeAll
  static void startCluster() throws Exception {
    cluster = CephCluster.start();
  }

  @AfterAll
  static void stopCluster() throws Exception {
    if (cluster != null) {
      cluster.stop();
    }
  }

  /** This run's mark in image names, so a reused cluster ({@link CephCluster#REUSE_ENV}) never has them already. */
  private static final String RUN = Long.toString(System.currentTimeMillis(), 36);

  /** A fresh image name in pool rbd. */
  private static String fresh(String prefix) {
    return "rbd/" + prefix + "-" + RUN + "-" + IMAGES.incrementAndGet();
  }

  private static Vdisk.Result vdisk(String... args) {
    return Vdisk.run(args);
  }

  private static void ok(Vdisk.Result r) {
    assertThat(r.exit()).as(r.out() + r.err()).isZero();
  }

  /** What {@code rbd export} reads from {@code image}. */
  private byte[] export(String image) throws Exception {
    Path out = dir.resolve("export-" + IMAGES.incrementAndGet());
    cluster.rbd(dir, "export", "--no-progress", image, out.toString());
    return Files.readAllBytes(out);
  }

  /** A local qcow2 with data at 0 (1 MiB of 0x11), 9 MiB (100 KiB of 0x22) and 17 MiB (4 KiB of 0x33), 24 MiB. */
  private Path sourceQcow2() throws Exception {
    Path src = dir.resolve("src.qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", src.toString(), "24M");
    PeerTools.check(dir, "qemu-io", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 9M 100k", "-c", "write -P 0x33 17M 4k",
        src.toString());
    return src;
  }

  @Test
  @Order(1)
  void createMakesWhatQemuImgMakes() throws Exception {
    String ours = fresh("create");
    String theirs = fresh("create-qemu");
    Vdisk.Result r = vdisk("create", "-f", "raw", cluster.name(ours), "20M");
    ok(r);
    assertThat(r.out()).isEqualTo("Formatting '" + cluster.name(ours) + "', fmt=raw size=20971520\n");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", cluster.name(theirs), "20M");
    JsonNode a = JSON.readTree(cluster.rbd(dir, "info", "--format", "json", ours));
    JsonNode b = JSON.readTree(cluster.rbd(dir, "info", "--format", "json", theirs));
    for (String key : List.of("size", "objects", "order", "object_size", "format", "features", "flags")) {
      assertThat(a.get(key)).as(key).isEqualTo(b.get(key));
    }
    assertThat(a.get("features").toString()).contains("layering", "exclusive-lock", "object-map", "fast-diff", "deep-flatten");
    Vdisk.Result again = vdisk("create", "-f", "raw", cluster.name(ours), "20M");
    assertThat(again.exit()).isEqualTo(1);
    assertThat(again.errLines()).hasSize(1);
    assertThat(again.err()).contains("rbd:" + ours + ": image already exists");
  }

  @Test
  @Order(2)
  void whatVdiskWritesQemuAndRbdExportRead() throws Exception {
    String image = fresh("vdisk-writes");
    ok(vdisk("create", "-f", "raw", cluster.name(image), "16M"));
    ok(vdisk("io", "-f", "raw", "-c", "write -P 0xaa 0 64k", "-c", "write -P 0xbb 5M 3M", "-c", "write -z 6M 1M",
        cluster.name(image)));
    byte[] expected = new byte[16 << 20];
    Arrays.fill(expected, 0, 64 << 10, (byte) 0xaa);
    Arrays.fill(expected, 5 << 20, 8 << 20, (byte) 0xbb);
    Arrays.fill(expected, 6 << 20, 7 << 20, (byte) 0);
    assertThat(export(image)).isEqualTo(expected);
    Path viaQemu = dir.resolve("qemu.raw");
    PeerTools.check(dir, "qemu-img", "convert", "-f", "raw", "-O", "raw", cluster.name(image), viaQemu.toString());
    assertThat(Files.readAllBytes(viaQemu)).isEqualTo(expected);
    assertThat(PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "read -P 0xbb 5M 1M", "-c", "read -P 0 6M 1M",
        cluster.name(image))).doesNotContain("Pattern verification failed");
  }

  @Test
  @Order(3)
  void whatQemuAndRbdImportWriteVdiskReadsAndMapsAsQemuImg() throws Exception {
    String image = fresh("qemu-writes");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", cluster.name(image), "24M");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x44 4M 64k", "-c", "write -P 0x55 20M 4k", cluster.name(image));
    Path viaVdisk = dir.resolve("vdisk.raw");
    ok(vdisk("convert", "-f", "raw", "-O", "raw", cluster.name(image), viaVdisk.toString()));
    assertThat(Files.readAllBytes(viaVdisk)).isEqualTo(export(image));
    for (String output : List.of("json", "human")) {
      Vdisk.Result map = vdisk("map", "-f", "raw", "--output=" + output, cluster.name(image));
      ok(map);
      String theirs = PeerTools.check(dir, "qemu-img", "map", "-f", "raw", "--output=" + output, cluster.name(image));
      if (output.equals("json")) {
        assertThat(JSON.readTree(map.out())).isEqualTo(JSON.readTree(theirs));
      } else {
        // qemu-img names the file in its json: form; the ranges are what must agree.
        assertThat(columns(map.out())).isEqualTo(columns(theirs));
      }
    }
    String imported = fresh("imported");
    cluster.rbd(dir, "import", "--no-progress", viaVdisk.toString(), imported);
    assertThat(vdisk("compare", "-f", "raw", "-F", "raw", cluster.name(imported), cluster.name(image)).out())
        .isEqualTo("Images are identical.\n");
  }

  private static List<String> columns(String humanMap) {
    return humanMap.lines().map(l -> String.join(" ", Arrays.asList(l.split("\\s+")).subList(0, 3))).toList();
  }

  @Test
  @Order(4)
  void convertToRbdAndBackIsIdenticalAndSparse() throws Exception {
    Path src = sourceQcow2();
    String image = fresh("converted");
    ok(vdisk("convert", "-O", "raw", src.toString(), cluster.name(image)));
    // 4 MiB objects: only those holding data exist (0, 8-12 and 16-20 MiB), as after qemu-img convert.
    String qemuImage = fresh("converted-qemu");
    PeerTools.check(dir, "qemu-img", "convert", "-O", "raw", src.toString(), cluster.name(qemuImage));
    JsonNode du = JSON.readTree(cluster.rbd(dir, "du", "--format", "json", image)).get("images").get(0);
    JsonNode duQemu = JSON.readTree(cluster.rbd(dir, "du", "--format", "json", qemuImage)).get("images").get(0);
    assertThat(du.get("used_size").asLong()).isEqualTo(12L << 20).isEqualTo(duQemu.get("used_size").asLong());
    assertThat(du.get("provisioned_size").asLong()).isEqualTo(24L << 20);

    Path back = dir.resolve("back.qcow2");
    ok(vdisk("convert", "-f", "raw", "-O", "qcow2", cluster.name(image), back.toString()));
    assertThat(PeerTools.check(dir, "qemu-img", "compare", src.toString(), back.toString())).isEqualTo("Images are identical.\n");
    Path rawBack = dir.resolve("back.raw");
    Path rawQemu = dir.resolve("qemu.raw");
    ok(vdisk("convert", "-f", "raw", "-O", "raw", cluster.name(image), rawBack.toString()));
    PeerTools.check(dir, "qemu-img", "convert", "-O", "raw", src.toString(), rawQemu.toString());
    assertThat(Files.readAllBytes(rawBack)).isEqualTo(Files.readAllBytes(rawQemu));
    assertThat(JSON.readTree(PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "raw", rawBack.toString())))
        .isEqualTo(JSON.readTree(PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "raw", rawQemu.toString())));
  }

  @Test
  @Order(5)
  void qcow2OnRbdIsCleanForQemuImg() throws Exception {
    Path src = sourceQcow2();
    String image = fresh("qcow2");
    ok(vdisk("convert", "-O", "qcow2", src.toString(), cluster.name(image)));
    assertThat(PeerTools.check(dir, "qemu-img", "check", "-f", "qcow2", cluster.name(image))).contains("No errors were found");
    assertThat(PeerTools.check(dir, "qemu-img", "compare", "-F", "qcow2", src.toString(), cluster.name(image)))
        .isEqualTo("Images are identical.\n");
    ok(vdisk("io", "-f", "qcow2", "-c", "write -P 0x66 20M 64k", cluster.name(image)));
    String theirs = PeerTools.check(dir, "qemu-img", "check", "-f", "qcow2", cluster.name(image));
    assertThat(theirs).contains("No errors were found");
    Vdisk.Result check = vdisk("check", "-f", "qcow2", cluster.name(image));
    ok(check);
    assertThat(check.out()).isEqualTo(theirs);
    assertThat(PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "read -P 0x66 20M 64k", cluster.name(image)))
        .doesNotContain("Pattern verification failed");
    Vdisk.Result info = vdisk("info", "--output=json", cluster.name(image));
    ok(info);
    assertThat(JSON.readTree(info.out()).get("format").asText()).isEqualTo("qcow2");
    Vdisk.Result opts = vdisk("info", "--output=json", "--image-opts",
        "driver=qcow2,file.driver=rbd,file.pool=rbd,file.image=" + image.substring(4) + ",file.conf=" + cluster.conf());
    ok(opts);
    assertThat(JSON.readTree(opts.out()).get("virtual-size")).isEqualTo(JSON.readTree(info.out()).get("virtual-size"));
    assertThat(JSON.readTree(info.out()).get("virtual-size").asLong()).isEqualTo(24L << 20);
  }

  @Test
  @Order(6)
  void snapshotsOpenReadOnlyWithTheirContents() throws Exception {
    String image = fresh("snap");
    ok(vdisk("create", "-f", "raw", cluster.name(image), "8M"));
    ok(vdisk("io", "-f", "raw", "-c", "write -P 0x01 0 1M", cluster.name(image)));
    cluster.rbd(dir, "snap", "create", image + "@s1");
    ok(vdisk("io", "-f", "raw", "-c", "write -P 0x02 0 1M", cluster.name(image)));
    assertThat(vdisk("io", "-f", "raw", "-c", "read -P 0x01 0 1M", cluster.name(image + "@s1")).out())
        .doesNotContain("Pattern verification failed");
    Vdisk.Result write = vdisk("io", "-f", "raw", "-c", "write -P 0x03 0 4k", cluster.name(image + "@s1"));
    assertThat(write.exit()).isNotZero();
    assertThat(PeerTools.check(dir, "qemu-io", "-f", "raw", "-r", "-c", "read -P 0x01 0 1M", cluster.name(image + "@s1")))
        .doesNotContain("Pattern verification failed");
  }

  @Test
  @Order(7)
  void serveShowsTheHolesQemuNbdShows() throws Exception {
    PeerTools.require("nbdinfo");
    PeerTools.require("qemu-nbd");
    String image = fresh("served");
    Path src = sourceQcow2();
    ok(vdisk("convert", "-O", "raw", src.toString(), cluster.name(image)));
    Path sock = dir.resolve("vdisk.sock");
    StringWriter log = new StringWriter();
    // --image-opts as QEMU spells it for RBD.
    ImageOptsFile opts = ImageOptsFile.parse("driver=rbd,pool=rbd,image=" + image.substring(4) + ",conf=" + cluster.conf());
    NbdServer server = new NbdServer(List.of(new ExportSpec("", opts.file(), opts.format(), CacheMode.WRITEBACK, true,
        DiscardMode.IGNORE, "").open(new EventLog(new PrintWriter(log, true)), new PrintWriter(log, true))),
        ServerConfig.DEFAULTS, new EventLog(new PrintWriter(log, true)));
    String ours;
    try {
      server.listen(UnixDomainSocketAddress.of(sock));
      ours = PeerTools.check(dir, "nbdinfo", "--map", "nbd+unix:///?socket=" + sock);
    } finally {
      server.stop(Duration.ofSeconds(5));
    }
    Path qsock = dir.resolve("qemu.sock");
    Process qemuNbd = new ProcessBuilder("qemu-nbd", "-r", "-f", "raw", "-k", qsock.toString(), cluster.name(image))
        .redirectErrorStream(true).redirectOutput(dir.resolve("qemu-nbd.log").toFile()).start();
    String theirs;
    try {
      for (int i = 0; i < 100 && !Files.exists(qsock); i++) {
        Thread.sleep(100);
      }
      theirs = PeerTools.check(dir, "nbdinfo", "--map", "nbd+unix:///?socket=" + qsock);
    } finally {
      qemuNbd.destroy();
      qemuNbd.waitFor(10, TimeUnit.SECONDS);
    }
    assertThat(ours).isEqualTo(theirs).contains("hole,zero").contains("data");
  }

  @Test
  @Order(8)
  void benchAndResizeWork() throws Exception {
    String image = fresh("bench");
    ok(vdisk("create", "-f", "raw", cluster.name(image), "8M"));
    Vdisk.Result bench = vdisk("bench", "-f", "raw", "-w", "-c", "200", "-d", "8", cluster.name(image));
    ok(bench);
    assertThat(bench.out()).contains("Sending 200 write requests, 4096 bytes each, 8 in parallel");
    ok(vdisk("resize", "-f", "raw", cluster.name(image), "12M"));
    assertThat(JSON.readTree(cluster.rbd(dir, "info", "--format", "json", image)).get("size").asLong()).isEqualTo(12L << 20);
  }

  @Test
  @Order(9)
  void missingPoolImageAndClusterAreOneLine() throws Exception {
    Vdisk.Result pool = vdisk("info", cluster.name("nopool/x"));
    assertThat(pool.exit()).isEqualTo(1);
    assertThat(pool.errLines()).containsExactly("vdisk info: rbd:nopool/x: pool 'nopool' does not exist (expected: an existing pool)");
    Vdisk.Result image = vdisk("info", cluster.name("rbd/no-such-image"));
    assertThat(image.exit()).isEqualTo(1);
    assertThat(image.errLines()).containsExactly(
        "vdisk info: rbd:rbd/no-such-image: no such image in pool 'rbd' (expected: an existing RBD image)");
    Vdisk.Result name = vdisk("info", "rbd:justapool");
    assertThat(name.errLines()).hasSize(1);
    assertThat(name.err()).contains("expected: a pool name and an image name");
    // Nothing listens on this monitor address: the connection times out instead of hanging.
    long start = System.nanoTime();
    Vdisk.Result down = vdisk("info", "rbd:rbd/x:mon_host=127.0.0.1\\:9:client_mount_timeout=3:conf=" + cluster.conf());
    long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
    assertThat(down.exit()).isEqualTo(1);
    assertThat(down.errLines()).hasSize(1);
    assertThat(down.err()).contains("cannot connect to the cluster");
    assertThat(seconds).isLessThan(20);
  }

  @Test
  @Order(10)
  void aGuestWritesReadsAndDiscardsOnAnRbdImageServedByVdisk() throws Exception {
    String image = fresh("guest");
    // 1 MiB objects, so the guest's 1 MiB discard at 8 MiB frees a whole object (librbd skips partial ones).
    cluster.rbd(dir, "create", "--size", "64M", "--object-size", "1M", image);
    StringWriter log = new StringWriter();
    String console = GuestBootIT.boot(dir, new ExportSpec("d", cluster.name(image), "raw", CacheMode.NONE, false,
        DiscardMode.UNMAP, "").open(new EventLog(new PrintWriter(log, true)), new PrintWriter(log, true)), log);
    assertThat(console).as(console).contains("GUEST-READBACK-OK").contains("GUEST-DISCARD-OK").doesNotContain("GUEST-FAIL");
    byte[] exported = export(image);
    assertThat(Arrays.mismatch(Arrays.copyOfRange(exported, 1 << 20, 5 << 20), GuestBootIT.pattern()))
        .as("first byte where rbd export differs from the guest's pattern at 1 MiB").isEqualTo(-1);
    JsonNode map = JSON.readTree(PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "raw", cluster.name(image)));
    boolean discarded = false;
    for (JsonNode e : map) {
      long start = e.get("start").asLong();
      if (start <= (8 << 20) && start + e.get("length").asLong() >= (9 << 20) && !e.get("data").asBoolean()) {
        discarded = true;
      }
    }
    assertThat(discarded).as("8M..9M, written then discarded by the guest, holds no RBD object: " + map).isTrue();
  }

  @Test
  @Order(11)
  void aLocalOverlayReadsItsRbdBackingImageAsQemuDoes() throws Exception {
    String base = fresh("base");
    ok(vdisk("create", "-f", "raw", cluster.name(base), "8M"));
    ok(vdisk("io", "-f", "raw", "-c", "write -P 0x21 0 2M", cluster.name(base)));
    Path overlay = dir.resolve("overlay.qcow2");
    ok(vdisk("create", "-q", "-f", "qcow2", "-b", cluster.name(base), "-F", "raw", overlay.toString()));
    ok(vdisk("io", "-f", "qcow2", "-c", "write -P 0x22 1M 64k", overlay.toString()));
    assertThat(PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-r", "-c", "read -P 0x21 0 1M", "-c", "read -P 0x22 1M 64k",
        "-c", "read -P 0x21 1114112 960k", "-c", "read -P 0 2M 6M", overlay.toString())).doesNotContain("Pattern verification failed");
    Vdisk.Result map = vdisk("map", "--output=json", overlay.toString());
    ok(map);
    assertThat(JSON.readTree(map.out()))
        .isEqualTo(JSON.readTree(PeerTools.check(dir, "qemu-img", "map", "--output=json", overlay.toString())));
    Vdisk.Result compare = vdisk("compare", "-F", "raw", overlay.toString(), cluster.name(base));
    assertThat(compare.out()).isEqualTo("Content mismatch at offset 1048576!\n");

    // The same chain with the overlay on RBD too.
    String onRbd = fresh("overlay");
    ok(vdisk("create", "-q", "-f", "qcow2", "-b", cluster.name(base), "-F", "raw", cluster.name(onRbd)));
    ok(vdisk("io", "-f", "qcow2", "-c", "write -P 0x22 1M 64k", cluster.name(onRbd)));
    assertThat(PeerTools.check(dir, "qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", overlay.toString(), cluster.name(onRbd)))
        .isEqualTo("Images are identical.\n");
    Vdisk.Result info = vdisk("info", "--output=json", cluster.name(onRbd));
    ok(info);
    assertThat(JSON.readTree(info.out()).get("backing-filename").asText()).isEqualTo(cluster.name(base));
  }

  /**
   * {@code create} keeps its connection for the open that follows it in the same process: a qcow2 created on RBD
   * (its metadata copied in) and a convert onto a new RBD image connect once each, where they connected twice.
   */
  @Test
  @Order(40)
  void theOpenAfterACreateTakesItsConnection() throws Exception {
    Path src = sourceQcow2();
    for (String[] args : List.of(new String[] {"create", "-q", "-f", "qcow2", cluster.name(fresh("kept-qcow2")), "8M"},
        new String[] {"convert", "-O", "raw", src.toString(), cluster.name(fresh("kept-convert"))})) {
      int before = RbdDevice.connections();
      ok(vdisk(args));
      assertThat(RbdDevice.connections() - before).as(String.join(" ", args)).isEqualTo(1);
    }
  }

  /**
   * An open takes the connection {@link RbdDevice#connectAhead} started for its name (asking twice makes one), also
   * when that connection failed: the open then fails with its one line. Another name's open connects itself.
   */
  @Test
  @Order(41)
  void anOpenTakesTheConnectionMadeAhead() throws Exception {
    String image = fresh("ahead");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", cluster.name(image), "4M");
    RbdName name = RbdName.parse(cluster.name(image, "rados_osd_op_timeout=25"));
    int before = RbdDevice.connections();
    RbdDevice.connectAhead(name);
    RbdDevice.connectAhead(name);
    try (RbdDevice d = RbdDevice.open(name, CacheMode.NONE, false)) {
      d.write(0, ByteBuffer.wrap(new byte[] {7}), Set.of());
    }
    assertThat(RbdDevice.connections() - before).isEqualTo(1);
    before = RbdDevice.connections();
    RbdDevice.connectAhead(RbdName.parse(cluster.name(image, "rados_osd_op_timeout=26")));
    try (RbdDevice d = RbdDevice.open(name, CacheMode.NONE, true)) {
      ByteBuffer b = ByteBuffer.allocate(1);
      d.read(0, b);
      assertThat(b.get(0)).isEqualTo((byte) 7);
    }
    assertThat(RbdDevice.connections() - before).as("the other name's, then the open's own").isEqualTo(2);
    RbdName noPool = RbdName.parse(cluster.name("nopool/x"));
    before = RbdDevice.connections();
    RbdDevice.connectAhead(noPool);
    assertThatThrownBy(() -> RbdDevice.open(noPool, CacheMode.NONE, true)).hasMessage(
        "rbd:nopool/x: pool 'nopool' does not exist (expected: an existing pool)");
    assertThat(RbdDevice.connections() - before).isEqualTo(1);
    // The command line connects ahead to its first rbd: name and opens with that connection: once.
    before = RbdDevice.connections();
    ok(vdisk("io", "-f", "raw", "-c", "read -P 7 0 1", cluster.name(image)));
    assertThat(RbdDevice.connections() - before).isEqualTo(1);
  }

  /**
   * The start-up caches, recorded as the launcher records them, hold every class that {@code convert} to and from
   * RBD (convert's own cache) and a queued {@code bench} on RBD (the long commands') load: none comes from the jar
   * (AotTraining loads the RBD request classes by name, since it has no cluster, and makes librbd's callbacks, whose
   * JDK lambdas are then not spun at run time), and none from the runtime image but the JFR event classes no cache
   * holds.
   */
  @Test
  @Order(42)
  void convertAndBenchOnRbdLoadNoClassFromTheJar() throws Exception {
    Path jar = Path.of("target", "vdisk.jar").toAbsolutePath();
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> c1 = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData");
    // Recorded as the launcher records them (once per test JVM: AotTrainingIT checks the same caches).
    Map<String, Path> caches = Map.of("long", AotCaches.of("long"), "convert", AotCaches.of("convert"));
    Path raw = dir.resolve("local.raw");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", raw.toString(), "8M");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x44 1M 1M", raw.toString());
    String image = cluster.name(fresh("aot"));
    for (String[] args : List.of(new String[] {"convert", "-O", "raw", raw.toString(), image},
        new String[] {"convert", "-O", "raw", image, dir.resolve("back.raw").toString()},
        new String[] {"bench", "-f", "raw", "-c", "500", "-d", "16", image},
        new String[] {"bench", "-f", "raw", "-w", "-c", "500", "-d", "16", image})) {
      String kind = args[0].equals("convert") ? "convert" : "long";
      Path log = dir.resolve("classes.log");
      List<String> command = new java.util.ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
      command.addAll(kind.equals("long") ? List.of() : c1);
      if (kind.equals("convert")) { // the launchers' option for a convert to or from RBD
        command.addAll(List.of("-XX:Tier3InvocationThreshold=4000", "-XX:Tier3MinInvocationThreshold=2000",
            "-XX:Tier3CompileThreshold=40000"));
      }
      command.addAll(List.of("-XX:AOTCache=" + caches.get(kind), "-Xlog:aot=off", "-Xlog:cds=off",
          "-Xlog:class+load=info:file=" + log, "-cp", jar.toString(), "dev.vdisk.cli.Main"));
      command.addAll(List.of(args));
      PeerTools.Result r = PeerTools.run(dir, command.toArray(String[]::new));
      assertThat(r.exit()).as(r.err()).isZero();
      List<String> loaded = Files.readAllLines(log);
      assertThat(loaded).as(String.join(" ", args)).anyMatch(l -> l.contains(" dev.vdisk.io.rbd.RbdQueue ")
          && l.endsWith("source: shared objects file"));
      assertThat(loaded).as(String.join(" ", args)).noneMatch(l -> l.contains("source: file:"))
          .noneMatch(l -> l.contains("source: jrt:") && !l.contains(" jdk.internal.event."))
          // The lambdas behind librbd's callbacks (AotTraining makes them): spun at run time, they came from no file.
          .noneMatch(l -> l.contains("jdk.internal.foreign.abi.UpcallLinker$$Lambda") && !l.endsWith("shared objects file"))
          // nor a lambda of the binding's own, which a training without a cluster cannot reach
          .noneMatch(l -> l.contains(" dev.vdisk.io.rbd.") && l.contains("$$Lambda") && !l.endsWith("shared objects file"));
    }
  }

  /** The BlockDevice contract, on a fresh RBD image per test (cache=none: every request reaches the OSD). */
  /**
   * As QEMU's rbd driver: the cache mode decides {@code rbd_cache} even when the name sets it (QEMU sets it after the
   * name's options), read back from the client's admin socket for vdisk and for qemu-nbd alike.
   */
  @Test
  @Order(12)
  void theCacheModeDecidesRbdCacheOverTheNameAsInQemu() throws Exception {
    PeerTools.require("qemu-nbd");
    String image = fresh("cache");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", cluster.name(image), "4M");
    for (CacheMode mode : List.of(CacheMode.WRITEBACK, CacheMode.NONE)) {
      // The name asks for the opposite of what the mode means.
      String opposite = "rbd_cache=" + mode.direct();
      Path ourSocket = dir.resolve("vdisk-" + mode + ".asok");
      String ours;
      try (RbdDevice d = RbdDevice.open(RbdName.parse(cluster.name(image, opposite, "admin_socket=" + ourSocket)), mode, true)) {
        ours = rbdCacheSetting(ourSocket);
      }
      // A connection made ahead (before the cache mode is known) gets the mode's setting when the open takes it.
      Path aheadSocket = dir.resolve("vdisk-ahead-" + mode + ".asok");
      RbdName aheadName = RbdName.parse(cluster.name(image, opposite, "admin_socket=" + aheadSocket));
      RbdDevice.connectAhead(aheadName);
      String ahead;
      try (RbdDevice d = RbdDevice.open(aheadName, mode, true)) {
        ahead = rbdCacheSetting(aheadSocket);
      }
      assertThat(ahead).as("cache=" + mode + " on a connection made ahead").isEqualTo(ours);
      Path theirSocket = dir.resolve("qemu-" + mode + ".asok");
      Path nbdSocket = dir.resolve("qemu-" + mode + ".sock");
      Process qemuNbd = new ProcessBuilder("qemu-nbd", "-r", "-f", "raw", "--cache=" + mode, "-k", nbdSocket.toString(),
          cluster.name(image, opposite, "admin_socket=" + theirSocket))
          .redirectErrorStream(true).redirectOutput(dir.resolve("qemu-nbd-" + mode + ".log").toFile()).start();
      String theirs;
      try {
        for (int i = 0; i < 200 && !Files.exists(nbdSocket); i++) {
          Thread.sleep(100);
        }
        theirs = rbdCacheSetting(theirSocket);
      } finally {
        qemuNbd.destroy();
        qemuNbd.waitFor(10, TimeUnit.SECONDS);
      }
      assertThat(ours).as("cache=" + mode).isEqualTo(theirs).isEqualTo(String.valueOf(!mode.direct()));
    }
  }

  /**
   * {@code info} on RBD prints what qemu-img prints: the image named by its options, the object size as cluster_size,
   * a raw image's RBD snapshots.
   */
  @Test
  @Order(13)
  void infoPrintsWhatQemuImgPrints() throws Exception {
    String raw = fresh("info-raw");
    String qcow2 = fresh("info-qcow2");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", cluster.name(raw), "6M");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", cluster.name(qcow2), "6M");
    String plain = fresh("info-plain");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", cluster.name(plain), "5M");
    cluster.rbd(dir, "snap", "create", "--no-progress", raw + "@first");
    cluster.rbd(dir, "resize", "--no-progress", "--size", "8M", raw);
    cluster.rbd(dir, "snap", "create", "--no-progress", raw + "@second");
    for (String name : List.of(cluster.name(plain), cluster.name(raw), cluster.name(raw + "@first", "id=admin", "rbd_cache=false"),
        cluster.name(qcow2))) {
      for (String output : List.of("human", "json")) {
        Vdisk.Result ours = vdisk("info", "--output=" + output, name);
        ok(ours);
        assertThat(ours.out()).as(output + " " + name).isEqualTo(PeerTools.check(dir, "qemu-img", "info", "--output=" + output, name));
      }
    }
  }

  /**
   * QEMU's key-secret: with a conf that names no keyring, the key comes from {@code --object secret}; vdisk connects,
   * writes and reads as qemu-img and qemu-io do with the same options, and without the secret fails in one line.
   */
  @Test
  @Order(14)
  void keySecretGivesTheKeyAsInQemu() throws Exception {
    String image = fresh("secret");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", cluster.name(image), "4M");
    Keyless keyless = keyless();
    Path conf = keyless.conf();
    Path keyFile = keyless.keyFile();
    String key = keyless.key();
    String opts = "driver=raw,file.driver=rbd,file.pool=rbd,file.image=" + image.substring("rbd/".length()) + ",file.conf="
        + conf + ",file.key-secret=sec0";
    String secret = "secret,id=sec0,file=" + keyFile + ",format=base64";
    ok(vdisk("io", "--object", secret, "--image-opts", "-c", "write -P 0x5e 1M 64k", opts));
    assertThat(PeerTools.check(dir, "qemu-io", "--object", "secret,id=sec0,data=" + key + ",format=base64", "--image-opts",
        "-c", "read -P 0x5e 1M 64k", opts)).doesNotContain("Pattern verification failed");
    Vdisk.Result info = vdisk("info", "--output=json", "--object", "secret,id=sec0,data=" + key + ",format=base64", "--image-opts", opts);
    ok(info);
    JsonNode ours = JSON.readTree(info.out());
    JsonNode theirs = JSON.readTree(PeerTools.check(dir, "qemu-img", "info", "--output=json", "--object", secret, "--image-opts", opts));
    // The name is the options' without the secret (nor its id).
    assertThat(ours.get("filename").asText()).doesNotContain(key).contains("\"image\": \"" + image.substring(4) + "\"");
    assertThat(ours).isEqualTo(theirs);
    // Secrets live as long as the process (these runs share the test's): an id never defined is missing.
    Vdisk.Result missing = vdisk("info", "--image-opts", opts.replace("sec0", "sec-none"));
    assertThat(missing.exit()).isEqualTo(1);
    assertThat(missing.errLines()).containsExactly("vdisk info: rbd:" + image + ": key-secret=sec-none: no such secret (expected: "
        + "--object secret,id=sec-none,data=KEY,format=base64 or secret,id=sec-none,file=PATH,format=base64)");
    Vdisk.Result notBase64 = vdisk("info", "--object", "secret,id=sec0,data=%%,format=base64", "--image-opts", opts);
    assertThat(notBase64.exit()).isEqualTo(1);
    assertThat(notBase64.errLines()).hasSize(1);
  }

  /**
   * {@code info} of an image named by QEMU's rbd options prints what qemu-img prints: with {@code driver=rbd} (no
   * format layer) the format is {@code rbd} with its (empty) format-specific facts and the name is the rbd options
   * alone; {@code namespace} appears in the name only where the options set it; the same for {@code json:} names.
   */
  @Test
  @Order(15)
  void infoOfRbdOptionsPrintsWhatQemuImgPrints() throws Exception {
    String image = fresh("info-opts");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", cluster.name(image), "6M");
    cluster.rbd(dir, "snap", "create", "--no-progress", image + "@one");
    String keys = "pool=rbd,image=" + image.substring("rbd/".length()) + ",conf=" + cluster.conf();
    List<List<String>> names = List.of(
        List.of("--image-opts", "driver=rbd," + keys),
        List.of("--image-opts", "driver=rbd," + keys + ",namespace=,user=admin"),
        List.of("--image-opts", "driver=rbd," + keys + ",snapshot=one"),
        List.of("--image-opts", "driver=raw," + keys.replaceAll("(^|,)", "$1file.") + ",file.driver=rbd"),
        List.of("json:{\"driver\": \"rbd\", \"pool\": \"rbd\", \"image\": \"" + image.substring(4) + "\", \"conf\": \""
            + cluster.conf() + "\"}"));
    for (List<String> name : names) {
      for (String output : List.of("human", "json")) {
        printsAsQemuImg(Stream.concat(Stream.of("info", "--output=" + output), name.stream()).toList());
      }
    }
  }

  /** {@code snapshot -l} of a raw image on RBD lists the RBD image's snapshots as {@code qemu-img snapshot -l} does. */
  @Test
  @Order(16)
  void snapshotListShowsTheRbdSnapshotsAsQemuImg() throws Exception {
    String image = fresh("snap-list");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", cluster.name(image), "4M");
    String opts = "driver=rbd,pool=rbd,image=" + image.substring("rbd/".length()) + ",conf=" + cluster.conf();
    for (String snapshot : List.of("", "first", "second")) {
      if (!snapshot.isEmpty()) {
        cluster.rbd(dir, "snap", "create", "--no-progress", image + "@" + snapshot);
      }
      for (List<String> name : List.of(List.of(cluster.name(image)), List.of("--image-opts", opts))) {
        printsAsQemuImg(Stream.concat(Stream.of("snapshot", "-l"), name.stream()).toList());
      }
    }
  }

  /**
   * {@code snapshot -c}, {@code -a} and {@code -d} on a raw image on RBD take the RBD image's snapshots as qemu-img
   * does: what vdisk creates qemu-img lists and rolls back to, what qemu-img creates vdisk rolls back to and removes,
   * and the refusals (an existing name, a missing one) end with qemu-img's last line and exit status.
   */
  @Test
  @Order(18)
  void snapshotCreateApplyDeleteTakeRbdSnapshotsAsQemuImg() throws Exception {
    String image = fresh("snap-cad");
    String name = cluster.name(image);
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", name, "4M");
    ok(vdisk("io", "-f", "raw", "-c", "write -P 0x31 0 1M", name));
    ok(vdisk("snapshot", "-c", "ours", name));
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x32 0 1M", name);
    PeerTools.check(dir, "qemu-img", "snapshot", "-c", "theirs", name);
    assertThat(PeerTools.check(dir, "qemu-img", "snapshot", "-l", name)).contains("ours").contains("theirs");
    ok(vdisk("snapshot", "-a", "ours", "--image-opts", "driver=rbd,pool=rbd,image=" + image.substring(4) + ",conf=" + cluster.conf()));
    assertThat(PeerTools.check(dir, "qemu-io", "-f", "raw", "-r", "-c", "read -P 0x31 0 1M", name)).doesNotContain("Pattern verification failed");
    PeerTools.check(dir, "qemu-img", "snapshot", "-a", "theirs", name);
    assertThat(PeerTools.check(dir, "qemu-io", "-f", "raw", "-r", "-c", "read -P 0x32 0 1M", name)).doesNotContain("Pattern verification failed");
    ok(vdisk("snapshot", "-a", "ours", name));
    assertThat(Arrays.copyOf(export(image), 1 << 20)).containsOnly((byte) 0x31);
    for (List<String> refused : List.of(List.of("-c", "ours"), List.of("-a", "none"), List.of("-d", "none"))) {
      List<String> args = Stream.concat(Stream.of("snapshot"), Stream.concat(refused.stream(), Stream.of(name))).toList();
      Vdisk.Result ours = vdisk(args.toArray(String[]::new));
      PeerTools.Result theirs = PeerTools.run(dir, Stream.concat(Stream.of("qemu-img"), args.stream()).toArray(String[]::new));
      assertThat(ours.exit()).as(args.toString()).isEqualTo(theirs.exit()).isEqualTo(1);
      assertThat(ours.errLines()).hasSize(1);
      String last = theirs.err().strip().lines().reduce((a, b) -> b).orElseThrow();
      assertThat(ours.err().strip().replaceFirst("^vdisk snapshot: ", "")).isEqualTo(last.replaceFirst("^qemu-img: ", ""));
    }
    ok(vdisk("snapshot", "-d", "theirs", name));
    ok(vdisk("snapshot", "-d", "ours", name));
    assertThat(PeerTools.check(dir, "qemu-img", "snapshot", "-l", name)).isEmpty();
    assertThat(cluster.rbd(dir, "snap", "ls", image)).isEmpty();
  }

  /**
   * A raw image on RBD shrunk while three threads write over the part it drops ends at the new size, as {@code rbd
   * info} reports it: each write came before the shrink or was refused after it (ENOSPC). librbd drains its own
   * writes around a resize, but not those vdisk has yet to hand it: before the raw image's drain a write that had
   * passed the range check under the old size reached librbd after the cut and failed with its EINVAL (round 0), or
   * could grow the image again ({@link RbdDevice} grows an image under a write past its end).
   */
  @Test
  @Order(19)
  void writesRacingAShrinkOfARawImageLeaveTheNewSize() throws Exception {
    long size = 2 << 20;
    long newSize = size / 2;
    for (int round = 0; round < 6; round++) {
      String image = fresh("shrink-race");
      ok(vdisk("create", "-f", "raw", cluster.name(image), Long.toString(size)));
      try (OpenImage open = RbdImages.open(cluster.name(image), "raw", FileOptions.of(CacheMode.WRITEBACK, false), false)) {
        BlockDevice dev = open.device();
        Racers.race(3, (id, done) -> {
          ByteBuffer block = ByteBuffer.allocateDirect(4096);
          for (int i = 0; !done.get(); i++) {
            try {
              dev.write(newSize + (long) ((i * 3 + id) % 256) * 4096, block.clear(), Set.of());
            } catch (BlockDeviceException e) {
              if (e.error() != BlockError.ENOSPC) {
                throw e;
              }
            }
          }
        }, round * 2000, () -> dev.resize(newSize));
      }
      assertThat(JSON.readTree(cluster.rbd(dir, "info", "--format", "json", image)).get("size").asLong())
          .as("round %d: the RBD image's size", round).isEqualTo(newSize);
    }
  }

  /**
   * {@code vdisk serve --object secret,...} with {@code key-secret=ID}, as qemu-nbd: with a conf naming no keyring,
   * the gateway connects with the secret's key, and what a client writes through it reads back through qemu-nbd
   * serving the same image with the same options.
   */
  @Test
  @Order(17)
  void serveTakesTheKeyFromASecretObjectAsQemuNbd() throws Exception {
    PeerTools.require("qemu-nbd");
    String image = fresh("serve-secret");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", cluster.name(image), "4M");
    Keyless keyless = keyless();
    Path conf = keyless.conf();
    Path keyFile = keyless.keyFile();
    // An id no other test defines (secrets live as long as the process): only this server's --object defines it.
    String secret = "secret,id=sec-serve,file=" + keyFile + ",format=base64";
    String opts = "driver=rbd,pool=rbd,image=" + image.substring("rbd/".length()) + ",conf=" + conf + ",key-secret=sec-serve";
    Vdisk.Result missing = vdisk("serve", "-k", dir.resolve("none.sock").toString(), "--image-opts", opts);
    assertThat(missing.exit()).isEqualTo(1);
    assertThat(missing.errLines()).hasSize(1);
    assertThat(missing.err()).contains("key-secret=sec-serve: no such secret");
    Path sock = dir.resolve("vdisk-secret.sock");
    // Without -t the server ends once its client has gone.
    CompletableFuture<Vdisk.Result> ours = CompletableFuture.supplyAsync(
        () -> vdisk("serve", "--object", secret, "-k", sock.toString(), "--image-opts", opts));
    awaitSocket(sock, ours);
    assertThat(PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x7b 1M 64k", "nbd+unix:///?socket=" + sock))
        .contains("wrote 65536/65536");
    ok(ours.get(60, TimeUnit.SECONDS));
    Path qsock = dir.resolve("qemu-secret.sock");
    Process theirs = new ProcessBuilder("qemu-nbd", "--object", secret, "-r", "-k", qsock.toString(), "--image-opts", opts)
        .redirectErrorStream(true).redirectOutput(dir.resolve("qemu-nbd-secret.log").toFile()).start();
    try {
      awaitSocket(qsock, theirs.onExit());
      assertThat(PeerTools.check(dir, "qemu-io", "-r", "-f", "raw", "-c", "read -P 0x7b 1M 64k", "nbd+unix:///?socket=" + qsock))
          .doesNotContain("Pattern verification failed");
    } finally {
      theirs.destroy();
      theirs.waitFor(10, TimeUnit.SECONDS);
    }
  }

  /** The cluster's conf without its keyring line, client.admin's key, and the key alone in a base64 file. */
  private record Keyless(Path conf, String key, Path keyFile) {}

  private Keyless keyless() throws IOException {
    Path conf = Files.writeString(dir.resolve("no-keyring.conf"),
        Files.readString(cluster.conf()).replaceAll("(?m)^keyring = .*$", ""));
    String key = Files.readAllLines(cluster.dir().resolve("keyring")).stream().map(String::strip)
        .filter(l -> l.startsWith("key = ")).findFirst().orElseThrow().substring("key = ".length());
    return new Keyless(conf, key, Files.writeString(dir.resolve("key.b64"), key + "\n"));
  }

  /** {@code vdisk ARGS} succeeds and prints what {@code qemu-img ARGS} prints. */
  private void printsAsQemuImg(List<String> args) throws Exception {
    Vdisk.Result ours = vdisk(args.toArray(String[]::new));
    ok(ours);
    assertThat(ours.out()).as(String.join(" ", args)).isEqualTo(qemuImg(args));
  }

  /** What {@code qemu-img ARGS} prints, failing the test on a non-zero exit. */
  private String qemuImg(List<String> args) throws Exception {
    return PeerTools.check(dir, Stream.concat(Stream.of("qemu-img"), args.stream()).toArray(String[]::new));
  }

  /** Waits (at most 20 s) until a server listens on {@code socket}; fails if it ended first ({@code done}). */
  private static void awaitSocket(Path socket, CompletableFuture<?> done) throws Exception {
    for (int i = 0; i < 200 && !Files.exists(socket); i++) {
      assertThat(done.isDone()).as("server ended: " + (done.isDone() ? done.get() : "")).isFalse();
      Thread.sleep(100);
    }
    assertThat(socket).exists();
  }

  /** {@code rbd_cache} as the client behind {@code socket} has it ({@code ceph --admin-daemon ... config get}). */
  private String rbdCacheSetting(Path socket) throws Exception {
    return JSON.readTree(PeerTools.check(dir, "ceph", "--admin-daemon", socket.toString(), "config", "get", "rbd_cache"))
        .get("rbd_cache").asText();
  }

  @Nested
  class Contract extends BlockDeviceContractTest {
    @Override
    protected BlockDevice newDevice(long size) throws IOException {
      String image = fresh("contract");
      RbdName name = RbdName.parse(cluster.name(image));
      RbdDevice.create(name, size);
      return RbdDevice.open(name, CacheMode.NONE, false);
    }
  }

  @Nested
  class QueuedContract extends BlockDeviceContractTest {
    @Override
    protected BlockDevice newDevice(long size) throws IOException {
      String image = fresh("queued");
      RbdName name = RbdName.parse(cluster.name(image));
      RbdDevice.create(name, size);
      return new QueuedDevice(RbdDevice.open(name, CacheMode.NONE, false));
    }
  }

  /** One request's completion as a queue hands it over. */
  private record Done(int tag, IOException error) {}

  /** Reaps every request in flight on {@code q}; returns the completions by tag. */
  private static Map<Integer, Done> reapAll(RequestQueue q) throws IOException {
    Map<Integer, Done> done = new HashMap<>();
    while (q.inFlight() > 0) {
      q.reap(1, (tag, error) -> assertThat(done.put(tag, new Done(tag, error))).as("tag " + tag + " twice").isNull());
    }
    return done;
  }

  @Test
  @Order(95)
  void queuedRequestsManyInFlightGiveTheSynchronousPathsBytes() throws Exception {
    String image = fresh("queue");
    RbdName name = RbdName.parse(cluster.name(image));
    int size = 4 << 20;
    RbdDevice.create(name, size);
    Random random = new Random(14);
    byte[] expected = new byte[size];
    try (RbdDevice device = RbdDevice.open(name, CacheMode.NONE, false); RequestQueue q = device.queue(32)) {
      assertThat(q.asynchronous()).isTrue();
      assertThat(q.depth()).isEqualTo(32);
      // 48 writes of 1 byte to 64 KiB in disjoint 80 KiB cells, direct and heap buffers, 32 in flight at a time.
      int tag = 0;
      for (int cell = 0; cell < 48; cell++) {
        int offset = cell * (80 << 10) + random.nextInt(4096);
        int length = 1 + random.nextInt(64 << 10);
        byte[] data = new byte[length];
        random.nextBytes(data);
        System.arraycopy(data, 0, expected, offset, length);
        ByteBuffer src = cell % 2 == 0 ? ByteBuffer.allocateDirect(length).put(data).flip() : ByteBuffer.wrap(data);
        if (q.inFlight() == q.depth()) {
          q.reap(1, (t, e) -> assertThat(e).isNull());
        }
        q.write(offset, src, tag++);
      }
      assertThat(reapAll(q).values()).allSatisfy(d -> assertThat(d.error()).as("tag " + d.tag()).isNull());
      byte[] back = new byte[size];
      device.read(0, ByteBuffer.wrap(back));
      assertThat(back).as("the synchronous path's bytes after the queue's writes").isEqualTo(expected);
      // 32 queued reads in flight at once, the last one across the end (zeroes there, as the device's read).
      ByteBuffer[] dst = new ByteBuffer[32];
      long[] at = new long[32];
      for (int i = 0; i < 32; i++) {
        int length = 1 + random.nextInt(128 << 10);
        at[i] = i == 31 ? size - 1000 : random.nextInt(size - length);
        dst[i] = i % 2 == 0 ? ByteBuffer.allocateDirect(length) : ByteBuffer.allocate(length);
        q.read(at[i], dst[i], i);
      }
      assertThatThrownBy(() -> q.read(0, ByteBuffer.allocate(1), 99)).isInstanceOf(IllegalStateException.class);
      Map<Integer, Done> done = reapAll(q);
      assertThat(done).hasSize(32);
      for (int i = 0; i < 32; i++) {
        assertThat(done.get(i).error()).as("read " + i).isNull();
        assertThat(dst[i].hasRemaining()).isFalse();
        byte[] got = new byte[dst[i].capacity()];
        dst[i].flip().get(got);
        byte[] want = new byte[got.length];
        device.read(at[i], ByteBuffer.wrap(want));
        assertThat(got).as("queued read " + i + " at " + at[i]).isEqualTo(want);
      }
    }
    assertThat(export(image)).isEqualTo(expected);
  }

  @Test
  @Order(96)
  void queuedRequestsFailOneByOne() throws Exception {
    String image = fresh("queue-errors");
    RbdName name = RbdName.parse(cluster.name(image));
    RbdDevice.create(name, 1 << 20);
    try (RbdDevice device = RbdDevice.open(name, CacheMode.NONE, false)) {
      device.write(0, ByteBuffer.wrap(new byte[] {7}), Set.of());
      device.snapshot(RbdDevice.SnapshotAction.CREATE, "s");
    }
    // On a snapshot (read-only) the writes fail, each with librbd's error, and the reads between them succeed.
    try (RbdDevice snap = RbdDevice.open(RbdName.parse(cluster.name(image + "@s")), CacheMode.NONE, true);
        RequestQueue q = snap.queue(8)) {
      ByteBuffer[] dst = new ByteBuffer[4];
      for (int i = 0; i < 4; i++) {
        dst[i] = ByteBuffer.allocateDirect(4096);
        q.read(0, dst[i], 2 * i);
        q.write(4096L * i, ByteBuffer.allocateDirect(4096), 2 * i + 1);
      }
      Map<Integer, Done> done = reapAll(q);
      for (int i = 0; i < 4; i++) {
        assertThat(done.get(2 * i).error()).as("read " + i).isNull();
        assertThat(dst[i].get(0)).isEqualTo((byte) 7);
        IOException e = done.get(2 * i + 1).error();
        assertThat(e).as("write " + i).isNotNull();
        assertThat(e.getMessage()).contains("write rbd:" + image + "@s at " + 4096 * i);
        assertThat(BlockDeviceException.errorOf(e)).isEqualTo(BlockError.EPERM); // EROFS, as RbdException maps it
      }
    }
    // A queue whose device was closed: each request completes with ESHUTDOWN, none throws at queueing.
    RbdDevice device = RbdDevice.open(name, CacheMode.NONE, false);
    try (RequestQueue q = device.queue(4)) {
      device.close();
      q.read(0, ByteBuffer.allocateDirect(4096), 1);
      q.write(0, ByteBuffer.allocate(4096), 2);
      Map<Integer, Done> done = reapAll(q);
      assertThat(done.values()).hasSize(2).allSatisfy(d -> {
        assertThat(BlockDeviceException.errorOf(d.error())).as("tag " + d.tag()).isEqualTo(BlockError.ESHUTDOWN);
        assertThat(d.error().getMessage()).contains("closed");
      });
    }
  }

  @Test
  @Order(97)
  void aReadOnlyQcow2OnRbdReadsThroughItsQueueWhatItReads() throws Exception {
    String name = cluster.name(fresh("queue-qcow2"));
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", name, "4M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 256k", "-c", "write -z 256k 64k",
        "-c", "write -P 0x22 1M 192k", name);
    try (OpenImage open = RbdImages.open(name, "qcow2", FileOptions.of(CacheMode.NONE, true), true);
        RequestQueue q = open.device().queue(16)) {
      assertThat(q).as("a read-only qcow2's queue over RbdDevice's").isNotNull();
      assertThat(q.asynchronous()).isTrue();
      // 64 reads of 64 KiB over the whole image (data, zeroed and unallocated clusters), 16 in flight.
      ByteBuffer[] dst = new ByteBuffer[64];
      for (int i = 0; i < 64; i++) {
        if (q.inFlight() == q.depth()) {
          q.reap(1, (t, e) -> assertThat(e).as("read " + t).isNull());
        }
        dst[i] = ByteBuffer.allocateDirect(64 << 10);
        q.read((long) i << 16, dst[i], i);
      }
      assertThat(reapAll(q).values()).allSatisfy(d -> assertThat(d.error()).as("read " + d.tag()).isNull());
      for (int i = 0; i < 64; i++) {
        ByteBuffer want = ByteBuffer.allocate(64 << 10);
        open.device().read((long) i << 16, want);
        assertThat(dst[i].flip()).as("queued read at " + (i << 16)).isEqualTo(want.flip());
      }
      assertThat(dst[0].get(0)).isEqualTo((byte) 0x11);
      assertThat(dst[16].get(0)).isEqualTo((byte) 0x22);
    }
  }

  /**
   * An RBD export under writeback (qemu-nbd's default) whose image is named raw serves through its queue
   * ({@code pageCacheWrites} false: DirectQueue over RbdQueue keeps its aligned requests in flight), and so does a
   * probed one (its queue checks only the first sector's writes). What qemu-img bench writes through it at depth 16, 4 KiB every 8 KiB,
   * {@code rbd export} reads back, and qemu-io reads it back through the export too.
   */
  @Test
  @Order(98)
  void anRbdExportUnderWritebackServesDepthThroughItsQueue() throws Exception {
    PeerTools.require("qemu-io");
    String image = fresh("served-queue");
    cluster.rbd(dir, "create", "--size", "16M", image);
    StringWriter log = new StringWriter();
    EventLog events = new EventLog(new PrintWriter(log, true));
    Export probed = new ExportSpec("", cluster.name(image), null, CacheMode.WRITEBACK, false, DiscardMode.IGNORE, "")
        .open(events, new PrintWriter(log, true));
    try {
      assertThat(probed.pageCacheWrites()).as("a probed raw image on RBD goes through its queue too").isFalse();
    } finally {
      probed.device().close();
    }
    Export export = new ExportSpec("", cluster.name(image), "raw", CacheMode.WRITEBACK, false, DiscardMode.IGNORE, "")
        .open(events, new PrintWriter(log, true));
    assertThat(export.pageCacheWrites()).as("raw on RBD under writeback goes through its queue").isFalse();
    Path sock = dir.resolve("queue.sock");
    NbdServer server = new NbdServer(List.of(export), ServerConfig.DEFAULTS, events);
    String uri = "nbd+unix:///?socket=" + sock;
    try {
      server.listen(UnixDomainSocketAddress.of(sock));
      // 1,024 writes of 4 KiB of 0x5a, 16 in flight, at 0, 8 KiB, 16 KiB ... 8 MiB - 8 KiB.
      PeerTools.check(dir, "qemu-img", "bench", "-f", "raw", "-w", "--pattern=90", "-c", "1024", "-d", "16", "-s", "4096",
          "-S", "8192", uri);
      PeerTools.check(dir, "qemu-img", "bench", "-f", "raw", "-c", "1024", "-d", "16", "-s", "4096", "-S", "8192", uri);
      PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "read -P 0x5a 0 4k", "-c", "read -P 0 4k 4k",
          "-c", "read -P 0x5a 8380416 4k", "-c", "read -P 0 8M 8M", uri);
    } finally {
      server.stop(Duration.ofSeconds(5));
    }
    byte[] exported = export(image);
    byte[] want = new byte[16 << 20];
    for (int at = 0; at < 8 << 20; at += 8192) {
      Arrays.fill(want, at, at + 4096, (byte) 0x5a);
    }
    assertThat(Arrays.mismatch(exported, want)).as("first byte where rbd export differs from what was written").isEqualTo(-1);
  }

  /** Runs last: kills the OSD under a writer, then brings it back and reads what was flushed before. */
  @Test
  @Order(100)
  void aDeadOsdFailsRequestsInBoundedTimeAndFlushedDataSurvives() throws Exception {
    String image = fresh("killed");
    RbdName name = RbdName.parse(cluster.name(image, "rados_osd_op_timeout=5"));
    RbdDevice.create(name, 8 << 20);
    byte[] flushed = new byte[1 << 20];
    Arrays.fill(flushed, (byte) 0x5a);
    RbdDevice device = RbdDevice.open(name, CacheMode.NONE, false);
    device.write(0, ByteBuffer.wrap(flushed), Set.of());
    device.flush();
    new ProcessBuilder("kill", "-9", String.valueOf(cluster.pid("osd.0"))).start().waitFor();
    long start = System.nanoTime();
    IOException failed = null;
    try {
      for (int i = 0; i < 4; i++) {
        device.write(4 << 20, ByteBuffer.allocate(64 << 10), Set.of());
        device.flush();
      }
    } catch (IOException e) {
      failed = e;
    }
    long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
    assertThat(failed).as("a write to a cluster without its OSD").isNotNull();
    assertThat(failed.getMessage()).contains("rbd:" + image);
    assertThat(BlockDeviceException.errorOf(failed)).isEqualTo(BlockError.EIO);
    assertThat(seconds).as("seconds until the error").isLessThan(30);
    // rbd_close waits for the OSD too (it releases the exclusive lock): it must return, once the OSD is back at the
    // latest, which is brought back as the script started it while the close waits.
    CompletableFuture<Void> closing = CompletableFuture.runAsync(() -> {
      try {
        device.close();
      } catch (IOException e) {
        // The lock release may fail with the OSD gone; the close still returns.
      }
    });
    PeerTools.check(dir, "ceph-osd", "--conf", cluster.conf().toString(), "-i", "0");
    closing.get(60, TimeUnit.SECONDS);
    // What was flushed before the OSD died is there.
    try (RbdDevice again = RbdDevice.open(RbdName.parse(cluster.name(image, "rados_osd_op_timeout=60")), CacheMode.NONE, true)) {
      ByteBuffer back = ByteBuffer.allocate(1 << 20);
      again.read(0, back);
      assertThat(back.array()).isEqualTo(flushed);
    }
  }
}
