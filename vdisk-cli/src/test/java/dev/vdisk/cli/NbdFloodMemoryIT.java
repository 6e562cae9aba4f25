package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * The flood of issue 13's fault 4, against {@code vdisk serve} as users run it (the jar): N connections each push
 * 32 MiB writes as fast as the socket takes them, reading no reply until all are sent. Before the fix the server
 * reached 4.2 GB resident with 4 connections and 6.1 GB with 8 (qemu-nbd: 0.19 and 0.42 GB). The server's
 * resident memory must now stay within its in-flight payload budget (256 MiB for the whole server by default) plus
 * 256 MiB for the JVM's own growth above what it used before the flood; every write must then be answered without
 * error. The peak is printed as an {@code NbdFloodMemoryIT:} line.
 */
class NbdFloodMemoryIT {
  private static final Path JAR = Path.of("target", "vdisk.jar").toAbsolutePath();
  private static final String JAVA = ProcessHandle.current().info().command().orElse("java");
  private static final int PAYLOAD = 32 << 20;
  private static final int WRITES_PER_CONNECTION = 4;
  /** The image: 8 payloads, which the writes cover again and again. */
  private static final long SIZE = 8L * PAYLOAD;

  @TempDir Path dir;

  @ParameterizedTest(name = "{0} connections")
  @ValueSource(ints = {4, 8})
  void residentMemoryStaysWithinTheInFlightBudget(int connections) throws Exception {
    Path image = dir.resolve("flood.raw");
    try (var f = java.nio.channels.FileChannel.open(image, java.nio.file.StandardOpenOption.CREATE_NEW,
        java.nio.file.StandardOpenOption.WRITE)) {
      f.truncate(0);
      f.write(java.nio.ByteBuffer.allocate(1), SIZE - 1);
    }
    Path sock = dir.resolve("s.sock");
    Path log = dir.resolve("serve.log");
    Process server = new ProcessBuilder(JAVA, "--enable-native-access=ALL-UNNAMED", "-jar", JAR.toString(), "serve", "-t",
        "-e", "0", "-k", sock.toString(), "-f", "raw", image.toString())
        .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    try {
      for (int i = 0; i < 600 && !Files.readString(log, StandardCharsets.UTF_8).contains("event=listen"); i++) {
        Thread.sleep(50);
      }
      long before = rss(server.pid());
      AtomicLong peak = new AtomicLong(before);
      Thread sampler = Thread.ofPlatform().daemon().start(() -> {
        try {
          while (!Thread.currentThread().isInterrupted()) {
            peak.accumulateAndGet(rss(server.pid()), Math::max);
            Thread.sleep(20);
          }
        } catch (IOException | InterruptedException stop) {
          // Done.
        }
      });
      List<Thread> clients = new ArrayList<>();
      List<String> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
      for (int c = 0; c < connections; c++) {
        int client = c;
        clients.add(Thread.ofPlatform().start(() -> {
          try {
            flood(sock, client);
          } catch (IOException | RuntimeException e) {
            failures.add("connection " + client + ": " + e);
          }
        }));
      }
      for (Thread t : clients) {
        t.join();
      }
      sampler.interrupt();
      sampler.join();
      long after = rss(server.pid());
      System.out.printf("NbdFloodMemoryIT: %d connections x %d writes of 32 MiB, no reply read until all were sent:"
          + " server RSS %d MiB before, peak %d MiB, %d MiB after%n", connections, WRITES_PER_CONNECTION, before >> 20,
          peak.get() >> 20, after >> 20);
      assertThat(failures).isEmpty();
      assertThat(peak.get() - before).as("RSS growth under the flood").isLessThanOrEqualTo(512L << 20);
    } finally {
      server.destroy();
      server.waitFor(30, TimeUnit.SECONDS);
      server.destroyForcibly();
    }
  }

  /** Newstyle handshake (NBD_OPT_EXPORT_NAME), then writes sent back to back, then every reply read and checked. */
  private static void flood(Path sock, int client) throws IOException {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(sock));
      DataInputStream in = new DataInputStream(Channels.newInputStream(ch));
      DataOutputStream out = new DataOutputStream(new java.io.BufferedOutputStream(Channels.newOutputStream(ch), 1 << 16));
      in.readNBytes(18);
      out.writeInt(3); // fixed newstyle, no zeroes
      out.writeLong(0x49484156454F5054L);
      out.writeInt(1); // NBD_OPT_EXPORT_NAME, the default export ""
      out.writeInt(0);
      out.flush();
      in.readLong(); // size
      in.readShort(); // transmission flags
      byte[] payload = new byte[PAYLOAD];
      int writes = WRITES_PER_CONNECTION;
      for (int w = 0; w < writes; w++) {
        out.writeInt(0x25609513);
        out.writeShort(0);
        out.writeShort(1); // NBD_CMD_WRITE
        out.writeLong(w);
        out.writeLong((client * writes + w) % (SIZE / PAYLOAD) * PAYLOAD);
        out.writeInt(PAYLOAD);
        out.write(payload);
      }
      out.flush();
      for (int w = 0; w < writes; w++) {
        if (in.readInt() != 0x67446698) {
          throw new IOException("reply magic");
        }
        int error = in.readInt();
        in.readLong();
        if (error != 0) {
          throw new IOException("write answered with error " + error);
        }
      }
    }
  }

  private static long rss(long pid) throws IOException {
    Matcher m = Pattern.compile("(?m)^VmRSS:\\s+(\\d+)").matcher(Files.readString(Path.of("/proc/" + pid + "/status")));
    return m.find() ? Long.parseLong(m.group(1)) * 1024 : 0;
  }
}
