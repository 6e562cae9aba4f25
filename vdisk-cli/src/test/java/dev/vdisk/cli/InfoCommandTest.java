package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InfoCommandTest {
  @TempDir Path dir;
  private String full;

  /** A file with every byte written, so its disk size is its size whatever the file system. */
  @BeforeEach
  void writeFullFile() throws IOException {
    byte[] data = new byte[1 << 20];
    Arrays.fill(data, (byte) 0x5a);
    full = dir.resolve("full.img").toString();
    Files.write(Path.of(full), data);
  }

  @Test
  void humanOutputIsQemuImgs() {
    Vdisk.Result r = Vdisk.run("info", "-f", "raw", full);
    assertThat(r.exit()).isZero();
    assertThat(r.out()).isEqualTo("""
        image: %s
        file format: raw
        virtual size: 1 MiB (1048576 bytes)
        disk size: 1 MiB
        """.formatted(full));
    assertThat(r.err()).isEmpty();
  }

  @Test
  void jsonOutputIsQemuImgsPrettyJson() {
    Vdisk.Result r = Vdisk.run("info", "--output=json", full);
    assertThat(r.exit()).isZero();
    assertThat(r.out()).isEqualTo("""
        {
            "virtual-size": 1048576,
            "filename": "%s",
            "format": "raw",
            "actual-size": 1048576,
            "dirty-flag": false
        }
        """.formatted(full));
  }

  @Test
  void readOnlyOpenPrintsNoProbeWarning() {
    assertThat(Vdisk.run("info", full).err()).isEmpty();
    assertThat(Vdisk.run("info", "-U", full).exit()).isZero();
  }

  @Test
  void formatSpecificInformationIsDumpedLikeQemu() {
    Map<String, Object> data = new LinkedHashMap<>();
    data.put("compat", "1.1");
    data.put("lazy-refcounts", false);
    data.put("bitmaps", List.of(Map.of("name", "b0")));
    InfoCommand.Info info = new InfoCommand.Info(null, null, 1048576, "a.qcow2", null, "qcow2", 200704L,
        new InfoCommand.FormatSpecific("qcow2", data), null, null, null, false);
    assertThat(InfoCommand.human(info)).isEqualTo("""
        image: a.qcow2
        file format: qcow2
        virtual size: 1 MiB (1048576 bytes)
        disk size: 196 KiB
        Format specific information:
            compat: 1.1
            lazy refcounts: false
            bitmaps:
                [0]:
                    name: b0
        """);
    assertThat(Json.pretty(info)).isEqualTo("""
        {
            "virtual-size": 1048576,
            "filename": "a.qcow2",
            "format": "qcow2",
            "actual-size": 200704,
            "format-specific": {
                "type": "qcow2",
                "data": {
                    "compat": "1.1",
                    "lazy-refcounts": false,
                    "bitmaps": [
                        {
                            "name": "b0"
                        }
                    ]
                }
            },
            "dirty-flag": false
        }""");
  }

  @Test
  void missingFileIsOneLine() {
    String f = dir.resolve("nope.img").toString();
    Vdisk.Result r = Vdisk.run("info", f);
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk info: " + f + ": no such file (expected: an existing image file)");
    assertThat(Path.of(f)).doesNotExist();
  }

  @Test
  void directoryIsOneLine() {
    Vdisk.Result r = Vdisk.run("info", dir.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk info: " + dir + ": is a directory (expected: an image file)");
  }

  @Test
  void badOutputFormatIsOneLine() {
    Vdisk.Result r = Vdisk.run("info", "--output=xml", full);
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk info: --output: 'xml' (expected: human or json)");
  }
}
