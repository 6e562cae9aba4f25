package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.List;

/** What QEMU's tools say of an image's persistent bitmaps: qemu-img info's list, qemu-img check, qemu-nbd -B's runs. */
final class BitmapPeers {
  private static final ObjectMapper JSON = new ObjectMapper();

  private BitmapPeers() {}

  static void require() {
    for (String tool : List.of("qemu-img", "qemu-io", "qemu-nbd", "nbdinfo")) {
      PeerTools.require(tool);
    }
  }

  /** qemu-img info's {@code format-specific.data.bitmaps} (missing where the image has none). */
  static JsonNode bitmaps(Path dir, Path image) throws Exception {
    return JSON.readTree(PeerTools.check(dir, "qemu-img", "info", "--output=json", image.toString()))
        .path("format-specific").path("data").path("bitmaps");
  }

  /** qemu-img check's exit code; it must print no warning (a stale or leaking bitmap would make it warn). */
  static int check(Path dir, Path image) throws Exception {
    PeerTools.Result r = PeerTools.run(dir, "qemu-img", "check", image.toString());
    assertThat(r.err()).as("qemu-img check's warnings").isEmpty();
    return r.exit();
  }

  /** The runs of bitmap {@code name} as qemu-nbd -B exports it and nbdinfo --map prints it. */
  static String dirty(Path dir, Path image, String name) throws Exception {
    return PeerTools.check(dir, "nbdinfo", "--map=qemu:dirty-bitmap:" + name, "--", "[", "qemu-nbd", "-r", "-f", "qcow2",
        "-B", name, image.toString(), "]");
  }

  /** Same bitmaps in qemu-img info, both clean by qemu-img check, same runs for every bitmap not in use. */
  static void assertSame(Path dir, Path ours, Path theirs) throws Exception {
    JsonNode list = bitmaps(dir, ours);
    assertThat(list).as("qemu-img info's bitmaps").isEqualTo(bitmaps(dir, theirs));
    assertThat(check(dir, ours)).as("qemu-img check exit of vdisk's image").isEqualTo(check(dir, theirs)).isZero();
    for (JsonNode b : list) {
      if (!b.get("flags").toString().contains("in-use")) {
        String name = b.get("name").asText();
        assertThat(dirty(dir, ours, name)).as("dirty runs of " + name).isEqualTo(dirty(dir, theirs, name));
      }
    }
  }
}
