package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 13, fault 3: a file with the qcow2 magic whose version is not 2 or 3 is a qcow2 image vdisk cannot open,
 * never a raw disk. Probed or named, every command that opens it ({@code info}, {@code map}, {@code check},
 * {@code io}, {@code convert}, {@code compare}, {@code serve}) fails with one line naming the version as
 * {@code qemu-img info -f qcow2} does ("Unsupported qcow2 version N"), exit 1, and the file untouched. (qemu-img
 * itself probes version 1 as QEMU's old qcow format and version 0 as raw; vdisk reads neither, so it refuses both.)
 */
class Qcow2VersionInteropIT {
  @TempDir Path dir;

  @ParameterizedTest
  @ValueSource(ints = {0, 1, 4, 255})
  void aQcow2MagicWithAnUnsupportedVersionIsRefusedByEveryCommand(int version) throws Exception {
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "qcow2", "v.qcow2", "1M");
    PeerTools.check(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64k", "v.qcow2");
    Path image = dir.resolve("v.qcow2");
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.allocate(4).putInt(0, version), 4);
    }
    String unsupported = "Unsupported qcow2 version " + version;
    PeerTools.Result qemu = PeerTools.run(dir, "qemu-img", "info", "-f", "qcow2", "v.qcow2");
    assertThat(qemu.exit()).isEqualTo(1);
    assertThat(qemu.err()).contains(unsupported);
    byte[] before = Files.readAllBytes(image);
    String file = image.toString();
    List<String[]> commands = new ArrayList<>(List.of(
        new String[] {"info", file},
        new String[] {"info", "-f", "qcow2", file},
        new String[] {"info", "--output=json", file},
        new String[] {"map", file},
        new String[] {"check", file},
        new String[] {"io", "-c", "read 0 512", file},
        new String[] {"io", "-c", "write -P 0x11 0 512", file},
        new String[] {"convert", "-O", "raw", file, dir.resolve("out.raw").toString()},
        new String[] {"compare", file, file}));
    for (String[] args : commands) {
      Vdisk.Result r = Vdisk.run(args);
      assertThat(r.exit()).as("vdisk %s: %s%s", String.join(" ", args), r.out(), r.err())
          .isEqualTo(args[0].equals("compare") ? 2 : 1);
      assertThat(r.errLines()).as("vdisk " + String.join(" ", args)).singleElement().asString().contains(unsupported);
    }
    assertThat(dir.resolve("out.raw")).as("convert creates no target").doesNotExist();
    // serve must refuse at once; a server that started would never return.
    CompletableFuture<Vdisk.Result> serve = CompletableFuture.supplyAsync(
        () -> Vdisk.run("serve", "-k", dir.resolve("nbd.sock").toString(), file));
    Vdisk.Result r = serve.get(30, TimeUnit.SECONDS);
    assertThat(r.exit()).as("vdisk serve: " + r.err()).isEqualTo(1);
    assertThat(r.errLines()).singleElement().asString().contains(unsupported);
    assertThat(Files.readAllBytes(image)).as("the image is untouched").isEqualTo(before);
  }
}
