package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.io.CacheMode;
import dev.vdisk.nbd.server.DiscardMode;
import dev.vdisk.nbd.server.EventLog;
import dev.vdisk.nbd.server.NbdServer;
import dev.vdisk.nbd.server.ServerConfig;
import dev.vdisk.nbd.server.TlsCredentials;
import dev.vdisk.nbd.server.TlsMode;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TLS with real clients: libnbd (nbdinfo, nbdcopy) and QEMU's client (qemu-img, qemu-io with a
 * {@code tls-creds-x509} object), certificates made by openssl in QEMU's directory layout; expired, foreign and missing
 * certificates and a client that breaks off the TLS handshake are refused.
 */
class TlsInteropIT {
  @TempDir Path dir;
  private Path serverCreds;
  private Path clientCreds;
  private Path img;
  private final List<NbdServer> servers = new ArrayList<>();
  private final StringWriter log = new StringWriter();

  @BeforeEach
  void credentials() throws IOException, InterruptedException {
    for (String tool : List.of("openssl", "nbdinfo", "nbdcopy", "qemu-img", "qemu-io")) {
      PeerTools.require(tool);
    }
    serverCreds = Files.createDirectory(dir.resolve("server"));
    clientCreds = Files.createDirectory(dir.resolve("client"));
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=vdisk test CA",
        "-keyout", "ca-key.pem", "-out", "server/ca-cert.pem", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    Files.copy(serverCreds.resolve("ca-cert.pem"), clientCreds.resolve("ca-cert.pem"));
    issue("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment");
    issue("client", "client", "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment");
    img = dir.resolve("d.img");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", img.toString(), "4M");
    PeerTools.check(dir, "qemu-io", "-f", "raw", "-c", "write -P 0x61 0 1M", img.toString());
  }

  private void openssl(String... args) throws IOException, InterruptedException {
    String[] cmd = new String[args.length + 1];
    cmd[0] = "openssl";
    System.arraycopy(args, 0, cmd, 1, args.length);
    PeerTools.check(dir, cmd);
  }

  /** {@code who}-key.pem (PKCS#1 RSA, as certtool writes) and {@code who}-cert.pem signed by the CA, in {@code who}'s directory. */
  private void issue(String who, String cn, String extensions) throws IOException, InterruptedException {
    Files.writeString(dir.resolve(who + ".ext"), extensions + "\n");
    openssl("genrsa", "-traditional", "-out", who + "/" + who + "-key.pem", "2048");
    openssl("req", "-new", "-key", who + "/" + who + "-key.pem", "-subj", "/CN=" + cn, "-out", who + ".csr");
    openssl("x509", "-req", "-in", who + ".csr", "-CA", "server/ca-cert.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "2",
        "-extfile", who + ".ext", "-out", who + "/" + who + "-cert.pem");
  }

  /**
   * Like {@link #issue} but valid only on 1 January 2020 ({@code openssl x509} takes no dates in the past, so a
   * throw-away {@code openssl ca} database signs it), into directory {@code into} with {@code who}'s file names.
   */
  private void issueExpired(String into, String who, String cn) throws IOException, InterruptedException {
    Path ca = Files.createDirectories(dir.resolve("expired-ca-" + into));
    Files.writeString(ca.resolve("ca.cnf"), "[ca]\ndefault_ca=x\n[x]\ndatabase=" + ca.resolve("index.txt") + "\nserial="
        + ca.resolve("serial") + "\nnew_certs_dir=" + ca + "\npolicy=p\n[p]\ncommonName=supplied\n");
    Files.writeString(ca.resolve("index.txt"), "");
    openssl("genrsa", "-traditional", "-out", into + "/" + who + "-key.pem", "2048");
    openssl("req", "-new", "-key", into + "/" + who + "-key.pem", "-subj", "/CN=" + cn, "-out", into + ".csr");
    openssl("ca", "-batch", "-notext", "-config", ca.resolve("ca.cnf").toString(), "-create_serial", "-md", "sha256",
        "-keyfile", "ca-key.pem", "-cert", "server/ca-cert.pem", "-in", into + ".csr", "-extfile", who + ".ext",
        "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-out", into + "/" + who + "-cert.pem");
  }

