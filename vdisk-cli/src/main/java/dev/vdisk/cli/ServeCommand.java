package dev.vdisk.cli;

import dev.vdisk.block.filter.DetectZeroesFilter;
import dev.vdisk.io.CacheMode;
import dev.vdisk.nbd.metrics.PrometheusMetrics;
import dev.vdisk.nbd.server.AllowList;
import dev.vdisk.nbd.server.DiscardMode;
import dev.vdisk.nbd.server.EventLog;
import dev.vdisk.nbd.server.Export;
import dev.vdisk.nbd.server.NbdServer;
import dev.vdisk.nbd.server.RequestMetrics;
import dev.vdisk.nbd.server.ServerConfig;
import dev.vdisk.nbd.server.SocketPath;
import dev.vdisk.nbd.server.TlsCredentials;
import dev.vdisk.nbd.server.TlsMode;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import sun.misc.Signal;

/**
 * {@code vdisk serve}: an NBD server for one or more images, in qemu-nbd's habits.
 *
 * <pre>
 * vdisk serve [-f fmt] [-t cache] [-r] [-x name] [-D text] [--discard=unmap|ignore] [--detect-zeroes=off|on|unmap] FILE
 * vdisk serve --export name=NAME,file=PATH[,format=..][,cache=..][,read-only][,discard=..][,detect-zeroes=..][,description=..] ...
 * </pre>
 *
 * <p>With {@code --tls=on|require --tls-creds DIR} clients can (or must) upgrade to TLS with
 * {@code NBD_OPT_STARTTLS}; DIR is laid out like QEMU's {@code tls-creds-x509} directory. With
 * {@code --tls-verify-peer}, clients must also present a certificate from a CA in DIR's {@code ca-cert.pem}.
 *
 * <p>Listens on TCP ({@code -p}, default 10809, on {@code -b}, default 127.0.0.1) or, with {@code -k}, on a
 * unix socket only. Runs until SIGTERM or SIGINT, then stops gracefully: no new connections, requests
 * already received complete, images are flushed and closed, and the exit status is 0. Log lines go to
 * stderr.
 */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Serve images over NBD (TCP or a unix socket) until SIGTERM/SIGINT.")
