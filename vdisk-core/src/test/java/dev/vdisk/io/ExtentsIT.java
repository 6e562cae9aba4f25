package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vdisk.block.CheckedDevice;
import dev.vdisk.block.Extent;
import dev.vdisk.block.WriteFlag;
import dev.vdisk.testkit.Peers;
import dev.vdisk.testkit.Qemu;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** FileDevice's allocation map of a raw file, compared with {@code qemu-img map --output=json -f raw}. */
class ExtentsIT {
  private static final Pattern OBJECT = Pattern.compile("\\{[^}]*}");
  private static final Pattern FIELD = Pattern.compile("\"(\\w+)\":\\s*([^,}\\s]+)");

  @TempDir Path dir;

  @Test
  void extentsOfAFileWrittenByQemuIoMatchQemuImgMap() throws Exception {
    Qemu.require();
    Path p = dir.resolve("sparse.raw");
    Qemu.img(dir, "create", "-f", "raw", p.toString(), "8M");
    Qemu.ioAs(dir, "raw", p.toString(), "write -P 0xaa 1M 64k", "write -P 0x55 5000k 12k", "write -P 0x11 7M 1M");
    for (CacheMode cache : List.of(CacheMode.WRITEBACK, CacheMode.NONE)) {
      assertThat(vdiskMap(p, cache)).as("cache=%s", cache).isEqualTo(qemuMap(p)).hasSizeGreaterThan(4);
    }
  }

  @Test
  void extentsAfterVdiskWritesDiscardsAndZeroesMatchQemuImgMap() throws Exception {
    Peers.require("qemu-img");
    Path p = dir.resolve("vdisk.raw");
    Qemu.img(dir, "create", "-f", "raw", p.toString(), "8M");
    try (CheckedDevice dev = new CheckedDevice(FileDevice.open(p, FileOptions.of(CacheMode.NONE, false)))) {
      ByteBuffer ones = ByteBuffer.allocate(3 << 20);
      while (ones.hasRemaining()) {
        ones.put((byte) 1);
      }
      dev.write(1 << 20, ones.flip(), Set.of());
      dev.discard(2 << 20, 256 << 10);
      dev.writeZeroes(3 << 20, 128 << 10, Set.of(WriteFlag.MAY_TRIM));
      dev.write(6 << 20, ByteBuffer.wrap(new byte[] {1}), Set.of()); // one byte: a whole data block
      dev.flush();
      // vdisk holds the write lock: qemu-img may look, but only with force-share.
      assertThat(vdiskMap(dev)).isEqualTo(qemuMap(p, "-U"));
    }
  }

  private static List<Extent> vdiskMap(Path p, CacheMode cache) throws IOException {
    try (CheckedDevice dev = new CheckedDevice(FileDevice.open(p, FileOptions.of(cache, true)))) {
      return vdiskMap(dev);
    }
  }

  /** The whole map, asking again where a call stops early and merging across calls as qemu-img does. */
  private static List<Extent> vdiskMap(CheckedDevice dev) throws IOException {
    List<Extent> out = new ArrayList<>();
    for (long pos = 0; pos < dev.size(); ) {
      for (Extent e : dev.extents(pos, dev.size() - pos)) {
        if (!out.isEmpty() && out.getLast().mergeableWith(e)) {
          out.set(out.size() - 1, out.getLast().merge(e));
        } else {
          out.add(e);
        }
        pos = e.end();
      }
    }
    return out;
  }

  private static List<Extent> qemuMap(Path p, String... extra) throws IOException, InterruptedException {
    List<String> args = new ArrayList<>(List.of("map", "--output=json", "-f", "raw"));
    args.addAll(List.of(extra));
    args.add(p.toString());
    String json = Qemu.img(p.getParent(), args.toArray(String[]::new));
    List<Extent> out = new ArrayList<>();
    Matcher obj = OBJECT.matcher(json);
    while (obj.find()) {
      Map<String, String> f = new HashMap<>();
      Matcher m = FIELD.matcher(obj.group());
      while (m.find()) {
        f.put(m.group(1), m.group(2));
      }
      out.add(new Extent(Long.parseLong(f.get("start")), Long.parseLong(f.get("length")),
          Boolean.parseBoolean(f.get("present")), Boolean.parseBoolean(f.get("zero")),
          Boolean.parseBoolean(f.get("data")),
          f.containsKey("offset") ? Long.parseLong(f.get("offset")) : Extent.NO_OFFSET));
    }
    assertThat(out).as(json).isNotEmpty();
    return out;
  }
}