  @AfterEach
  void stop() {
    servers.forEach(s -> s.stop(Duration.ofSeconds(5)));
  }

  /** Starts a server; returns its unix socket path and TCP port. */
  private Object[] serve(TlsMode mode) throws IOException {
    return serve(mode, false);
  }

  private Object[] serve(TlsMode mode, boolean verifyPeer) throws IOException {
    ServerConfig config = ServerConfig.DEFAULTS.withTls(mode, TlsCredentials.load(serverCreds, verifyPeer));
    EventLog events = new EventLog(new PrintWriter(log, true));
    NbdServer s = new NbdServer(List.of(new ExportSpec("d", img.toString(), "raw", CacheMode.WRITEBACK, false, DiscardMode.UNMAP, "")
        .open(events, new PrintWriter(log, true))), config, events);
    servers.add(s);
    Path sock = dir.resolve("tls" + servers.size() + ".sock");
    s.listen(UnixDomainSocketAddress.of(sock));
    InetSocketAddress tcp = (InetSocketAddress) s.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    return new Object[] {sock, tcp.getPort()};
  }

  private String qemuOpts(Path sock) {
    return "driver=nbd,server.type=unix,server.path=" + sock + ",export=d,tls-creds=tls0,tls-hostname=localhost";
  }

  private String tlsObject() {
    return tlsObject(clientCreds);
  }

  private static String tlsObject(Path creds) {
    return "tls-creds-x509,id=tls0,endpoint=client,dir=" + creds;
  }

  @Test
  void libnbdAndQemuTalkTlsAndPlaintextIsRefusedUnderRequire() throws IOException, InterruptedException {
    Object[] at = serve(TlsMode.REQUIRE);
    Path sock = (Path) at[0];
    int port = (int) at[1];
    String info = PeerTools.check(dir, "nbdinfo", "nbds+unix:///d?socket=" + sock + "&tls-certificates=" + clientCreds);
    assertThat(info).contains("with TLS").contains("export-size: 4194304");
    PeerTools.check(dir, "nbdinfo", "nbds://localhost:" + port + "/d?tls-certificates=" + clientCreds);
    Path copy = dir.resolve("copy.img");
    PeerTools.check(dir, "nbdcopy", "nbds+unix:///d?socket=" + sock + "&tls-certificates=" + clientCreds, copy.toString());
    assertThat(Files.mismatch(copy, img)).isEqualTo(-1);

    String qemu = PeerTools.check(dir, "qemu-io", "--object", tlsObject(), "--image-opts",
        "-c", "read -P 0x61 0 1M", "-c", "write -P 0x62 1M 64k", "-c", "read -P 0x62 1M 64k",
        "-c", "write -P 0x63 2M 1M", "-c", "read -P 0x63 2M 1M", qemuOpts(sock)); // 1 MiB: written in parts
    assertThat(qemu).doesNotContain("fail");
    PeerTools.check(dir, "qemu-img", "info", "--object", tlsObject(), "--image-opts", qemuOpts(sock));

    PeerTools.Result plain = PeerTools.run(dir, "nbdinfo", "nbd+unix:///d?socket=" + sock);
    assertThat(plain.exit()).isNotZero();
    assertThat(plain.err()).as("libnbd reports NBD_REP_ERR_TLS_REQD as not supported").contains("nbd_opt_go");
    PeerTools.Result plainQemu = PeerTools.run(dir, "qemu-img", "info", "nbd+unix:///d?socket=" + sock);
    assertThat(plainQemu.exit()).isNotZero();
    assertThat(plainQemu.err()).contains("TLS");
    assertThat(log.toString()).contains("tls=true");
  }

  @Test
  void tlsOnServesPlaintextAndTlsClients() throws IOException, InterruptedException {
    Path sock = (Path) serve(TlsMode.ON)[0];
    assertThat(PeerTools.check(dir, "nbdinfo", "nbd+unix:///d?socket=" + sock)).contains("without TLS");
    assertThat(PeerTools.check(dir, "nbdinfo", "nbds+unix:///d?socket=" + sock + "&tls-certificates=" + clientCreds)).contains("with TLS");
    PeerTools.check(dir, "qemu-img", "compare", "-U", "--object", tlsObject(), "--image-opts", qemuOpts(sock),
        "driver=raw,file.driver=file,file.filename=" + img);
  }

