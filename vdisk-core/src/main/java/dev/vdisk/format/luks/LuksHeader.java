package dev.vdisk.format.luks;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A LUKS version 1 header (the cryptsetup on-disk format 1.2.1 that QEMU's {@code crypto/block-luks.c} reads and
 * writes; in a qcow2 image it lies where the full disk encryption header extension points), parsed from its 592
 * big-endian bytes and held to every rule QEMU 7.2's {@code qcrypto_block_luks_check_header} and
 * {@code qcrypto_block_luks_parse_header} hold it to, in their order: the magic and version, NUL-terminated names, the
 * payload after the key slot area, non-zero iteration counts, 4,000 stripes in every slot, each slot's key material
 * after the 4 KiB header area, before the payload and apart from the others, then the names: cipher and key size,
 * mode, IV generator and its hash, the PBKDF2 hash. An image is untrusted input: a header that passes bounds
 * everything derived from it (a slot's key material is at most 64 × 4,000 bytes).
 *
 * @param cipherName the cipher family: aes, cast5, serpent or twofish
 * @param cipherMode ecb, cbc, xts or ctr
 * @param ivgenAlg plain, plain64 or essiv
 * @param ivgenHashAlg the hash of an essiv IV generator (present only for essiv, as QEMU reports it)
 * @param hashAlg the hash of PBKDF2 and of the anti-forensic splitter
 * @param payloadOffsetSector where the encrypted payload starts, in 512-byte sectors (unused inside qcow2)
 * @param keyBytes the master key's length: the cipher's key, twice it for xts
 * @param masterKeyDigest 20 bytes of PBKDF2 over the master key, which a candidate key must reproduce
 * @param masterKeySalt 32 bytes of salt for that digest
 * @param masterKeyIterations that PBKDF2's iteration count
 * @param uuid the volume's UUID as its text
 * @param slots the eight key slots in order
 */
public record LuksHeader(String cipherName, String cipherMode, String ivgenAlg, Optional<String> ivgenHashAlg,
    String hashAlg, long payloadOffsetSector, int keyBytes, byte[] masterKeyDigest, byte[] masterKeySalt,
    long masterKeyIterations, String uuid, List<KeySlot> slots) {

  /** Bytes of the header proper. */
  public static final int LENGTH = 592;
  /** Bytes of one sector: key material offsets count them, and data is encrypted sector by sector. */
  public static final int SECTOR_SIZE = 512;
  /** The anti-forensic stripes of every key slot, the only count QEMU accepts. */
  public static final int STRIPES = 4000;
  /** The key slots of a header. */
  public static final int NUM_KEY_SLOTS = 8;
  /** Where key material may start: the header area is 4 KiB (8 sectors). */
  static final int KEY_SLOT_OFFSET = 4096;
  static final int DIGEST_LEN = 20;
  static final int SALT_LEN = 32;
  private static final int KEY_SLOT_ENABLED = 0x00AC71F3;
  private static final int KEY_SLOT_DISABLED = 0x0000DEAD;
  private static final byte[] MAGIC = {'L', 'U', 'K', 'S', (byte) 0xBA, (byte) 0xBE};
  private static final List<String> MODES = List.of("ecb", "cbc", "xts", "ctr");
  private static final List<String> IVGENS = List.of("plain", "plain64", "essiv");
  /** QEMU's hash algorithms and their digest lengths. */
  private static final Map<String, Integer> HASHES = Map.of("md5", 16, "sha1", 20, "sha224", 28, "sha256", 32,
      "sha384", 48, "sha512", 64, "ripemd160", 20);

  /**
   * One key slot.
   *
   * @param active holds a copy of the master key
   * @param iterations PBKDF2 iterations from the password to the slot's key
   * @param salt 32 bytes of salt for that PBKDF2
   * @param keyOffsetSector where the slot's key material starts, in sectors from the header
   * @param stripes anti-forensic stripes: always {@link #STRIPES}
   */
  public record KeySlot(boolean active, long iterations, byte[] salt, long keyOffsetSector, long stripes) {}

  /**
   * Parses and checks the header in {@code b}'s first {@link #LENGTH} bytes (from its position).
   *
   * @throws BlockDeviceException EINVAL for a header no valid volume has, ENOTSUP for a cipher, mode, IV generator or
   *     hash QEMU does not know
   */
  public static LuksHeader parse(ByteBuffer b) throws BlockDeviceException {
    int p = b.position();
    byte[] magic = new byte[MAGIC.length];
    b.get(p, magic);
    if (!java.util.Arrays.equals(magic, MAGIC)) {
      throw invalid("magic", hexBytes(magic), "4c554b53babe: Volume is not in LUKS format");
    }
    int version = b.getShort(p + 6) & 0xffff;
    if (version != 1) {
      throw unsupported("version", version, "1: LUKS version " + version + " is not supported");
    }
    String cipherName = name(b, p + 8, "cipher name");
    String cipherModeSpec = name(b, p + 40, "cipher mode");
    String hashSpec = name(b, p + 72, "hash spec");
    long payloadOffset = u32(b, p + 104);
    int keyBytesField = b.getInt(p + 108);
    byte[] digest = bytes(b, p + 112, DIGEST_LEN);
    byte[] mkSalt = bytes(b, p + 132, SALT_LEN);
    long mkIterations = u32(b, p + 164);
    String uuid = new String(bytes(b, p + 168, 40), StandardCharsets.UTF_8);
    int nul = uuid.indexOf('\0');
    uuid = nul < 0 ? uuid : uuid.substring(0, nul);

    long headerSectors = KEY_SLOT_OFFSET / SECTOR_SIZE;
    if (payloadOffset < headerSectors) {
      throw invalid("payload offset", payloadOffset + " sectors",
          "at least " + headerSectors + ": LUKS payload is overlapping with the header");
    }
    if (mkIterations == 0) {
      throw invalid("master key iterations", 0, "at least 1: LUKS key iteration count is zero");
    }
    long keyBytes = keyBytesField & 0xffffffffL;
    // Rounded up to whole sectors, then to the header area's 8 sectors, as cryptsetup lays slots out.
    long materialSectors = ceil(ceil(keyBytes * STRIPES, SECTOR_SIZE), headerSectors) * headerSectors;
    List<KeySlot> slots = new ArrayList<>();
    for (int i = 0; i < NUM_KEY_SLOTS; i++) {
      int s = p + 208 + 48 * i;
      long state = u32(b, s);
      long iterations = u32(b, s + 4);
      byte[] salt = bytes(b, s + 8, SALT_LEN);
      long start = u32(b, s + 40);
      long stripes = u32(b, s + 44);
      if (stripes != STRIPES) {
        throw invalid("key slot " + i + ": stripes", stripes, STRIPES + ": Keyslot " + i + " is corrupted");
      }
      if (state != KEY_SLOT_ENABLED && state != KEY_SLOT_DISABLED) {
        throw invalid("key slot " + i + ": state", "0x" + Long.toHexString(state),
            "0x00ac71f3 (active) or 0x0000dead (disabled): Keyslot " + i + " state (active/disable) is corrupted");
      }
      boolean active = state == KEY_SLOT_ENABLED;
      if (active && iterations == 0) {
        throw invalid("key slot " + i + ": iterations", 0, "at least 1: Keyslot " + i + " iteration count is zero");
      }
      if (start < headerSectors) {
        throw invalid("key slot " + i + ": key offset", start + " sectors",
            "at least " + headerSectors + ": Keyslot " + i + " is overlapping with the LUKS header");
      }
      if (start + materialSectors > payloadOffset) {
        throw invalid("key slot " + i + ": key material", "sectors " + start + " to " + (start + materialSectors),
            "before the payload at sector " + payloadOffset + ": Keyslot " + i
                + " is overlapping with the encrypted payload");
      }
      for (KeySlot other : slots) {
        if (start < other.keyOffsetSector() + materialSectors && other.keyOffsetSector() < start + materialSectors) {
          throw invalid("key slot " + i + ": key offset", start + " sectors", "apart from the other slots' key "
              + "material: Keyslots " + slots.indexOf(other) + " and " + i + " are overlapping in the header");
        }
      }
      slots.add(new KeySlot(active, iterations, salt, start, stripes));
    }

    int dash = cipherModeSpec.indexOf('-');
    if (dash < 0) {
      throw invalid("cipher mode", "'" + cipherModeSpec + "'", "<mode>-<ivgen>[:<hash>]: Unexpected cipher mode "
          + "string format");
    }
    String mode = cipherModeSpec.substring(0, dash);
    String ivgen = cipherModeSpec.substring(dash + 1);
    Optional<String> ivHash = Optional.empty();
    int colon = ivgen.indexOf(':');
    if (colon >= 0) {
      ivHash = Optional.of(hash(ivgen.substring(colon + 1), "IV generator hash"));
      ivgen = ivgen.substring(0, colon);
    }
    if (!MODES.contains(mode)) {
      throw unsupported("cipher mode", "'" + mode + "'", "one of " + String.join(", ", MODES));
    }
    long cipherKeyBytes = mode.equals("xts") ? keyBytes / 2 : keyBytes;
    if (!keySizes(cipherName).contains((int) Math.min(cipherKeyBytes, Integer.MAX_VALUE))) {
      throw unsupported("cipher", cipherName + " with a key of " + cipherKeyBytes + " bytes",
          "aes-128, aes-192, aes-256, cast5-128, serpent-128/192/256 or twofish-128/192/256");
    }
    String hashAlg = hash(hashSpec, "hash spec");
    if (!IVGENS.contains(ivgen)) {
      throw unsupported("IV generator", "'" + ivgen + "'", "one of " + String.join(", ", IVGENS));
    }
    if (ivgen.equals("essiv")) {
      if (ivHash.isEmpty()) {
        throw invalid("IV generator", "essiv without a hash", "essiv:<hash>: Missing IV generator hash specification");
      }
      // dm-crypt's ESSIV keys a cipher of the family with the digest: a family key size must match it.
      int essivKey = HASHES.get(ivHash.get());
      if (!keySizes(cipherName).contains(essivKey)) {
        throw unsupported("essiv hash", ivHash.get() + " (" + essivKey + " bytes)",
            "a digest of a " + cipherName + " key size: " + keySizes(cipherName) + " bytes");
      }
    } else {
      // QEMU parses, then ignores, a hash given with plain and plain64 (as dm-crypt does).
      ivHash = Optional.empty();
    }
    return new LuksHeader(cipherName, mode, ivgen, ivHash, hashAlg, payloadOffset, (int) keyBytes, digest, mkSalt,
        mkIterations, uuid, List.copyOf(slots));
  }

  /** QEMU's name of the cipher with its key size: {@code aes-256}. */
  public String cipherAlg() {
    return cipherName + "-" + (cipherMode.equals("xts") ? keyBytes / 2 : keyBytes) * 8;
  }

  /** The digest length of {@link #hashAlg}, or of any hash QEMU knows. */
  static int digestLength(String hash) {
    return HASHES.get(hash);
  }

  /**
   * qemu-img info's {@code encrypt} object for a LUKS volume inside an image, with QEMU 7.2's keys in the order its
   * dictionary prints them: ivgen-alg, hash-alg, cipher-alg, uuid, ivgen-hash-alg (essiv only), format, cipher-mode,
   * slots (each active, iters and stripes when active, key-offset), payload-offset, master-key-iters.
   */
  public Map<String, Object> info() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("ivgen-alg", ivgenAlg);
    m.put("hash-alg", hashAlg);
    m.put("cipher-alg", cipherAlg());
    m.put("uuid", uuid);
    ivgenHashAlg.ifPresent(h -> m.put("ivgen-hash-alg", h));
    m.put("format", "luks");
    m.put("cipher-mode", cipherMode);
    List<Map<String, Object>> list = new ArrayList<>();
    for (KeySlot s : slots) {
      Map<String, Object> slot = new LinkedHashMap<>();
      slot.put("active", s.active());
      if (s.active()) {
        slot.put("iters", s.iterations());
      }
      slot.put("key-offset", s.keyOffsetSector() * SECTOR_SIZE);
      if (s.active()) {
        slot.put("stripes", s.stripes());
      }
      list.add(slot);
    }
    m.put("slots", list);
    m.put("payload-offset", payloadOffsetSector * SECTOR_SIZE);
    m.put("master-key-iters", masterKeyIterations);
    return m;
  }

  private static List<Integer> keySizes(String cipher) {
    return switch (cipher) {
      case "aes", "serpent", "twofish" -> List.of(16, 24, 32);
      case "cast5" -> List.of(16);
      default -> List.of();
    };
  }

  private static String hash(String name, String what) throws BlockDeviceException {
    if (!HASHES.containsKey(name)) {
      throw unsupported(what, "'" + name + "'", "one of md5, sha1, sha224, sha256, sha384, sha512, ripemd160");
    }
    return name;
  }

  /** A NUL-terminated name in a 32-byte field. */
  private static String name(ByteBuffer b, int at, String what) throws BlockDeviceException {
    byte[] raw = bytes(b, at, 32);
    for (int i = 0; i < raw.length; i++) {
      if (raw[i] == 0) {
        return new String(raw, 0, i, StandardCharsets.US_ASCII);
      }
    }
    throw invalid(what, "32 bytes without a NUL", "a NUL-terminated name: LUKS header " + what
        + " is not NUL terminated");
  }

  private static long ceil(long value, long unit) {
    return (value + unit - 1) / unit;
  }

  private static long u32(ByteBuffer b, int at) {
    return b.getInt(at) & 0xffffffffL;
  }

  private static byte[] bytes(ByteBuffer b, int at, int length) {
    byte[] out = new byte[length];
    b.get(at, out);
    return out;
  }

  private static String hexBytes(byte[] bytes) {
    return java.util.HexFormat.of().formatHex(bytes);
  }

  static BlockDeviceException invalid(String what, Object value, String expected) {
    return new BlockDeviceException(BlockError.EINVAL, "LUKS header: " + what + ": " + value + " (expected: " + expected + ")");
  }

  static BlockDeviceException unsupported(String what, Object value, String expected) {
    return new BlockDeviceException(BlockError.ENOTSUP, "LUKS header: " + what + ": " + value + " (expected: " + expected + ")");
  }
}
