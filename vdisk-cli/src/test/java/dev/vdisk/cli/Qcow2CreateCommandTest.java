package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code vdisk create -f qcow2} and {@code vdisk measure} on the command line: what they print and what they refuse. */
class Qcow2CreateCommandTest {
  @TempDir Path dir;

  private String file(String name) {
    return dir.resolve(name).toString();
  }

  @Test
  void printsQemuImgsFormattingLine() {
    String f = file("a.qcow2");
    Vdisk.Result r = Vdisk.run("create", "-f", "qcow2", "-o", "cluster_size=4k,preallocation=metadata,lazy_refcounts=on", f, "1G");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).isEqualTo("Formatting '" + f + "', fmt=qcow2 cluster_size=4096 extended_l2=off preallocation=metadata "
        + "compression_type=zlib size=1073741824 lazy_refcounts=on refcount_bits=16\n");
  }

  @Test
  void takesTheSizeFromTheBackingFile() throws IOException {
    assertThat(Vdisk.run("create", "-q", file("base.raw"), "3M").exit()).isZero();
    String f = file("top.qcow2");
    Vdisk.Result r = Vdisk.run("create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", f);
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).isEqualTo("Formatting '" + f + "', fmt=qcow2 cluster_size=65536 extended_l2=off compression_type=zlib "
        + "size=3145728 backing_file=base.raw backing_fmt=raw lazy_refcounts=off refcount_bits=16\n");
    Vdisk.Result info = Vdisk.run("info", "--output=json", f);
    assertThat(info.exit()).as(info.err()).isZero();
    assertThat(info.out()).contains("\"backing-filename\": \"base.raw\"").contains("\"virtual-size\": 3145728");
  }

  @Test
  void optionHelpListsTheQcow2Options() {
    Vdisk.Result r = Vdisk.run("create", "-f", "qcow2", "-o", "help", file("h.qcow2"));
    assertThat(r.exit()).isZero();
    assertThat(r.out()).startsWith("Supported options:\n").contains("  cluster_size=<size>    - qcow2 cluster size\n",
        "  data_file_raw=<bool (on/off)> - The external data file must stay valid as a raw image\n");
    assertThat(dir.resolve("h.qcow2")).doesNotExist();
  }

  /** Each bad command line: exit 1, one error line naming the option, the value and what was expected, and no file. */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "-o compat=0.9|compat: '0.9' (expected: 0.10, v2, 1.1 or v3)",
      "-o cluster_size=1000|cluster_size: '1000' (expected: a power of two from 512 to 2M)",
      "-o cluster_size=4M|cluster_size: '4M' (expected: a power of two from 512 to 2M)",
      "-o cluster_size=64x|cluster_size: '64x' (expected: a power of two from 512 to 2M, like 65536 or 64k)",
      "-o refcount_bits=3|refcount_bits: '3' (expected: a power of two from 1 to 64)",
      "-o refcount_bits=128|refcount_bits: '128' (expected: a power of two from 1 to 64)",
      "-o compat=0.10,refcount_bits=8|refcount_bits: '8' (expected: 16 with compat=0.10, other widths need compat=1.1)",
      "-o compat=v2,lazy_refcounts=on|lazy_refcounts: 'on' (expected: off with compat=v2, lazy refcounts need compat=1.1)",
      "-o lazy_refcounts=maybe|lazy_refcounts: 'maybe' (expected: on or off)",
      "-o extended_l2=on,cluster_size=8k|cluster_size: '8k' (expected: at least 16k with extended_l2=on)",
      "-o compat=0.10,extended_l2=on|extended_l2: 'on' (expected: off with compat=0.10, extended L2 entries need compat=1.1)",
      "-o compression_type=lz4|compression_type: 'lz4' (expected: zlib or zstd)",
      "-o compat=0.10,compression_type=zstd|compression_type: 'zstd' (expected: zlib with compat=0.10, zstd needs compat=1.1)",
      "-o preallocation=foo|preallocation: 'foo' (expected for qcow2: off, metadata, falloc, full)",
      "-o compat=0.10,data_file=d.raw|data_file: 'd.raw' (expected: no data_file with compat=0.10, external data files need compat=1.1)",
      "-o data_file_raw=on|data_file_raw: 'on' (expected: off without a data_file)",
      "-o backing_fmt=raw|backing_fmt: 'raw' (expected: no backing_fmt without a backing_file (-b))",
      "-o encrypt.format=luks|encrypt.format: 'luks' (expected: no encryption; vdisk reads and writes encrypted qcow2 images but does not create them yet)",
      "-o cluster_size=512 -u -b x -F raw|size: 1099511627776 (expected: at most 137438953472 bytes at cluster_size 512; try a larger cluster_size)",
      "-u -b base.qcow2|backing file 'base.qcow2': no format given (expected: -F FMT or -o backing_fmt=FMT, as qemu-img 7.2 requires)",
      "-b missing.raw -F raw|backing file 'missing.raw': no such file MISSING (expected: an existing image, or -u to skip the check)",
      "-b b.raw -F raw -o preallocation=metadata|preallocation: 'metadata' (expected: off with a backing file, unless extended_l2=on)",
  })
  void refusesBadInput(String args, String message) throws IOException {
    Files.write(dir.resolve("b.raw"), new byte[4096]);
    String f = file("bad.qcow2");
    String[] argv = ("create -f qcow2 " + args + " " + f + " 1T").split(" ");
    Vdisk.Result r = Vdisk.run(argv);
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).containsExactly("vdisk create: " + message.replace("MISSING", dir.resolve("missing.raw").toString()));
    assertThat(Path.of(f)).doesNotExist();
    assertThat(Path.of("d.raw")).as("the data file, relative to the current directory").doesNotExist();
  }

  @Test
  void replacesAnExistingImageAndDataFileAsQemuImgDoes() throws IOException {
    Path existing = dir.resolve("e.qcow2");
    Files.writeString(existing, "old");
    Path data = dir.resolve("d.raw");
    Files.writeString(data, "old");
    Vdisk.Result r = Vdisk.run("create", "-q", "-f", "qcow2", "-o", "data_file=" + data, existing.toString(), "1M");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(Files.size(data)).isEqualTo(1 << 20);
    Vdisk.Result info = Vdisk.run("info", existing.toString());
    assertThat(info.out()).contains("virtual size: 1 MiB");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "--size 1G PATH|--size 1G and PATH: both given (expected: --size N or a FILE, not both)",
      "-O qcow2|nothing to measure (expected: --size N or a FILE)",
      "-O vmdk --size 1G|format: 'vmdk' (expected one of: raw, qcow2)",
      "-O qcow2 -o cluster_size=3k --size 1G|cluster_size: '3k' (expected: a power of two from 512 to 2M)",
      "-O qcow2 -o bogus=1 --size 1G|option 'bogus': not supported by format 'qcow2' (expected: EXPECTED)",
      "-l snap PATH|Failed to load snapshot: Block format 'raw' used by device '' does not support temporarily loading internal snapshots",
      "-l snap --size 1G|--image-opts, -f, and -l require a filename argument.",
  })
  void measureRefusesBadInput(String args, String message) throws IOException {
    String f = file("m.raw");
    Files.write(Path.of(f), new byte[512]);
    Vdisk.Result r = Vdisk.run(("measure " + args.replace("PATH", f)).split(" "));
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errLines()).hasSize(1);
    if (!message.contains("EXPECTED")) {
      assertThat(r.errLines()[0]).isEqualTo("vdisk measure: " + message.replace("PATH", f));
    } else {
      assertThat(r.errLines()[0]).startsWith("vdisk measure: option 'bogus': not supported by format 'qcow2' (expected: ");
    }
  }
}