  @Test
  void verifyPeerTakesClientsWithTheCasCertificateOnly() throws IOException, InterruptedException {
    Path sock = (Path) serve(TlsMode.REQUIRE, true)[0];
    String uri = "nbds+unix:///d?socket=" + sock + "&tls-certificates=";
    assertThat(PeerTools.check(dir, "nbdinfo", uri + clientCreds)).contains("with TLS");
    PeerTools.check(dir, "qemu-io", "--object", tlsObject(), "--image-opts", "-c", "read -P 0x61 0 1M", qemuOpts(sock));

    // no client certificate: the CA only
    Path anonymous = Files.createDirectory(dir.resolve("anonymous"));
    Files.copy(clientCreds.resolve("ca-cert.pem"), anonymous.resolve("ca-cert.pem"));
    PeerTools.Result none = PeerTools.run(dir, "nbdinfo", uri + anonymous);
    assertThat(none.exit()).isNotZero();
    assertThat(none.err()).contains("TLS fatal alert");
    assertThat(log.toString()).contains("Empty client certificate chain");
    PeerTools.Result noneQemu = PeerTools.run(dir, "qemu-img", "info", "--object", tlsObject(anonymous), "--image-opts", qemuOpts(sock));
    assertThat(noneQemu.exit()).isNotZero();

    // a certificate from another CA, with that CA's name on it
    Path stranger = Files.createDirectory(dir.resolve("stranger"));
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=vdisk test CA", "-keyout", "other-ca-key.pem",
        "-out", "other-ca.pem", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    openssl("genrsa", "-traditional", "-out", "stranger/client-key.pem", "2048");
    openssl("req", "-new", "-key", "stranger/client-key.pem", "-subj", "/CN=client", "-out", "stranger.csr");
    openssl("x509", "-req", "-in", "stranger.csr", "-CA", "other-ca.pem", "-CAkey", "other-ca-key.pem", "-CAcreateserial", "-days", "2",
        "-extfile", "client.ext", "-out", "stranger/client-cert.pem");
    Files.copy(clientCreds.resolve("ca-cert.pem"), stranger.resolve("ca-cert.pem"));
    assertThat(PeerTools.run(dir, "nbdinfo", uri + stranger).exit()).isNotZero();
    assertThat(PeerTools.run(dir, "qemu-img", "info", "--object", tlsObject(stranger), "--image-opts", qemuOpts(sock)).exit()).isNotZero();

    assertThat(log.toString()).contains("event=connection-error");
    assertThat(log.toString().lines().filter(l -> l.contains("event=open")).count()).as("sessions opened: the two good clients so far").isEqualTo(2);
    assertThat(log.toString()).contains("tls-client=\"CN=client\"");
    // the refusals did not disturb the server: a good client still gets in
    assertThat(PeerTools.check(dir, "nbdinfo", uri + clientCreds)).contains("with TLS");
  }

