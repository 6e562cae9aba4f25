package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code vdisk map} and {@code vdisk info} print what qemu-img prints for the same raw file, byte for byte
 * (info's JSON: the same JSON). The sparse files are made by qemu-img create and written by qemu-io.
 */
class MapInfoInteropIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dir;

  /** A named sparse layout: qemu-io commands applied to a fresh 4 MiB image. */
  private Path layout(String name) throws IOException, InterruptedException {
    Path img = dir.resolve(name + ".img");
    PeerTools.check(dir, "qemu-img", "create", "-q", "-f", "raw", img.toString(), "4M");
    List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
    for (String c : switch (name) {
      case "fresh" -> new String[] {};
      case "scattered" -> new String[] {"write -P 0xab 1M 64k", "write -P 0 2M 4k", "write -z 3M 64k", "write 4032k 64k"};
      case "punched" -> new String[] {"write 0 4M", "discard 1M 1M", "write -z -u 3M 512k"};
      case "unaligned" -> new String[] {"write 100000 5000", "write 3000000 1"};
      default -> throw new IllegalArgumentException(name);
    }) {
      cmd.add("-c");
      cmd.add(c);
    }
    cmd.add(img.toString());
    if (cmd.size() > 4) {
      PeerTools.check(dir, cmd.toArray(String[]::new));
    }
    return img;
  }

  /** Needs the real FileDevice (extents from SEEK_DATA/SEEK_HOLE). */
  @ParameterizedTest
  @ValueSource(strings = {"fresh", "scattered", "punched", "unaligned"})
  void mapJsonIsQemuImgsByteForByte(String name) throws IOException, InterruptedException {
    Path img = layout(name);
    String theirs = PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "raw", img.toString());
    Vdisk.Result ours = Vdisk.run("map", "--output=json", "-f", "raw", img.toString());
    assertThat(ours.exit()).as(ours.err()).isZero();
    assertThat(ours.out()).isEqualTo(theirs);
  }

  /** Needs the real FileDevice (extents from SEEK_DATA/SEEK_HOLE). */
  @ParameterizedTest
  @ValueSource(strings = {"fresh", "scattered", "punched", "unaligned"})
  void mapHumanIsQemuImgsByteForByte(String name) throws IOException, InterruptedException {
    Path img = layout(name);
    String theirs = PeerTools.check(dir, "qemu-img", "map", "-f", "raw", img.toString());
    Vdisk.Result ours = Vdisk.run("map", "-f", "raw", img.toString());
    assertThat(ours.exit()).as(ours.err()).isZero();
    assertThat(ours.out()).isEqualTo(theirs);
  }

  /** Needs the real FileDevice (extents from SEEK_DATA/SEEK_HOLE). */
  @Test
  void mapWithStartAndLengthIsQemuImgs() throws IOException, InterruptedException {
    Path img = layout("scattered");
    for (String[] range : new String[][] {{"1M", "32k"}, {"1000", "3000"}, {"900k", "2M"}, {"5M", "1M"}}) {
      String theirs = PeerTools.check(dir, "qemu-img", "map", "--output=json", "-f", "raw",
          "--start-offset", range[0], "--max-length", range[1], img.toString());
      Vdisk.Result ours = Vdisk.run("map", "--output=json", "-f", "raw", "--start-offset", range[0], "--max-length", range[1], img.toString());
      assertThat(ours.out()).as(String.join(" ", range)).isEqualTo(theirs);
    }
  }

  /** Needs the real FileDevice (actual size from st_blocks). */
  @ParameterizedTest
  @ValueSource(strings = {"fresh", "scattered", "punched"})
  void infoIsQemuImgsOnSparseFiles(String name) throws IOException, InterruptedException {
    Path img = layout(name);
    assertSameInfo(img);
  }

  /** Holds with any FileDevice: a file whose every byte was written. */
  @Test
  void infoIsQemuImgsOnAFullFile() throws IOException, InterruptedException {
    Path img = dir.resolve("full.img");
    byte[] data = new byte[3 << 20];
    new Random(1).nextBytes(data);
    Files.write(img, data);
    assertSameInfo(img);
  }

  private void assertSameInfo(Path img) throws IOException, InterruptedException {
    String theirsJson = PeerTools.check(dir, "qemu-img", "info", "--output=json", "-f", "raw", img.toString());
    Vdisk.Result oursJson = Vdisk.run("info", "--output=json", "-f", "raw", img.toString());
    assertThat(oursJson.exit()).as(oursJson.err()).isZero();
    assertThat(JSON.readTree(oursJson.out())).isEqualTo(JSON.readTree(theirsJson));
    assertThat(oursJson.out()).isEqualTo(theirsJson);
    String theirsHuman = PeerTools.check(dir, "qemu-img", "info", "-f", "raw", img.toString());
    assertThat(Vdisk.run("info", "-f", "raw", img.toString()).out()).isEqualTo(theirsHuman);
  }
}
