package dev.vdisk.nbd.server;

import com.code_intelligence.jazzer.api.BugDetectors;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.mem.MemoryDevice;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Jazzer on the NBD server's parsing of untrusted client bytes: the fuzzed input is everything a client sends after
 * the server's greeting (client flags, option haggling: export names, info requests, meta contexts, structured
 * replies, extended headers, TLS; then requests with their flags, offsets, lengths and payloads). The server must
 * answer, refuse or disconnect: a throwable escaping a connection thread, an {@code internal error} in the event
 * log, or a connection still open {@value #HANG_SECONDS} s after the client stopped sending (a hang) is a finding.
 *
 * <p>Seeds (in {@code NbdServerFuzzTestInputs/clientBytes/}, made by {@code make-seeds.py} there) are well-formed
 * sessions of the kinds qemu-nbd's clients send. An internal error logged after the client saw the connection close
 * is reported with the next input.
 */
class NbdServerFuzzTest {
  private static final int HANG_SECONDS = 10;
  private static final ConcurrentLinkedQueue<String> FINDINGS = new ConcurrentLinkedQueue<>();
  private static NbdServer server;
  private static InetSocketAddress address;

  @FuzzTest(maxDuration = "30s", maxExecutions = 20_000)
  void clientBytes(byte[] sent) throws IOException {
    // The test's own loopback connections are no server-side request forgery (Jazzer's network detector, whose
    // policy is reset for each run); nothing else here connects anywhere: the server listens on loopback only.
    BugDetectors.allowNetworkConnections();
    start();
    try (Socket s = new Socket(address.getAddress(), address.getPort())) {
      s.setSoTimeout(HANG_SECONDS * 1000);
      InputStream in = s.getInputStream();
      in.readNBytes(18);
      s.getOutputStream().write(sent);
      s.shutdownOutput();
      byte[] sink = new byte[1 << 16];
      while (in.read(sink) >= 0) {
        // Replies are read (so the server never blocks on a full socket) and dropped.
      }
    } catch (SocketTimeoutException e) {
      throw new AssertionError("the server kept the connection open " + HANG_SECONDS + " s after the client's last byte");
    } catch (IOException reset) {
      // The server may cut a misbehaving client off while it still sends.
    }
    String finding = FINDINGS.poll();
    if (finding != null) {
      throw new AssertionError(finding);
    }
  }

  private static synchronized void start() throws IOException {
    if (server != null) {
      return;
    }
    Thread.setDefaultUncaughtExceptionHandler((t, e) -> FINDINGS.add(t + ": " + e));
    int size = 4 << 20;
    List<Export> exports = List.of(
        new Export("rw", "a writable disk", new CheckedDevice(new MemoryDevice(size)), DiscardMode.UNMAP, true),
        new Export("ro", "", new CheckedDevice(new MemoryDevice(size), true), DiscardMode.UNMAP));
    ServerConfig config = new ServerConfig(1 << 20, 4L << 20, 16L << 20, 16, Duration.ofSeconds(HANG_SECONDS / 2),
        ServerConfig.DEFAULTS.allow(), ServerConfig.DEFAULTS.tls(), null, 0);
    server = new NbdServer(exports, config, new EventLog(new PrintWriter(new InternalErrors(), true)));
    address = (InetSocketAddress) server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
  }

  /** The event log, kept only for its internal errors. */
  private static final class InternalErrors extends Writer {
    private final StringBuilder line = new StringBuilder();

    @Override
    public synchronized void write(char[] c, int off, int len) {
      for (int i = off; i < off + len; i++) {
        if (c[i] == '\n') {
          if (line.indexOf("internal error") >= 0) {
            FINDINGS.add(line.toString());
          }
          line.setLength(0);
        } else {
          line.append(c[i]);
        }
      }
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  }
}
