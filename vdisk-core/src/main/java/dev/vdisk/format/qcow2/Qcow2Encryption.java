package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.luks.LuksHeader;
import dev.vdisk.format.luks.SectorCipher;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Optional;

/**
 * The LUKS encryption of a qcow2 image (crypt_method 2): its LUKS header, read from the clusters the full disk
 * encryption header extension names, and the cipher its data clusters are read through. Without a key an image opens
 * for its facts only (qemu-img info's BDRV_O_NO_IO), and every read of its data is refused.
 */
final class Qcow2Encryption {
  private Qcow2Encryption() {}

  /**
   * The image's LUKS header, checked ({@link LuksHeader#parse}), or empty for an image without encryption. Reads
   * stay inside the extension's area, as QEMU's {@code qcow2_crypto_hdr_read_func} keeps them; past the end of the
   * file they read zeroes, as QEMU reads them.
   */
  static Optional<LuksHeader> header(HostReader image, HeaderExtensions ext) throws IOException {
    if (ext.cryptoHeader().isEmpty()) {
      return Optional.empty();
    }
    HeaderExtensions.CryptoHeader area = ext.cryptoHeader().get();
    if (area.length() < LuksHeader.LENGTH) {
      throw Qcow2Errors.invalid("full disk encryption header extension: length of the LUKS area", area.length(),
          "at least the LUKS header's " + LuksHeader.LENGTH + " bytes: Request for data outside of extension header");
    }
    ByteBuffer b = ByteBuffer.allocate(LuksHeader.LENGTH);
    image.readData(area.offset(), b);
    return Optional.of(LuksHeader.parse(b.flip()));
  }

  /**
   * The cipher the data clusters of an image encrypted as {@code luks} say are read through, in {@code context}: a
   * context that opens the image for its facts only gets one that refuses every read; any other open is refused, as
   * QEMU refuses it without {@code encrypt.key-secret}.
   */
  static SectorCipher cipher(LuksHeader luks, ImageContext context) throws IOException {
    if (!context.factsOnly()) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "encrypt.key-secret: absent (expected: a key: Parameter "
          + "'encrypt.key-secret' is required for cipher; vdisk reads no encrypted data yet, only qemu-img info's facts)");
    }
    return (offset, data) -> {
      throw new BlockDeviceException(BlockError.ENOTSUP, "encrypted data at host offset " + offset
          + ": not readable (the image was opened for its facts only, without a key)");
    };
  }
}
