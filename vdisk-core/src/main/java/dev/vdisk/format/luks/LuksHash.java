package dev.vdisk.format.luks;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import javax.crypto.Mac;

/**
 * A hash a LUKS header names ({@code hash_spec}, an essiv hash) as the JDK provides it: the digest and its HMAC. QEMU
 * also knows ripemd160, which the JDK lacks: refused when data must be read, not when the header is only described.
 */
enum LuksHash {
  MD5("md5", "MD5", "HmacMD5"),
  SHA1("sha1", "SHA-1", "HmacSHA1"),
  SHA224("sha224", "SHA-224", "HmacSHA224"),
  SHA256("sha256", "SHA-256", "HmacSHA256"),
  SHA384("sha384", "SHA-384", "HmacSHA384"),
  SHA512("sha512", "SHA-512", "HmacSHA512");

  private final String qemuName;
  private final String digest;
  private final String hmac;

  LuksHash(String qemuName, String digest, String hmac) {
    this.qemuName = qemuName;
    this.digest = digest;
    this.hmac = hmac;
  }

  /** The hash QEMU calls {@code name}. */
  static LuksHash of(String name) throws BlockDeviceException {
    for (LuksHash h : values()) {
      if (h.qemuName.equals(name)) {
        return h;
      }
    }
    throw new BlockDeviceException(BlockError.ENOTSUP, "LUKS hash: " + name
        + " (expected: md5, sha1, sha224, sha256, sha384 or sha512: the JDK has no " + name + ")");
  }

  /** A new digest; each caller takes its own, as digests are not thread-safe. */
  MessageDigest digest() {
    try {
      return MessageDigest.getInstance(digest);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(digest + " is part of every JDK", e);
    }
  }

  /** A new, uninitialised HMAC. */
  Mac hmac() {
    try {
      return Mac.getInstance(hmac);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(hmac + " is part of every JDK", e);
    }
  }
}
