package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.filter.DetectZeroesFilter;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.nbd.server.DiscardMode;
import org.junit.jupiter.api.Test;

class ExportSpecTest {
  @Test
  void parsesEveryKeyWithQemuDefaults() {
    ExportSpec s = ExportSpec.parse("name=disk,file=/x/a.img,format=raw,cache=none,read-only,discard=unmap,description=my ,,disk");
    assertThat(s).isEqualTo(new ExportSpec("disk", "/x/a.img", "raw", CacheMode.NONE, true, DiscardMode.UNMAP, "my ,disk",
        DetectZeroesFilter.Mode.OFF, null, false, 0, Aio.IO_URING));
    ExportSpec d = ExportSpec.parse("file=b.img");
    assertThat(d).isEqualTo(new ExportSpec("", "b.img", null, CacheMode.WRITEBACK, false, DiscardMode.IGNORE, ""));
    assertThat(ExportSpec.parse("file=c.img,read-only=off").readOnly()).isFalse();
    assertThat(d.detectZeroes()).isEqualTo(DetectZeroesFilter.Mode.OFF);
    assertThat(ExportSpec.parse("file=c.img,detect-zeroes=on").detectZeroes()).isEqualTo(DetectZeroesFilter.Mode.ON);
    assertThat(ExportSpec.parse("file=c.img,discard=unmap,detect-zeroes=unmap").detectZeroes()).isEqualTo(DetectZeroesFilter.Mode.UNMAP);
    assertThat(ExportSpec.parse("file=c.img,bitmap=b1").bitmap()).isEqualTo("b1");
    assertThat(ExportSpec.parse("file=c.img,read-only,encrypt.key-secret=sec0").keySecret()).isEqualTo("sec0");
  }

  @Test
  void aioTakesQemusSpellingsAndNativeNeedsADirectCache() {
    assertThat(ExportSpec.parse("file=a.img").aio()).isEqualTo(Aio.THREADS);
    assertThat(ExportSpec.parse("file=a.img,aio=threads").aio()).isEqualTo(Aio.THREADS);
    assertThat(ExportSpec.parse("file=a.img,aio=io_uring").aio()).isEqualTo(Aio.IO_URING);
    assertThat(ExportSpec.parse("file=a.img,cache=none,aio=native").aio()).isEqualTo(Aio.NATIVE);
    // an export bypassing the page cache has io_uring's request queue unless told otherwise
    assertThat(ExportSpec.parse("file=a.img,cache=none").aio()).isEqualTo(Aio.IO_URING);
    assertThat(ExportSpec.parse("file=a.img,cache=directsync").aio()).isEqualTo(Aio.IO_URING);
    assertThat(ExportSpec.parse("file=a.img,cache=writethrough").aio()).isEqualTo(Aio.THREADS);
    assertThat(ExportSpec.parse("file=a.img,cache=none,aio=threads").aio()).isEqualTo(Aio.THREADS);
    assertThatThrownBy(() -> ExportSpec.parse("file=a.img,aio=native"))
        .hasMessage("aio=native was specified, but it requires cache.direct=on, which was not specified.");
    assertThatThrownBy(() -> ExportSpec.parse("file=a.img,aio=posix")).hasMessage("aio: 'posix' (expected: threads, native or io_uring)");
  }

  @Test
  void onlyAnExportThroughThePageCacheWithoutWritethroughHasPageCacheWrites() {
    assertThat(ExportSpec.parse("file=a.img").pageCacheWrites()).isTrue();
    assertThat(ExportSpec.parse("file=a.img,cache=unsafe").pageCacheWrites()).isTrue();
    assertThat(ExportSpec.parse("file=a.img,cache=none").pageCacheWrites()).isFalse();
    assertThat(ExportSpec.parse("file=a.img,cache=writethrough").pageCacheWrites()).isFalse();
    assertThat(ExportSpec.parse("file=a.img,cache=directsync").pageCacheWrites()).isFalse();
  }

  @Test
  void aBareReadOnlyInsideAnEscapedValueIsText() {
    ExportSpec s = ExportSpec.parse("file=a.img,description=x,,read-only");
    assertThat(s.description()).isEqualTo("x,read-only");
    assertThat(s.readOnly()).isFalse();
  }

  @Test
  void badValuesNameTheKey() {
    assertThatThrownBy(() -> ExportSpec.parse("file=a,read-only=maybe")).hasMessage("--export: read-only=maybe (expected: on or off)");
    assertThatThrownBy(() -> ExportSpec.parse("file=a,cache=fast")).hasMessageContaining("cache mode: 'fast'");
    assertThatThrownBy(() -> ExportSpec.parse("file=a,oops")).hasMessage("--export: option: 'oops' (expected: key=value)");
  }
}
