package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code vdisk serve}'s argument errors: one line, exit 1, before anything is opened or bound. */
class ServeCommandTest {
  @TempDir Path dir;

  private void fails(String expectedLine, String... args) {
    String[] full = new String[args.length + 1];
    full[0] = "serve";
    System.arraycopy(args, 0, full, 1, args.length);
    Vdisk.Result r = Vdisk.run(full);
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly(expectedLine);
  }

  @Test
  void argumentErrorsAreOneLine() throws IOException {
    Path img = Files.write(dir.resolve("a.img"), new byte[4096]);
    fails("vdisk serve: nothing to serve (expected: FILE or at least one --export name=NAME,file=PATH)");
    fails("vdisk serve: -f/--cache/-n/-r/-x/-D/-o/-A/-B/--aio/--discard/--detect-zeroes/--image-opts: given without FILE (expected: FILE, or the same settings inside --export)",
        "-r", "--export", "name=a,file=" + img);
    fails("vdisk serve: --export: unknown key 'fmt' (expected: one of name, file, format, cache, read-only, discard, detect-zeroes, description, bitmap, allocation-depth, aio, encrypt.key-secret)",
        "--export", "name=a,file=" + img + ",fmt=raw");
    fails("vdisk serve: --export: 'name=a' has no file= (expected: name=NAME,file=PATH[,...])", "--export", "name=a");
    fails("vdisk serve: detect-zeroes: 'yes' (expected: off, on or unmap)", "--export", "file=" + img + ",detect-zeroes=yes");
    fails("vdisk serve: detect-zeroes=unmap: needs discard=unmap (expected: discard=unmap, or detect-zeroes=on)",
        "--export", "file=" + img + ",detect-zeroes=unmap");
    fails("vdisk serve: detect-zeroes=unmap: needs discard=unmap (expected: discard=unmap, or detect-zeroes=on)",
        "--detect-zeroes=unmap", img.toString());
    fails("vdisk serve: -k/--socket: given with -p/-b (expected: a unix socket or TCP, not both)", "-k", dir + "/s", "-p", "1", img.toString());
    fails("vdisk serve: allow: 'example.com' (expected: an IP address or CIDR block, like 10.0.0.0/8 or ::1/128)",
        "--allow", "example.com", img.toString());
    fails("vdisk serve: discard: 'maybe' (expected: unmap, on, ignore, off)", "--discard", "maybe", img.toString());
    fails("vdisk serve: --max-payload: 1k (expected: 4K to 256M)", "--max-payload", "1k", img.toString());
    fails("vdisk serve: " + dir.resolve("missing.img") + ": no such file (expected: an existing image file)", "-f", "raw", dir.resolve("missing.img").toString());
  }

  /** qemu-nbd's options: those vdisk cannot honour yet are refused in one line, and bad values are named. */
  @Test
  void qemuNbdOptionErrorsAreOneLine() throws IOException {
    Path img = Files.write(dir.resolve("a.img"), new byte[4096]);
    String f = img.toString();
    fails("vdisk serve: Failed to load snapshot: Block format 'raw' used by device '' does not support temporarily "
        + "loading internal snapshots", "-f", "raw", "-k", dir.resolve("s.sock").toString(), "-l", "snap1", f);
    fails("vdisk serve: -s/--snapshot: given with -l (expected: one of them)", "-s", "-l", "snap1", f);
    fails("vdisk serve: --aio: 'posix' (expected: threads, native or io_uring)", "--aio=posix", f);
    fails("vdisk serve: Invalid shared device number '-1' (expected: 0 for any number of clients, or more)", "-e", "-1", f);
    fails("vdisk serve: -n/--nocache: given with --cache (expected: one of them)", "-n", "--cache=none", f);
    fails("vdisk serve: cache mode: 'fast' (expected: writeback, writethrough, none, off, directsync, unsafe)", "--cache=fast", f);
    fails("vdisk serve: --image-opts: driver=vmdk (expected: driver=raw|qcow2,file.filename=PATH)", "--image-opts", "driver=vmdk,file.filename=" + f);
    fails("vdisk serve: --image-opts: key 'file.locking' is not supported (expected: driver=raw|qcow2,file.filename=PATH)",
        "--image-opts", "driver=raw,file.filename=" + f + ",file.locking=off");
    fails("vdisk serve: --image-opts: given with -f (expected: driver= inside FILE)", "--image-opts", "-f", "raw", "driver=raw,file.filename=" + f);
    fails("vdisk serve: --object: type 'iothread' is not supported (expected: tls-creds-x509,id=ID,dir=DIR,endpoint=server[,verify-peer=on|off])",
        "--object", "iothread,id=io0", f);
    fails("vdisk serve: --object secret: needs id= and one of data= and file= (expected: secret,id=ID,data=TEXT|file=PATH[,format=raw|base64])",
        "--object", "secret,id=s0", f);
    fails("vdisk serve: Expecting TLS credentials with a server endpoint (expected: endpoint=server in --object tls0)",
        "--object", "tls-creds-x509,id=tls0,dir=" + dir, "--tls-creds=tls0", f);
    fails("vdisk serve: Offset (8192) can't exceed device size (4096)", "-f", "raw", "-o", "8192", f);
    Path top = dir.resolve("top.qcow2");
    assertThat(Vdisk.run("create", "-f", "qcow2", "-b", f, "-F", "raw", top.toString()).exit()).isZero();
    fails("vdisk serve: -o/--offset: " + top + " has a backing file (expected: an image without one; not built yet)",
        "-f", "qcow2", "-o", "512", top.toString());
    fails("vdisk serve: --tls-creds: given with TLS off (expected: --tls=on or --tls=require, or no --tls)", "--tls=off", "--tls-creds", dir.toString(), f);
  }

  /** A busy address ends the run with one error line naming it, and which socket (NBD or metrics) it was. */
  @Test
  void busyAddressesAreNamed() throws IOException {
    Path img = Files.write(dir.resolve("a.img"), new byte[4096]);
    try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      int port = taken.getLocalPort();
      Vdisk.Result nbd = Vdisk.run("serve", "-p", Integer.toString(port), "-f", "raw", img.toString());
      assertThat(nbd.exit()).isEqualTo(1);
      // the export's log lines come first: the image is opened before the socket is bound
      assertThat(nbd.errLines()[nbd.errLines().length - 1]).isEqualTo("vdisk serve: NBD socket 127.0.0.1:" + port + ": Address already in use");
      fails("vdisk serve: metrics socket 127.0.0.1:" + port + ": Address already in use",
          "--metrics", "127.0.0.1:" + port, "-p", "0", "-f", "raw", img.toString());
    }
  }
}
