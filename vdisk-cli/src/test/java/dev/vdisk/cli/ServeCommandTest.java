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
    fails("vdisk serve: -f/-t/-r/-x/-D/-B/--discard/--detect-zeroes: given without FILE (expected: FILE, or the same settings inside --export)",
        "-r", "--export", "name=a,file=" + img);
    fails("vdisk serve: --export: unknown key 'fmt' (expected: one of name, file, format, cache, read-only, discard, detect-zeroes, description, bitmap)",
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
}
