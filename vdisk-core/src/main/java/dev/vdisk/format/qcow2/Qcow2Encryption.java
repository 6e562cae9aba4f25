package dev.vdisk.format.qcow2;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.luks.KeySlotUnlock;
import dev.vdisk.format.luks.LuksHeader;
import dev.vdisk.format.luks.SectorCipher;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Optional;

/**
 * The LUKS encryption of a qcow2 image (crypt_method 2): its LUKS header, read from the clusters the full disk
 * encryption header extension names, and the cipher its data clusters are read through. Without a key an image opens
 * for its facts only (qemu-img info's BDRV_O_NO_IO), and every read of its data is refused; with one its data is
 * decrypted where read and encrypted where written at each sector's host offset (QEMU's {@code crypt_physical_offset} for LUKS).
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
   * The cipher the data clusters of an image encrypted as {@code luks} are read through, in {@code context}: a context
   * that opens the image for its facts only gets one that refuses every read (no key is needed, as qemu-img info needs
   * none); otherwise the context's password unlocks a key slot ({@link KeySlotUnlock}), and the cipher decrypts what
   * is read and encrypts what is written ({@link EncryptingDevice}).
   *
   * @throws BlockDeviceException without a password (QEMU's message), or when no key slot takes
   *     the password (QEMU's "Invalid password, cannot unlock any keyslot")
   */
  static SectorCipher cipher(LuksHeader luks, HostReader image, HeaderExtensions.CryptoHeader area,
      ImageContext context) throws IOException {
    if (context.factsOnly()) {
      return new SectorCipher() {
        @Override
        public void decrypt(long offset, ByteBuffer data) throws BlockDeviceException {
          throw refused(offset);
        }

        @Override
        public void encrypt(long offset, ByteBuffer data) throws BlockDeviceException {
          throw refused(offset);
        }
      };
    }
    if (context.encryptionKey().isEmpty()) {
      throw new BlockDeviceException(BlockError.EINVAL, "Parameter 'encrypt.key-secret' is required for cipher "
          + "(expected: --object secret,id=ID,data=PASSWORD and --image-opts driver=qcow2,file.filename=FILE,"
          + "encrypt.key-secret=ID)");
    }
    return KeySlotUnlock.unlock(luks, context.encryptionKey().get(), (offset, length) -> {
      // QEMU's qcow2_crypto_hdr_read_func: reads stay inside the extension's area.
      if (offset + length > area.length()) {
        throw Qcow2Errors.invalid("LUKS key material", "offset " + offset + " length " + length,
            "inside the LUKS area of " + area.length() + " bytes: Request for data outside of extension header");
      }
      ByteBuffer b = ByteBuffer.allocate(length);
      image.readData(area.offset() + offset, b);
      return b.array();
    });
  }

  private static BlockDeviceException refused(long offset) {
    return new BlockDeviceException(BlockError.ENOTSUP, "encrypted data at host offset " + offset
        + ": not readable (the image was opened for its facts only, without a key)");
  }
}
