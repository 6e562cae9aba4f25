package dev.vdisk.io;

import static dev.vdisk.testkit.HostLocks.lockedBytes;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.testkit.Peers;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** QEMU's image locks, checked against the real qemu-io and qemu-img. */
class ImageLockIT {
  private static final String SHARED_WRITE = "Failed to get shared \"write\" lock";
  private static final String WRITE = "Failed to get \"write\" lock";
  private static final String HINT = "Is another process using the image";

  @TempDir Path dir;

  private Path image(String format) throws IOException, InterruptedException {
    Path p = dir.resolve("img." + format);
    Result r = run("qemu-img", "create", "-f", format, p.toString(), "1M");
    assertThat(r.exit).as(r.output).isZero();
    return p;
  }

  private static FileDevice open(Path p, boolean readOnly, boolean forceShare) throws IOException {
    return FileDevice.open(p, new FileOptions(CacheMode.WRITEBACK, readOnly, forceShare, true));
  }

  @Test
  void whileQemuIoWritesOnlyForceShareReadOnlyOpensSucceed() throws Exception {
    Peers.require("qemu-img");
    Peers.require("qemu-io");
    Path p = image("raw");
    try (QemuIo peer = QemuIo.start(p)) {
      assertThatThrownBy(() -> open(p, false, false))
          .isInstanceOf(BlockDeviceException.class)
          .hasMessageContaining(SHARED_WRITE)
          .hasMessageContaining(HINT + " [" + p + "]?")
          .satisfies(e -> assertThat(((BlockDeviceException) e).error()).isEqualTo(BlockError.EPERM));
      assertThatThrownBy(() -> open(p, true, false)).hasMessageContaining(SHARED_WRITE);
      try (FileDevice shared = open(p, true, true)) {
        ByteBuffer buf = ByteBuffer.allocate(512);
        shared.read(0, buf);
        assertThat(buf.hasRemaining()).isFalse();
      }
      assertThat(peer.isAlive()).isTrue();
    }
    open(p, false, false).close(); // the peer's locks left with it
  }

  @Test
  void whileVdiskWritesQemuCannotOpenTheImageForWriting() throws Exception {
    Peers.require("qemu-img");
    Peers.require("qemu-io");
    Path p = image("raw");
    try (FileDevice dev = open(p, false, false)) {
      Result writer = run("qemu-io", "-f", "raw", "-c", "read 0 512", p.toString());
      assertThat(writer.exit).as(writer.output).isNotZero();
      assertThat(writer.output).contains(WRITE, HINT);
      Result resize = run("qemu-img", "resize", "-f", "raw", p.toString(), "2M");
      assertThat(resize.exit).as(resize.output).isNotZero();
      assertThat(resize.output).contains(WRITE, HINT);
      assertThat(dev.size()).isEqualTo(1 << 20);
      // We share consistent reads, as a running VM does: QEMU readers are let in.
      Result reader = run("qemu-io", "-r", "-f", "raw", "-c", "read 0 512", p.toString());
      assertThat(reader.exit).as(reader.output).isZero();
    }
    Result after = run("qemu-io", "-f", "raw", "-c", "write 0 512", p.toString());
    assertThat(after.exit).as(after.output).isZero();
  }

  /**
   * qemu-img info needs no permission on a raw image in QEMU 7.2 (it never reads it), so the refusal shows
   * on a qcow2 file, whose metadata qemu-img will not read while someone may be writing it.
   */
  @Test
  void whileVdiskWritesQemuImgInfoIsRefusedUnlessForceShare() throws Exception {
    Peers.require("qemu-img");
    Path p = image("qcow2");
    try (FileDevice dev = open(p, false, false)) {
      Result info = run("qemu-img", "info", p.toString());
      assertThat(info.exit).as(info.output).isNotZero();
      assertThat(info.output).contains(SHARED_WRITE, HINT);
      Result forced = run("qemu-img", "info", "-U", p.toString());
      assertThat(forced.exit).as(forced.output).isZero();
      assertThat(forced.output).contains("file format: qcow2");
    }
    assertThat(run("qemu-img", "info", p.toString()).exit).isZero();
  }

