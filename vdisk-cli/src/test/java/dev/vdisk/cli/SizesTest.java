package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SizesTest {

  /** Each pair is what qemu-img 7.2 create printed as size=N for the argument. */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "0|0", "512|512", "1000|1000", "00012|12", "+12|12", "' 12'|12", "1b|1", "1B|1", "2k|2048", "2K|2048",
      "4M|4194304", "4m|4194304", "1G|1073741824", "1t|1099511627776", "1p|1125899906842624",
      "1e|1152921504606846976", "1E|1152921504606846976", "1.5k|1536", "1.5K|1536", "1.k|1024", "1.1k|1126",
      "4.2G|4509715661", "7.99E|9211842821808707328", "0.0005k|1", "0.0004k|0", "1.0|1", "0x10|16", "0X10|16",
      "9223372036854775807|9223372036854775807"})
  void parsesLikeQemuImg(String text, long expected) {
    assertThat(Sizes.parse("size", text)).isEqualTo(expected);
  }

  /** Each of these made qemu-img 7.2 create refuse the size. */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "-1|is negative", "' -0'|is negative", "1Q|(expected: bytes like 4096", "1kB|(expected: bytes like",
      "1e3|(expected: bytes like", "1.5e3|has an exponent", ".5k|(expected: bytes like", "0.5|fraction of a byte",
      "1.5b|fraction of a byte", "1.5B|fraction of a byte", "'1 k'|(expected: bytes like", "'1k '|(expected: bytes like",
      "0x|(expected: bytes like", "0xg|(expected: bytes like", "0x1.5k|(expected: bytes like", "0x1k|suffix on a hex",
      "8E|too large", "18446744073709551615|too large", "100000E|too large", "''|(expected: bytes like", "k|(expected: bytes like"})
  void refusesWhatQemuImgRefuses(String text, String why) {
    assertThatThrownBy(() -> Sizes.parse("size", text))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("size: '" + text + "'")
        .hasMessageContaining(why)
        .hasMessageContaining("(expected: ");
  }

  @Property
  void plainNumbersParseToThemselves(@ForAll @LongRange(min = 0, max = Long.MAX_VALUE) long n) {
    assertThat(Sizes.parse("size", Long.toString(n))).isEqualTo(n);
  }

  @Property
  void kibibytesScale(@ForAll @LongRange(min = 0, max = Long.MAX_VALUE >> 10) long n) {
    assertThat(Sizes.parse("size", n + "k")).isEqualTo(n << 10);
  }

  /** Each pair is what qemu-img 7.2 info printed for the virtual size. */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "0|0 B", "1|1 B", "999|999 B", "1000|0.977 KiB", "1024|1 KiB", "1536|1.5 KiB", "5120|5 KiB", "197120|192 KiB",
      "200704|196 KiB", "1023488|1e+03 KiB", "1048576|1 MiB", "4194304|4 MiB", "1610612736|1.5 GiB",
      "1073741824|1 GiB", "9223372036854775807|8 EiB"})
  void printsLikeQemuImg(long bytes, String expected) {
    assertThat(Sizes.human(bytes)).isEqualTo(expected);
  }

  /** qemu-io's cvtstr, as seen in its reports. */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "0|0 bytes", "1|1 bytes", "100|100 bytes", "512|512 bytes", "1.5|1.500000 bytes", "1024|1 KiB", "65536|64 KiB",
      "4194304|4 MiB", "1073741824|1 GiB", "45638771|43.525 MiB", "175955.2|171.831 KiB"})
  void printsAmountsLikeQemuIo(double value, String expected) {
    assertThat(Sizes.ioAmount(value)).isEqualTo(expected);
  }
}
