package dev.vdisk.nbd.protocol;

import static dev.vdisk.nbd.protocol.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** Transmission messages, byte for byte. */
class TransmissionCodecTest {
  private static String hex(ByteBuffer b) {
    byte[] a = new byte[b.flip().remaining()];
    b.get(a);
    return HexFormat.of().formatHex(a);
  }

  @Test
  void requestFieldsAreUnsigned() throws Exception {
    ByteBuffer b = ByteBuffer.wrap(HexFormat.of().parseHex("25609513" + "0005" + "0006" + "0102030405060708" + "fffffffffffff000" + "ffffffff"));
    Request r = TransmissionCodec.decodeRequest(b);
    assertThat(r.flags()).isEqualTo(NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_DF);
    assertThat(r.type()).isEqualTo(NBD_CMD_WRITE_ZEROES);
    assertThat(r.cookie()).isEqualTo(0x0102030405060708L);
    assertThat(r.offset()).as("2^64 - 4096 is negative as a long, which every range check refuses").isEqualTo(-4096);
    assertThat(r.length()).isEqualTo(0xffffffffL);
    assertThat(r.has(NBD_CMD_FLAG_DF)).isTrue();
    assertThat(r.has(NBD_CMD_FLAG_NO_HOLE)).isFalse();

    ByteBuffer again = ByteBuffer.allocate(REQUEST_SIZE);
    TransmissionCodec.encodeRequest(again, r);
    assertThat(again.flip()).isEqualTo(b.flip());
  }

  @Test
  void requestWithoutTheMagicIsFatal() {
    ByteBuffer b = ByteBuffer.allocate(REQUEST_SIZE).putInt(0x67446698).position(0);
    assertThatThrownBy(() -> TransmissionCodec.decodeRequest(b)).isInstanceOf(ProtocolException.class)
        .hasMessage("request magic: 0x67446698 (expected: 0x25609513 NBD_REQUEST_MAGIC)");
  }

  @Test
  void simpleReply() {
    ByteBuffer b = ByteBuffer.allocate(SIMPLE_REPLY_SIZE);
    TransmissionCodec.simpleReply(b, NBD_EPERM, 9);
    assertThat(hex(b)).isEqualTo("67446698" + "00000001" + "0000000000000009");
  }

  @Test
  void readChunks() {
    ByteBuffer b = ByteBuffer.allocate(TransmissionCodec.OFFSET_DATA_PREFIX + TransmissionCodec.OFFSET_HOLE_CHUNK + CHUNK_HEADER_SIZE);
    TransmissionCodec.offsetDataPrefix(b, false, 7, 4096, 512);
    TransmissionCodec.offsetHole(b, false, 7, 4608, 1024);
    TransmissionCodec.done(b, 7);
    assertThat(hex(b)).isEqualTo(
        "668e33ef" + "0000" + "0001" + "0000000000000007" + "00000208" + "0000000000001000"
            + "668e33ef" + "0000" + "0002" + "0000000000000007" + "0000000c" + "0000000000001200" + "00000400"
            + "668e33ef" + "0001" + "0000" + "0000000000000007" + "00000000");
  }

  @Test
  void blockStatusChunk() {
    ByteBuffer b = ByteBuffer.allocate(TransmissionCodec.blockStatusSize(2));
    TransmissionCodec.blockStatusPrefix(b, true, 3, 1, 2);
    TransmissionCodec.blockDescriptor(b, 4096, NBD_STATE_HOLE | NBD_STATE_ZERO);
    TransmissionCodec.blockDescriptor(b, -1, 0); // 2^32 - 1 bytes: lengths are unsigned
    assertThat(hex(b)).isEqualTo("668e33ef" + "0001" + "0005" + "0000000000000003" + "00000014" + "00000001"
        + "00001000" + "00000003" + "ffffffff" + "00000000");
  }

  @Test
  void errorChunkCarriesTheMessage() {
    byte[] m = TransmissionCodec.errorMessage("bad");
    ByteBuffer b = ByteBuffer.allocate(TransmissionCodec.ERROR_CHUNK_FIXED + m.length);
    TransmissionCodec.errorChunk(b, 5, NBD_EINVAL, m);
    assertThat(hex(b)).isEqualTo("668e33ef" + "0001" + "8001" + "0000000000000005" + "00000009" + "00000016" + "0003" + "626164");
    assertThat(TransmissionCodec.errorMessage("x".repeat(5000))).hasSize(TransmissionCodec.MAX_ERROR_MESSAGE);
  }
}
