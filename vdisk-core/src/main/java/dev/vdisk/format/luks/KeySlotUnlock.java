package dev.vdisk.format.luks;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.IOException;
import java.security.MessageDigest;

/**
 * Finds the master key of a LUKS volume from a password, as QEMU's {@code qcrypto_block_luks_find_key} does: each
 * active slot in order derives a key from the password (PBKDF2 with the slot's salt and iterations), decrypts the
 * slot's key material with it (sector by sector from sector 0), merges the stripes ({@link AfSplitter}) into a
 * candidate master key, and keeps it if PBKDF2 of the candidate with the header's salt and iterations gives the
 * header's digest.
 *
 * <p>An image is untrusted: its iteration counts (up to 2^32 - 1 per slot in eight slots, plus the master key's per
 * try) would hold a command for hours, where QEMU just spins. vdisk bounds the PBKDF2 rounds one unlock may spend at
 * {@link #MAX_ITERATIONS} in all, and refuses an unlock that would spend more before it starts, in one line. The bound
 * admits three times what an image qemu-img makes with its default {@code iter-time=2000} needs on the project's
 * machine (qemu-img timed 4.4 M SHA-256 rounds a second there: about 10 M rounds for the slot and the master key
 * digest), and costs at most about 20 s of the JDK's HMAC-SHA256 (1.6-2.5 M rounds a second at load 10) or 100 s of
 * HMAC-SHA512 (0.3-0.4 M).
 */
public final class KeySlotUnlock {
  /** PBKDF2 rounds one unlock may spend in all: the active slots' and a master key digest per active slot. */
  public static final long MAX_ITERATIONS = 1L << 25;

  /** Reads the LUKS area: the header and the slots' key material. */
  public interface Area {
    /** The {@code length} bytes at {@code offset} from the LUKS header's first byte. */
    byte[] read(long offset, int length) throws IOException;
  }

  private KeySlotUnlock() {}

  /**
   * The data cipher of the volume {@code header} describes, keyed with the master key {@code password} unlocks.
   *
   * @param password the secret's bytes; like QEMU's C string, they end at the first NUL
   * @throws BlockDeviceException EPERM with QEMU's message "Invalid password, cannot unlock any keyslot" when no
   *     active slot takes the password; ENOTSUP for a cipher, mode or hash that is not built, or an unlock that would
   *     spend more than {@link #MAX_ITERATIONS} rounds
   */
  public static SectorCipher unlock(LuksHeader header, byte[] password, Area area) throws IOException {
    LuksHash hash = LuksHash.of(header.hashAlg());
    int keyBytes = header.keyBytes();
    // Refused before any PBKDF2 round: a cipher or IV hash that is not built, or too many rounds.
    LuksCipher.of(header, new byte[keyBytes]);
    long rounds = 0;
    for (LuksHeader.KeySlot slot : header.slots()) {
      if (slot.active()) {
        rounds += slot.iterations() + header.masterKeyIterations();
      }
    }
    if (rounds > MAX_ITERATIONS) {
      throw new BlockDeviceException(BlockError.ENOTSUP, "LUKS header: PBKDF2 iterations of the active key slots and "
          + "the master key digest: " + rounds + " in all (expected: at most " + MAX_ITERATIONS
          + ", vdisk's bound against headers that would hold it for hours)");
    }
    byte[] secret = untilNul(password);
    for (LuksHeader.KeySlot slot : header.slots()) {
      if (!slot.active()) {
        continue;
      }
      byte[] slotKey = Pbkdf2.derive(hash, secret, slot.salt(), slot.iterations(), keyBytes);
      byte[] material = area.read(slot.keyOffsetSector() * LuksHeader.SECTOR_SIZE, keyBytes * (int) slot.stripes());
      LuksCipher.of(header, slotKey).decrypt(material);
      byte[] candidate = AfSplitter.merge(hash, material, keyBytes, (int) slot.stripes());
      byte[] digest = Pbkdf2.derive(hash, candidate, header.masterKeySalt(), header.masterKeyIterations(),
          LuksHeader.DIGEST_LEN);
      if (MessageDigest.isEqual(digest, header.masterKeyDigest())) {
        return LuksCipher.of(header, candidate);
      }
    }
    throw new BlockDeviceException(BlockError.EPERM, "Invalid password, cannot unlock any keyslot");
  }

  private static byte[] untilNul(byte[] password) {
    for (int i = 0; i < password.length; i++) {
      if (password[i] == 0) {
        return java.util.Arrays.copyOf(password, i);
      }
    }
    return password;
  }
}