  /**
   * vdisk as the TLS client: the same {@code --object tls-creds-x509,endpoint=client} and {@code tls-creds=} qemu-img
   * takes (in json: and --image-opts), against vdisk's server with a client certificate required; qemu-img's output
   * on the same names; an nbds:// URI with libnbd's tls-certificates; plaintext to a TLS-only server and a
   * certificate for another host are refused with one line.
   */
  @Test
  void vdiskClientTalksTlsAsQemuImgDoes() throws IOException, InterruptedException {
    Object[] at = serve(TlsMode.REQUIRE, true);
    Path sock = (Path) at[0];
    int port = (int) at[1];
    for (String[] args : List.of(
        new String[] {"info", "--object", tlsObject(), "--image-opts", qemuOpts(sock)},
        new String[] {"map", "--output=json", "--object", tlsObject(), "json:{\"file\":{\"driver\":\"nbd\",\"server\":"
            + "{\"type\":\"inet\",\"host\":\"localhost\",\"port\":\"" + port + "\"},\"export\":\"d\",\"tls-creds\":\"tls0\"}}"},
        new String[] {"compare", "-U", "--object", tlsObject(), "--image-opts", qemuOpts(sock),
            "driver=raw,file.driver=file,file.filename=" + img})) {
      String[] qemu = new String[args.length + 1];
      qemu[0] = "qemu-img";
      System.arraycopy(args, 0, qemu, 1, args.length);
      String theirs = PeerTools.check(dir, qemu);
      Vdisk.Result ours = Vdisk.run(args);
      assertThat(ours.exit()).as(ours.err()).isZero();
      assertThat(ours.out()).isEqualTo(theirs);
    }
    Vdisk.Result uri = Vdisk.run("info", "nbds://localhost:" + port + "/d?tls-certificates=" + clientCreds);
    assertThat(uri.exit()).as(uri.err()).isZero();
    assertThat(uri.out()).contains("virtual size: 4 MiB");

    Vdisk.Result plain = Vdisk.run("info", "nbd+unix:///d?socket=" + sock);
    assertThat(plain.exit()).isEqualTo(1);
    assertThat(plain.errLines()).hasSize(1);
    assertThat(plain.err()).contains("requires TLS");
    Vdisk.Result wrongHost = Vdisk.run("info", "--object", tlsObject(), "--image-opts",
        qemuOpts(sock).replace("tls-hostname=localhost", "tls-hostname=elsewhere"));
    assertThat(wrongHost.exit()).isEqualTo(1);
    assertThat(wrongHost.errLines()).hasSize(1);
  }

  @Test
  void expiredCertificatesAreRefused() throws IOException, InterruptedException {
    // a client certificate from the right CA, expired: refused under verify-peer, by the handshake
    Path late = Files.createDirectory(dir.resolve("late"));
    Files.copy(clientCreds.resolve("ca-cert.pem"), late.resolve("ca-cert.pem"));
    issueExpired("late", "client", "client");
    Path sock = (Path) serve(TlsMode.REQUIRE, true)[0];
    String uri = "nbds+unix:///d?socket=" + sock + "&tls-certificates=";
    assertThat(PeerTools.run(dir, "nbdinfo", uri + late).exit()).isNotZero();
    assertThat(PeerTools.run(dir, "qemu-img", "info", "--object", tlsObject(late), "--image-opts", qemuOpts(sock)).exit())
        .isNotZero();
    awaitLog("event=connection-error");
    assertThat(log.toString()).doesNotContain("event=open");
    assertThat(PeerTools.check(dir, "nbdinfo", uri + clientCreds)).contains("with TLS");

    // the server's own certificate, expired: refused when serve starts, in one line naming the file, as QEMU does
    Path stale = Files.createDirectory(dir.resolve("stale"));
    Files.copy(serverCreds.resolve("ca-cert.pem"), stale.resolve("ca-cert.pem"));
    issueExpired("stale", "server", "localhost");
    Vdisk.Result r = Vdisk.run("serve", "--tls=require", "--tls-creds", stale.toString(), "-k",
        dir.resolve("stale.sock").toString(), "-f", "raw", img.toString());
    assertThat(r.exit()).isOne();
    assertThat(r.err().strip()).isEqualTo("vdisk serve: " + stale.resolve("server-cert.pem")
        + ": the certificate CN=localhost expired on 2020-01-02T00:00:00Z (expected: a certificate valid now)");
    assertThat(dir.resolve("stale.sock")).doesNotExist();
  }

