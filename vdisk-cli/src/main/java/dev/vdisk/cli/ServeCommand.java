package dev.vdisk.cli;

import dev.vdisk.block.filter.DetectZeroesFilter;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.internal.SocketActivation;
import dev.vdisk.io.rbd.RbdSecrets;
import dev.vdisk.nbd.client.NbdTarget;
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
import java.io.PrintWriter;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import sun.misc.Signal;

/**
 * {@code vdisk serve}: an NBD server for one or more images, in qemu-nbd 7.2's habits (socket activation included:
 * {@link SocketActivation}).
 *
 * <pre>
 * vdisk serve [-f fmt] [--cache=MODE | -n] [-r] [-x name] [-D text] [-A] [-B bitmap] [--discard=unmap|ignore]
 *             [--detect-zeroes=off|on|unmap] [-t] [-e N] [--fork] [--image-opts] FILE
 * vdisk serve --export name=NAME,file=PATH[,format=..][,cache=..][,read-only][,discard=..][,detect-zeroes=..][,description=..] ...
 * </pre>
 *
 * <p>As qemu-nbd: without {@code -t/--persistent} the server exits once a client that reached transmission has
 * disconnected and no other is connected; {@code -e N} lets N clients connect at once (default 1; 0: any number,
 * and only then, or with N above 1, is {@code NBD_FLAG_CAN_MULTI_CONN} advertised); {@code --tls-creds=ID} names an
 * {@code --object tls-creds-x509,...} and makes TLS required. {@code --tls-creds DIR}, {@code --tls},
 * {@code --tls-verify-peer}, {@code --export}, {@code --allow}, {@code --metrics} and {@code --max-payload} are
 * vdisk's own.
 *
 * <p>Listens on TCP ({@code -p}, default 10809, on {@code -b}, default 127.0.0.1, not qemu-nbd's 0.0.0.0: an
 * export has no authentication unless TLS is set up, so exposing it to the network is left to an explicit
 * {@code -b}) or, with {@code -k}, on a unix socket only. Runs until then, or SIGTERM or SIGINT, and stops
 * gracefully: no new connections, requests already received complete, images are flushed and closed, and the
 * exit status is 0. Log lines go to stderr.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk serve -t -k /tmp/vdisk.sock -f qcow2 disk.qcow2", "  vdisk serve --export name=disk,file=disk.qcow2,cache=none -p 10809"}, sortOptions = false,
    description = "Serve images over NBD (TCP or a unix socket), with qemu-nbd's options.")
final class ServeCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Option(names = {"-L", "--list"}, description = "Connect to the NBD server at -k, or -b and -p, as a client and list "
      + "its exports as qemu-nbd --list does (not over TLS).")
  boolean list;

  @Option(names = {"-p", "--port"}, paramLabel = "PORT", description = "TCP port (default 10809).")
  Integer port;

  @Option(names = {"-b", "--bind"}, paramLabel = "ADDR", description = "Address to listen on (default 127.0.0.1, not qemu-nbd's 0.0.0.0).")
  String bind;

  @Option(names = {"-k", "--socket"}, paramLabel = "PATH", description = "Listen on this unix socket instead of TCP.")
  String socket;

  @Option(names = {"-t", "--persistent"},
    description = "Do not exit when the last client disconnects.")
  boolean persistent;

  @Option(names = {"-e", "--shared"}, paramLabel = "NUM", description = "Clients that may be connected at once (default 1; 0: no limit).")
  Integer shared;

  @Option(names = "--fork", description = "Return once the server listens, leaving it running in the background.")
  boolean fork;

  @Option(names = {"-v", "--verbose"},
    description = "Accepted for qemu-nbd's sake: vdisk always logs its events on stderr.")
  boolean verbose;

  @Option(names = "--export", paramLabel = "SPEC",
      description = "An export: name=NAME,file=PATH[,format=FMT][,cache=MODE][,read-only][,discard=unmap|ignore][,detect-zeroes=off|on|unmap][,description=TEXT][,bitmap=NAME][,allocation-depth][,aio=MODE][,encrypt.key-secret=ID]. Repeatable.")
  List<String> exports = new ArrayList<>();

  @Option(names = {"-f", "--format"}, paramLabel = "FMT", description = "Format of FILE (probed when absent).")
  String format;

  @Option(names = "--image-opts", description = "FILE is driver=raw|qcow2,file.filename=PATH[,encrypt.key-secret=ID] (an encrypted qcow2's password), or an image on RBD: driver=rbd,pool=P,image=I[,conf=PATH][,user=ID][,key-secret=ID].")
  boolean imageOpts;

  @Option(names = "--cache", paramLabel = "MODE", description = "Cache mode of FILE: none, writeback (default), writethrough, directsync, unsafe.")
  String cache;

  @Option(names = {"-n", "--nocache"},
    description = "Bypass the host page cache (--cache=none).")
  boolean nocache;

  @Option(names = "--aio", paramLabel = "MODE", description = AioOption.HELP)
  String aio;

  @Option(names = {"-r", "--read-only"},
    description = "Export FILE read-only.")
  boolean readOnly;

  @Option(names = {"-s", "--snapshot"},
    description = "Serve FILE through a temporary qcow2 overlay that takes the "
      + "writes (deleted at exit); FILE itself is only read.")
  boolean snapshot;

  @Option(names = {"-l", "--load-snapshot"}, paramLabel = "SNAPSHOT", description = "Serve internal snapshot SNAPSHOT of "
      + "FILE (an ID or name, or snapshot.id=ID[,snapshot.name=NAME]) read-only, without applying it (implies -r).")
  String loadSnapshot;

  @Option(names = {"-x", "--export-name"}, paramLabel = "NAME", description = "Export name of FILE (default: empty).")
  String exportName;

  @Option(names = {"-D", "--description"}, paramLabel = "TEXT", description = "Description of FILE's export.")
  String description;

  @Option(names = {"-o", "--offset"}, paramLabel = "OFFSET", description = "Export FILE from this byte offset on.")
  String offset;

  @Option(names = {"-A", "--allocation-depth"},
    description = "Offer the qemu:allocation-depth metadata context.")
  boolean allocationDepth;

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

  @Option(names = "--object", paramLabel = "OBJECT",
      description = "tls-creds-x509,id=ID,dir=DIR,endpoint=server[,verify-peer=on|off], named by --tls-creds=ID; "
          + "secret,id=ID,data=TEXT|file=PATH[,format=raw|base64]: a secret, e.g. an RBD image's key (key-secret=ID).")
  List<String> objects = new ArrayList<>();

  @Option(names = "--tls", paramLabel = "MODE", description = "off, on (offered) or require (the default once credentials are given).")
  String tls;

  @Option(names = "--tls-creds", paramLabel = "ID|DIR",
      description = "The id of an --object tls-creds-x509, or a directory laid out as QEMU's tls-creds-x509: server-cert.pem, server-key.pem (and ca-cert.pem).")
  String tlsCreds;

  @Option(names = "--tls-verify-peer",
      description = "With --tls-creds DIR: require a client certificate issued by a CA in ca-cert.pem (QEMU's verify-peer=on).")
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
    if (list) {
      if (file != null || !exports.isEmpty() || tlsCreds != null) {
        throw new CliException("--list: " + (tlsCreds != null ? "--tls-creds (listing over TLS is not built)"
            : "an image to serve") + " (expected: only -k PATH, or -b ADDR and -p PORT, to name the server)");
      }
      ServeList.print(socket, bind == null ? "127.0.0.1" : bind, port == null ? NbdTarget.DEFAULT_PORT : port, main.out());
      return 0;
    }
    defineSecrets();
    List<ExportSpec> specs = specs();
    ServerConfig config = config();
    ServerSocketChannel activated = activated();
    SocketAddress address = activated == null ? address() : null;
    InetSocketAddress metricsAt = metricsAddress == null ? null : metricsAddress();
    if (fork && !ServeFork.isChild()) {
      return ServeFork.runParent(main.err());
    }
    // After the fork, so only the server makes (and later deletes) the temporary overlay.
    Path overlay = snapshot ? TemporaryOverlay.replaceLast(specs) : null;
    EventLog log = new EventLog(main.err());
    PrometheusMetrics metrics = metricsAt == null ? null : startMetrics(metricsAt);
    List<Export> opened = new ArrayList<>();
    try {
      for (ExportSpec s : specs) {
        if (loadSnapshot == null || s != specs.getLast()) {
          opened.add(s.open(log, main.err(), secrets));
          continue;
        }
        // -l applies to FILE's export, the last spec; it is logged once the snapshot is found, so a refusal is one line.
        Export x = SnapshotSource.export(s.open(new EventLog(new PrintWriter(Writer.nullWriter())), main.err(), secrets),
            loadSnapshot);
        log.info("export", "export", x.name(), "file", s.file(), "snapshot", loadSnapshot, "read-only", true, "size",
            x.device().size(), "stack", x.device());
        opened.add(x);
      }
    } catch (IOException | RuntimeException e) {
      for (Export x : opened) {
        x.device().close();
      }
      if (metrics != null) {
        metrics.close();
      }
      if (overlay != null) {
        Files.deleteIfExists(overlay);
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
    if (!persistent) {
      server.onLastClient(stop::countDown);
    }
    Path pid = pidFile == null ? null : Path.of(pidFile);
    try {
      try {
        if (activated != null) {
          server.listen(activated);
        } else {
          server.listen(address);
        }
      } catch (IOException e) {
        throw new IOException("NBD socket " + e.getMessage(), e);
      }
      if (pid != null) {
        // whole or not at all: a script (or ServeJarIT) that polls for the file may otherwise read it empty
        AtomicFiles.writeString(pid, ProcessHandle.current().pid() + "\n", StandardCharsets.US_ASCII);
      }
      if (ServeFork.isChild()) {
        ServeFork.childReady(main.err());
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
      if (overlay != null) {
        Files.deleteIfExists(overlay);
      }
    }
    return 0;
  }

  /** The socket passed by socket activation (systemd's LISTEN_PID/LISTEN_FDS, fd 3), or null. */
  private ServerSocketChannel activated() throws IOException {
    ServerSocketChannel ch = SocketActivation.listeningSocket();
    if (ch != null && (socket != null || port != null || bind != null || fork)) {
      throw new CliException("socket activation (LISTEN_FDS): given with " + (fork ? "--fork" : "-k/-p/-b")
          + " (expected: the activated socket alone)");
    }
    return ch;
  }

  private static PrometheusMetrics startMetrics(InetSocketAddress at) throws IOException {
    try {
      return PrometheusMetrics.start(at);
    } catch (IOException e) {
      throw new IOException("metrics socket " + at.getAddress().getHostAddress() + ":" + at.getPort() + ": " + e.getMessage(), e);
    }
  }

  private List<ExportSpec> specs() {
    if (snapshot && (file == null || loadSnapshot != null)) {
      throw new CliException("-s/--snapshot: " + (file == null ? "given without FILE (expected: FILE, the image to "
          + "protect)" : "given with -l (expected: one of them)"));
    }
    if (loadSnapshot != null && file == null) {
      throw new CliException("-l/--load-snapshot: given without FILE (expected: FILE, the image whose snapshot to serve)");
    }
    if (shared != null && shared < 0) {
      throw new CliException("Invalid shared device number '" + shared + "' (expected: 0 for any number of clients, or more)");
    }
    if (nocache && cache != null) {
      throw new CliException("-n/--nocache: given with --cache (expected: one of them)");
    }
    List<ExportSpec> specs = new ArrayList<>(exports.stream().map(ExportSpec::parse).toList());
    if (file != null) {
      String path = file;
      String fmt = format;
      String keySecret = null;
      if (imageOpts) {
        if (format != null) {
          throw new CliException("--image-opts: given with -f (expected: driver= inside FILE)");
        }
        ImageOptsFile opts = ImageOptsFile.parseWithKey(file);
        path = opts.file();
        fmt = opts.format();
        keySecret = opts.keySecret();
      }
      CacheMode mode = nocache ? CacheMode.NONE : cache == null ? CacheMode.WRITEBACK : CacheMode.parse(cache);
      // As qemu-nbd: -l implies -r.
      specs.add(new ExportSpec(exportName == null ? "" : exportName, path, fmt, mode, readOnly || loadSnapshot != null,
          discard == null ? DiscardMode.IGNORE : DiscardMode.parse(discard), description == null ? "" : description,
          detectZeroes == null ? DetectZeroesFilter.Mode.OFF : DetectZeroesFilter.Mode.parse(detectZeroes), bitmap, allocationDepth,
          offset == null ? 0 : Sizes.parse("-o/--offset", offset), AioOption.parseServe("--aio", aio, mode), keySecret));
    } else if (format != null || cache != null || nocache || readOnly || exportName != null || description != null || discard != null
        || detectZeroes != null || bitmap != null || allocationDepth || imageOpts || offset != null || aio != null) {
      throw new CliException("-f/--cache/-n/-r/-x/-D/-o/-A/-B/--aio/--discard/--detect-zeroes/--image-opts: given without FILE (expected: FILE, or the same settings inside --export)");
    }
    if (specs.isEmpty()) {
      throw new CliException("nothing to serve (expected: FILE or at least one --export name=NAME,file=PATH)");
    }
    return specs;
  }

  /** The {@code --object secret} values by id: encrypted images' passwords ({@code encrypt.key-secret=ID}). */
  private final Map<String, byte[]> secrets = new HashMap<>();

  /**
   * Defines the {@code --object secret,...} objects, which images' options name ({@code key-secret=ID} on RBD,
   * {@code encrypt.key-secret=ID} for an encrypted qcow2 image), as qemu-nbd.
   */
  private void defineSecrets() {
    for (String o : objects) {
      if (SecretObject.isSecret(o)) {
        SecretObject secret = SecretObject.parse(o);
        RbdSecrets.define(secret.id(), secret.value());
        secrets.put(secret.id(), secret.value());
      }
    }
  }

  private ServerConfig config() throws IOException {
    ServerConfig c = ServerConfig.DEFAULTS.withAllow(AllowList.parse(allow)).withMaxClients(shared == null ? 1 : shared);
    List<TlsCredsObject> objs = objects.stream().filter(o -> !SecretObject.isSecret(o)).map(TlsCredsObject::parse).toList();
    TlsCredsObject named = tlsCreds == null ? null : objs.stream().filter(o -> o.id().equals(tlsCreds)).findFirst().orElse(null);
    if (named != null && tlsVerifyPeer) {
      throw new CliException("--tls-verify-peer: given with --tls-creds=" + tlsCreds + " (expected: verify-peer= in its --object)");
    }
    TlsMode mode = tls != null ? TlsMode.parse(tls) : tlsCreds != null ? TlsMode.REQUIRE : TlsMode.OFF;
    if (mode == TlsMode.OFF && (tlsCreds != null || tlsVerifyPeer)) {
      throw new CliException((tlsCreds != null ? "--tls-creds" : "--tls-verify-peer")
          + ": given with TLS off (expected: --tls=on or --tls=require, or no --tls)");
    }
    if (mode != TlsMode.OFF) {
      if (tlsCreds == null) {
        throw new CliException("--tls=" + tls + ": no credentials (expected: --tls-creds ID of an --object tls-creds-x509, or DIR with server-cert.pem and server-key.pem)");
      }
      c = c.withTls(mode, named != null ? TlsCredentials.load(Path.of(named.dir()), named.verifyPeer())
          : TlsCredentials.load(Path.of(tlsCreds), tlsVerifyPeer));
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