final class ServeCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Option(names = {"-p", "--port"}, paramLabel = "PORT", description = "TCP port (default 10809).")
  Integer port;

  @Option(names = {"-b", "--bind"}, paramLabel = "ADDR", description = "Address to listen on (default 127.0.0.1).")
  String bind;

  @Option(names = {"-k", "--socket"}, paramLabel = "PATH", description = "Listen on this unix socket instead of TCP.")
  String socket;

  @Option(names = "--export", paramLabel = "SPEC",
      description = "An export: name=NAME,file=PATH[,format=FMT][,cache=MODE][,read-only][,discard=unmap|ignore][,detect-zeroes=off|on|unmap][,description=TEXT]. Repeatable.")
  List<String> exports = new ArrayList<>();

  @Option(names = "-f", paramLabel = "FMT", description = "Format of FILE (probed when absent).")
  String format;

  @Option(names = {"-t", "--cache"}, paramLabel = "CACHE", description = "Cache mode of FILE (default writeback).")
  String cache;

  @Option(names = {"-r", "--read-only"}, description = "Export FILE read-only.")
  boolean readOnly;

  @Option(names = {"-x", "--export-name"}, paramLabel = "NAME", description = "Export name of FILE (default: empty).")
  String exportName;

  @Option(names = {"-D", "--description"}, paramLabel = "TEXT", description = "Description of FILE's export.")
  String description;

  @Option(names = "--discard", paramLabel = "MODE", description = "unmap or ignore (default) trims of FILE's export.")
  String discard;

  @Option(names = "--detect-zeroes", paramLabel = "MODE",
      description = "off (default), on (all-zero writes become zero writes) or unmap (and may punch holes; needs --discard=unmap).")
  String detectZeroes;

  @Option(names = {"-B", "--bitmap"}, paramLabel = "NAME",
      description = "Offer FILE's persistent dirty bitmap NAME as the qemu:dirty-bitmap:NAME metadata context.")
  String bitmap;

  @Option(names = "--allow", paramLabel = "CIDR", split = ",", description = "Only these TCP peers may connect (repeatable).")
  List<String> allow = new ArrayList<>();

  @Option(names = "--tls", paramLabel = "MODE", description = "off (default), on (offered) or require (plaintext clients get only errors).")
  String tls;

  @Option(names = "--tls-creds", paramLabel = "DIR",
      description = "X.509 credentials as QEMU's tls-creds-x509 lays them out: server-cert.pem, server-key.pem (and ca-cert.pem).")
  String tlsCreds;

  @Option(names = "--tls-verify-peer",
      description = "Require a client certificate issued by a CA in the credentials' ca-cert.pem (QEMU's verify-peer=on).")
  boolean tlsVerifyPeer;

  @Option(names = "--metrics", paramLabel = "ADDR:PORT", description = "Serve Prometheus metrics over HTTP at http://ADDR:PORT/metrics.")
  String metricsAddress;

  @Option(names = "--max-payload", paramLabel = "SIZE", description = "Largest request payload (default 32M).")
  String maxPayload;

  @Option(names = "--pid-file", paramLabel = "PATH", description = "Write the process id here once listening.")
  String pidFile;

  @Parameters(index = "0", arity = "0..1", paramLabel = "FILE", description = "The image (short form).")
  String file;

  @Override
  public Integer call() throws IOException, InterruptedException {
    List<ExportSpec> specs = specs();
    ServerConfig config = config();
    SocketAddress address = address();
    InetSocketAddress metricsAt = metricsAddress == null ? null : metricsAddress();
    EventLog log = new EventLog(main.err());
    PrometheusMetrics metrics = metricsAt == null ? null : PrometheusMetrics.start(metricsAt);
    List<Export> opened = new ArrayList<>();
    try {
      for (ExportSpec s : specs) {
        opened.add(s.open(log, main.err()));
      }
    } catch (IOException | RuntimeException e) {
      for (Export x : opened) {
        x.device().close();
      }
      if (metrics != null) {
        metrics.close();
      }
      throw e;
    }
    if (metrics != null) {
      log.info("metrics", "url", "http://" + metricsAt.getAddress().getHostAddress() + ":" + metrics.port() + "/metrics");
    }
    NbdServer server = new NbdServer(opened, config, log, metrics == null ? RequestMetrics.NONE : metrics);
    CountDownLatch stop = new CountDownLatch(1);
    Signal.handle(new Signal("TERM"), s -> stop.countDown());
    Signal.handle(new Signal("INT"), s -> stop.countDown());
    Path pid = pidFile == null ? null : Path.of(pidFile);
    try {
      server.listen(address);
      if (pid != null) {
        Files.writeString(pid, ProcessHandle.current().pid() + "\n", StandardCharsets.US_ASCII);
      }
      stop.await();
    } finally {
      server.stop(Duration.ofSeconds(30));
      if (metrics != null) {
        metrics.close();
      }
      if (pid != null) {
        Files.deleteIfExists(pid);
      }
    }
    return 0;
  }

  private List<ExportSpec> specs() {
    List<ExportSpec> specs = new ArrayList<>(exports.stream().map(ExportSpec::parse).toList());
    if (file != null) {
      specs.add(new ExportSpec(exportName == null ? "" : exportName, file, format,
          cache == null ? CacheMode.WRITEBACK : CacheMode.parse(cache), readOnly,
          discard == null ? DiscardMode.IGNORE : DiscardMode.parse(discard), description == null ? "" : description,
          detectZeroes == null ? DetectZeroesFilter.Mode.OFF : DetectZeroesFilter.Mode.parse(detectZeroes), bitmap));
    } else if (format != null || cache != null || readOnly || exportName != null || description != null || discard != null
        || detectZeroes != null || bitmap != null) {
      throw new CliException("-f/-t/-r/-x/-D/-B/--discard/--detect-zeroes: given without FILE (expected: FILE, or the same settings inside --export)");
    }
    if (specs.isEmpty()) {
      throw new CliException("nothing to serve (expected: FILE or at least one --export name=NAME,file=PATH)");
    }
    return specs;
  }

  private ServerConfig config() throws IOException {
    ServerConfig c = ServerConfig.DEFAULTS.withAllow(AllowList.parse(allow));
    TlsMode mode = tls == null ? TlsMode.OFF : TlsMode.parse(tls);
    if (mode == TlsMode.OFF && (tlsCreds != null || tlsVerifyPeer)) {
      throw new CliException((tlsCreds != null ? "--tls-creds" : "--tls-verify-peer")
          + ": given without --tls=on|require (expected: --tls=on or --tls=require)");
    }
    if (mode != TlsMode.OFF) {
      if (tlsCreds == null) {
        throw new CliException("--tls=" + tls + ": no credentials (expected: --tls-creds DIR with server-cert.pem and server-key.pem)");
      }
      c = c.withTls(mode, TlsCredentials.load(Path.of(tlsCreds), tlsVerifyPeer));
    }
    if (maxPayload != null) {
      long n = Sizes.parse("--max-payload", maxPayload);
      if (n < 4096 || n > 256L << 20) {
        throw new CliException("--max-payload: " + maxPayload + " (expected: 4K to 256M)");
      }
      c = c.withMaxPayload((int) n);
    }
    return c;
  }

  private InetSocketAddress metricsAddress() {
    int colon = metricsAddress.lastIndexOf(':');
    try {
      int p = Integer.parseInt(metricsAddress.substring(colon + 1));
      if (colon <= 0 || p < 0 || p > 65535) {
        throw new NumberFormatException();
      }
      return new InetSocketAddress(InetAddress.getByName(metricsAddress.substring(0, colon).replaceAll("^\\[|\\]$", "")), p);
    } catch (NumberFormatException | java.net.UnknownHostException e) {
      throw new CliException("--metrics: " + metricsAddress + " (expected: ADDR:PORT, like 127.0.0.1:9100)");
    }
  }

  private SocketAddress address() throws IOException {
    if (socket != null) {
      if (port != null || bind != null) {
        throw new CliException("-k/--socket: given with -p/-b (expected: a unix socket or TCP, not both)");
      }
      // Before any image is opened, so a refusal is one line; the server claims the path again when it binds.
      SocketPath.claim(Path.of(socket));
      return UnixDomainSocketAddress.of(Path.of(socket));
    }
    int p = port == null ? 10809 : port;
    if (p < 0 || p > 65535) {
      throw new CliException("--port: " + p + " (expected: 0 to 65535)");
    }
    String host = bind == null ? "127.0.0.1" : bind;
    try {
      return new InetSocketAddress(InetAddress.getByName(host), p);
    } catch (java.net.UnknownHostException e) {
      throw new CliException("--bind: " + host + " (expected: an address or a host name that resolves)");
    }
  }
}