  @Test
  void twoOpensInOneJvmConflictLikeTwoProcesses() throws IOException {
    Path p = dir.resolve("same-jvm.raw");
    Files.write(p, new byte[4096]);
    try (FileDevice first = open(p, false, false)) {
      assertThatThrownBy(() -> open(p, false, false)).hasMessageContaining(WRITE);
      assertThatThrownBy(() -> open(p, true, false)).hasMessageContaining(SHARED_WRITE);
      open(p, true, true).close();
      assertThat(first.size()).isEqualTo(4096);
    }
    try (FileDevice reader1 = open(p, true, false); FileDevice reader2 = open(p, true, false)) {
      assertThatThrownBy(() -> open(p, false, false)).hasMessageContaining(WRITE);
      FileDevice.open(p, new FileOptions(CacheMode.WRITEBACK, false, false, false)).close(); // locking off
    }
  }

  /**
   * The bytes QEMU 7.2 locks on the file of a format that keeps metadata there (qcow2; a file opened on its own is
   * locked so): 100+i for each permission held, 200+i for each one not shared. Raw images, which pass their user's
   * permissions through, are compared with QEMU's tools in the CLI's ImageLockInteropIT.
   */
  @Test
  void locksExactlyQemusBytes() throws IOException {
    Path p = dir.resolve("bytes.raw");
    Files.write(p, new byte[4096]);
    try (FileDevice dev = open(p, false, false)) {
      assertThat(lockedBytes(p)).containsExactly(100L, 101L, 103L, 201L, 203L);
    }
    try (FileDevice dev = open(p, true, false)) {
      assertThat(lockedBytes(p)).containsExactly(100L, 201L, 203L);
    }
    try (FileDevice dev = open(p, true, true)) {
      assertThat(lockedBytes(p)).containsExactly(100L);
    }
    assertThat(lockedBytes(p)).isEmpty();
  }

  record Result(int exit, String output) {}

  private static Result run(String... command) throws IOException, InterruptedException {
    Process proc = new ProcessBuilder(command).redirectErrorStream(true).start();
    proc.getOutputStream().close();
    String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!proc.waitFor(30, TimeUnit.SECONDS)) {
      proc.destroyForcibly();
      throw new AssertionError(String.join(" ", command) + ": timed out");
    }
    return new Result(proc.exitValue(), out);
  }

  /** qemu-io with the image open read-write, fed commands through a pipe so it stays open until closed. */
  private static final class QemuIo implements AutoCloseable {
    private final Process process;
    private final Writer commands;

    private QemuIo(Process process) {
      this.process = process;
      this.commands = process.outputWriter(StandardCharsets.UTF_8);
    }

    /** Starts qemu-io on {@code image} and returns once it has read from it, so its locks are held. */
    static QemuIo start(Path image) throws IOException {
      Process p = new ProcessBuilder(List.of("qemu-io", "-f", "raw", image.toString())).redirectErrorStream(true).start();
      QemuIo q = new QemuIo(p);
      q.commands.write("read 0 512\n");
      q.commands.flush();
      BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
      StringBuilder seen = new StringBuilder();
      for (String line; (line = out.readLine()) != null; ) {
        seen.append(line).append('\n');
        if (line.contains("read 512/512 bytes")) {
          return q;
        }
      }
      q.close();
      throw new AssertionError("qemu-io did not open " + image + ":\n" + seen);
    }

    boolean isAlive() {
      return process.isAlive();
    }

    @Override
    public void close() throws IOException {
      try {
        commands.write("quit\n");
        commands.close();
      } catch (IOException alreadyGone) {
        // it exited on its own; nothing to tell it
      }
      try {
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
          process.destroyForcibly().waitFor();
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
  }
}
