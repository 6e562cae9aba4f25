package dev.vdisk.cli;

import dev.vdisk.format.internal.OptionString;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;
import java.util.Set;

/**
 * One {@code --object secret,id=ID,data=TEXT|file=PATH[,format=raw|base64]}, as QEMU takes it: a value that options
 * name by id instead of spelling it out (an RBD image's {@code key-secret=ID}). {@code format=base64} decodes the
 * data or the file's text; {@code raw}, the default, takes the bytes as they are. Encrypted secrets ({@code keyid},
 * {@code iv}) are refused with one line.
 *
 * @param id the object's id
 * @param value the secret's bytes
 */
record SecretObject(String id, byte[] value) {
  private static final String TYPE = "secret";
  private static final Set<String> KEYS = Set.of("id", "data", "file", "format");
  private static final String EXPECTED = "expected: secret,id=ID,data=TEXT|file=PATH[,format=raw|base64]";

  /** Whether {@code text} is a secret object (its type is {@code secret}). */
  static boolean isSecret(String text) {
    return text.equals(TYPE) || text.startsWith(TYPE + ",");
  }

  /** Parses one {@code --object} value of type {@code secret}, reading {@code file=} now. */
  static SecretObject parse(String text) {
    Map<String, String> kv;
    try {
      kv = OptionString.parse(text.length() == TYPE.length() ? "" : text.substring(TYPE.length() + 1));
    } catch (IllegalArgumentException e) {
      throw new CliException("--object: " + e.getMessage() + " (" + EXPECTED + ")");
    }
    for (String k : kv.keySet()) {
      if (!KEYS.contains(k)) {
        throw new CliException("--object secret: key '" + k + "' is not supported (" + EXPECTED + ")");
      }
    }
    String id = kv.get("id");
    if (id == null || id.isEmpty() || kv.containsKey("data") == kv.containsKey("file")) {
      throw new CliException("--object secret: needs id= and one of data= and file= (" + EXPECTED + ")");
    }
    byte[] bytes;
    if (kv.containsKey("data")) {
      bytes = kv.get("data").getBytes(StandardCharsets.UTF_8);
    } else {
      try {
        bytes = Files.readAllBytes(Path.of(kv.get("file")));
      } catch (IOException e) {
        throw new CliException("--object secret " + id + ": cannot read file " + kv.get("file") + " (" + EXPECTED + ")");
      }
    }
    return new SecretObject(id, switch (kv.getOrDefault("format", "raw")) {
      case "raw" -> bytes;
      case "base64" -> decode(id, bytes);
      default -> throw new CliException("--object secret " + id + ": format=" + kv.get("format") + " (expected: raw or base64)");
    });
  }

  /**
   * The value of the secret {@code id} in {@code secrets} (by id), as an encrypted image's {@code encrypt.key-secret=ID}
   * names it.
   *
   * @throws CliException with QEMU's message when there is none
   */
  static byte[] value(Map<String, byte[]> secrets, String id) {
    byte[] value = secrets.get(id);
    if (value == null) {
      throw new CliException("No secret with id '" + id + "' (expected: --object secret,id=" + id
          + ",data=PASSWORD or file=PATH)");
    }
    return value;
  }

  private static byte[] decode(String id, byte[] base64) {
    try {
      return Base64.getDecoder().decode(new String(base64, StandardCharsets.US_ASCII).strip());
    } catch (IllegalArgumentException e) {
      throw new CliException("--object secret " + id + ": the data is not base64 (expected: base64 text with format=base64)");
    }
  }
}
