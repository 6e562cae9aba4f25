package dev.vdisk.nbd.protocol;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Handshake messages, byte for byte, and the option data a client may get wrong. */
class OptionCodecTest {
  private static byte[] bytes(ByteBuffer b) {
    byte[] a = new byte[b.remaining()];
    b.duplicate().get(a);
    return a;
  }

  private static ByteBuffer hex(String h) {
    return ByteBuffer.wrap(HexFormat.of().parseHex(h.replace(" ", "")));
  }

  @Test
  void greetingIsNbdmagicIhaveoptAndFlags() {
    assertThat(HexFormat.of().formatHex(bytes(OptionCodec.greeting()))).isEqualTo("4e42444d41474943" + "49484156454f5054" + "0003");
  }

  @Test
  void clientFlagsBeyondTheOfferedOnesEndTheConnection() throws Exception {
    assertThat(OptionCodec.decodeClientFlags(hex("00000003"))).isEqualTo(3);
    assertThatThrownBy(() -> OptionCodec.decodeClientFlags(hex("00000004")))
        .isInstanceOf(ProtocolException.class).hasMessage("client flags: 0x00000004 (expected: only bits 0 and 1)");
  }

  @Test
  void optionHeaderNeedsIhaveopt() throws Exception {
    OptionCodec.OptionHeader h = OptionCodec.decodeOptionHeader(hex("49484156454f5054 00000007 ffffffff"));
    assertThat(h.option()).isEqualTo(NBD_OPT_GO);
    assertThat(h.length()).as("unsigned").isEqualTo(0xffffffffL);
    assertThatThrownBy(() -> OptionCodec.decodeOptionHeader(hex("49484156454f5055 00000007 00000000")))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("option magic: 0x49484156454f5055");
  }

  @Test
  void repliesHaveTheReplyMagicOptionTypeAndLength() {
    assertThat(HexFormat.of().formatHex(bytes(OptionCodec.optionReply(NBD_OPT_LIST, NBD_REP_ACK, ByteBuffer.allocate(0)))))
        .isEqualTo("0003e889045565a9" + "00000003" + "00000001" + "00000000");
    assertThat(HexFormat.of().formatHex(bytes(OptionCodec.errorReply(NBD_OPT_GO, NBD_REP_ERR_UNKNOWN, "no"))))
        .isEqualTo("0003e889045565a9" + "00000007" + "80000006" + "00000002" + "6e6f");
    assertThat(OptionCodec.errorReply(1, NBD_REP_ERR_INVALID, "é".repeat(3000)).remaining()).as("cut to 4096 bytes on a character boundary")
        .isEqualTo(20 + 4096);
  }

  @Test
  void informationPayloads() {
    assertThat(HexFormat.of().formatHex(bytes(OptionCodec.infoExport(1L << 30, 0x0ded)))).isEqualTo("0000" + "0000000040000000" + "0ded");
    assertThat(HexFormat.of().formatHex(bytes(OptionCodec.infoBlockSize(1, 4096, 32 << 20))))
        .isEqualTo("0003" + "00000001" + "00001000" + "02000000");
    assertThat(HexFormat.of().formatHex(bytes(OptionCodec.infoString(NBD_INFO_NAME, "ab")))).isEqualTo("0001" + "6162");
    assertThat(HexFormat.of().formatHex(bytes(OptionCodec.serverPayload("ab", "d")))).isEqualTo("00000002" + "6162" + "64");
    assertThat(HexFormat.of().formatHex(bytes(OptionCodec.metaContextPayload(2, "x:y")))).isEqualTo("00000002" + "783a79");
  }

  @Test
  void exportNameReplyHas124ZeroesUnlessRefused() {
    ByteBuffer withZeroes = OptionCodec.exportNameReply(512, 3, false);
    assertThat(withZeroes.remaining()).isEqualTo(134);
    assertThat(withZeroes.getLong(0)).isEqualTo(512);
    assertThat(withZeroes.getShort(8)).isEqualTo((short) 3);
    assertThat(withZeroes.slice(10, 124)).isEqualTo(ByteBuffer.allocate(124));
    assertThat(OptionCodec.exportNameReply(512, 3, true).remaining()).isEqualTo(10);
  }

  @Test
  void infoRequestIsNameThenRequestedTypes() throws Exception {
    OptionCodec.InfoRequest r = OptionCodec.decodeInfoRequest(hex("00000002 6162 0002 0001 0003"));
    assertThat(r.exportName()).isEqualTo("ab");
    assertThat(r.infoTypes()).containsExactly(NBD_INFO_NAME, NBD_INFO_BLOCK_SIZE);
    assertThat(OptionCodec.decodeInfoRequest(hex("00000000 0000")).exportName()).isEmpty();
  }

  @Test
  void badInfoRequestsAreInvalidNotFatal() {
    for (String bad : List.of("", "0000", "00000005 6162 0000", "00000002 6162", "00000002 6162 0002 0001", "00000002 6162 0000 00",
        "00000002 ff fe 0000", "00000002 6100 0000")) {
      assertThatThrownBy(() -> OptionCodec.decodeInfoRequest(hex(bad))).as(bad).isInstanceOf(OptionDataException.class);
    }
    assertThatThrownBy(() -> OptionCodec.decodeInfoRequest(ByteBuffer.allocate(4 + 5000 + 2).putInt(5000).position(0)))
        .isInstanceOf(OptionDataException.class).hasMessage("export name: 5000 bytes (expected: at most 4096)");
  }

  @Test
  void metaContextRequestIsNameThenQueries() throws Exception {
    OptionCodec.MetaContextRequest r = OptionCodec.decodeMetaContextRequest(hex("00000001 78 00000002 00000005 626173653a 00000002 713a"));
    assertThat(r.exportName()).isEqualTo("x");
    assertThat(r.queries()).containsExactly("base:", "q:");
    assertThat(OptionCodec.decodeMetaContextRequest(hex("00000000 00000000")).queries()).isEmpty();
    for (String bad : List.of("00000000", "00000000 00000001", "00000000 ffffffff", "00000000 00000001 00000009 626173653a",
        "00000000 00000000 00")) {
      assertThatThrownBy(() -> OptionCodec.decodeMetaContextRequest(hex(bad))).as(bad).isInstanceOf(OptionDataException.class);
    }
  }
}