  /**
   * qemu-nbd's TLS command line, {@code --object tls-creds-x509,...,endpoint=server --tls-creds=ID}, runs unchanged
   * through qemu-nbd and vdisk serve: TLS is required (a plaintext client is refused), a TLS client is served.
   */
  @Test
  void qemuNbdTlsCommandLineWorksUnchanged() throws IOException, InterruptedException {
    Path jar = Path.of("target", "vdisk.jar").toAbsolutePath();
    String java = ProcessHandle.current().info().command().orElse("java");
    for (String who : List.of("qemu-nbd", "vdisk")) {
      Path sock = dir.resolve(who + "-object.sock");
      List<String> cmd = new ArrayList<>(who.equals("vdisk")
          ? List.of(java, "--enable-native-access=ALL-UNNAMED", "-jar", jar.toString(), "serve") : List.of("qemu-nbd"));
      cmd.addAll(List.of("-t", "--object", "tls-creds-x509,id=tls0,dir=" + serverCreds + ",endpoint=server,verify-peer=off",
          "--tls-creds=tls0", "-x", "d", "-k", sock.toString(), "-f", "raw", img.toString()));
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve(who + ".log").toFile()).start();
      try {
        for (int i = 0; i < 400 && !Files.exists(sock) && p.isAlive(); i++) {
          Thread.sleep(50);
        }
        assertThat(sock).as(who + ": " + Files.readString(dir.resolve(who + ".log"))).exists();
        assertThat(PeerTools.run(dir, "nbdinfo", "--size", "nbd+unix:///d?socket=" + sock).exit()).as(who + ": plaintext refused").isNotZero();
        assertThat(PeerTools.check(dir, "nbdinfo", "--size", "nbds+unix:///d?socket=" + sock + "&tls-certificates=" + clientCreds).trim())
            .as(who + ": TLS served").isEqualTo("4194304");
      } finally {
        p.destroy();
        p.waitFor();
      }
    }
  }

  /**
   * A client that asks for TLS, is answered with an ACK, then goes on in plaintext: the server closes the connection
   * (bytes that are not a TLS record end the handshake) instead of waiting, and other clients are served.
   */
  @Test
  void plaintextAfterStartTlsIsDropped() throws IOException, InterruptedException {
    int port = (int) serve(TlsMode.REQUIRE)[1];
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
      s.setSoTimeout(10_000);
      DataInputStream in = new DataInputStream(s.getInputStream());
      DataOutputStream out = new DataOutputStream(s.getOutputStream());
      assertThat(in.readLong()).as("NBDMAGIC").isEqualTo(0x4e42444d41474943L);
      assertThat(in.readLong()).as("IHAVEOPT").isEqualTo(IHAVEOPT);
      in.readShort();
      out.writeInt(3); // fixed newstyle, no zeroes
      option(out, 5); // NBD_OPT_STARTTLS
      assertThat(in.readLong()).as("option reply magic").isEqualTo(0x3e889045565a9L);
      assertThat(in.readInt()).as("option").isEqualTo(5);
      assertThat(in.readInt()).as("NBD_REP_ACK").isEqualTo(1);
      assertThat(in.readInt()).as("reply length").isZero();
      option(out, 7); // NBD_OPT_GO in plaintext, where a TLS ClientHello belongs
      assertThat(bytesUntilClosed(in)).as("bytes before the server closed").isLessThan(64);
    }
    awaitLog("event=connection-error");
    assertThat(PeerTools.check(dir, "nbdinfo", "nbds://localhost:" + port + "/d?tls-certificates=" + clientCreds))
        .contains("with TLS");
  }

  /**
   * Reads until the server closes the connection: a TLS alert at most, then the end of the stream, or a reset when
   * the server closed with our plaintext still unread in its buffer. A read timeout (the server waiting) fails.
   */
  private static int bytesUntilClosed(DataInputStream in) throws IOException {
    int n = 0;
    try {
      while (in.read() >= 0) {
        n++;
      }
    } catch (SocketException e) {
      assertThat(e.getMessage()).as("how the connection ended").contains("Connection reset");
    }
    return n;
  }

  /** Waits up to 5 s for {@code text} in the server's log: it logs a connection's error after closing its socket. */
  private void awaitLog(String text) throws InterruptedException {
    long deadline = System.nanoTime() + 5_000_000_000L;
    while (!log.toString().contains(text) && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(log.toString()).contains(text);
  }

  private static final long IHAVEOPT = 0x49484156454f5054L;

  private static void option(DataOutputStream out, int option) throws IOException {
    out.writeLong(IHAVEOPT);
    out.writeInt(option);
    out.writeInt(0);
    out.flush();
  }
}
