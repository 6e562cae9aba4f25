package dev.vdisk.cli;

import dev.vdisk.format.internal.OptionString;
import java.util.Map;
import java.util.Set;

/**
 * One {@code --object tls-creds-x509,id=ID,dir=DIR,endpoint=server[,verify-peer=on|off]} of {@code vdisk serve},
 * as qemu-nbd takes it; {@code --tls-creds=ID} then names it. The other commands take {@code endpoint=client}
 * objects, as qemu-img does, named by {@code tls-creds=ID} of an NBD image. {@code verify-peer} defaults to on, as in QEMU. Other
 * object types (secrets, authz) are refused with one line.
 *
 * @param id the object's id
 * @param dir the credentials directory (QEMU's {@code tls-creds-x509} layout)
 * @param verifyPeer whether clients must present a certificate from the directory's CA
 */
record TlsCredsObject(String id, String dir, boolean verifyPeer) {
  private static final String TYPE = "tls-creds-x509";
  private static final Set<String> KEYS = Set.of("id", "dir", "endpoint", "verify-peer");

  /** Parses one {@code --object} value of a server. */
  static TlsCredsObject parse(String text) {
    return parse(text, "server");
  }

  /** Parses one {@code --object} value whose {@code endpoint} must be {@code endpoint} (server or client). */
  static TlsCredsObject parse(String text, String endpoint) {
    String expected = "expected: tls-creds-x509,id=ID,dir=DIR,endpoint=" + endpoint + "[,verify-peer=on|off]";
    int comma = text.indexOf(',');
    String type = comma < 0 ? text : text.substring(0, comma);
    if (!type.equals(TYPE)) {
      throw new CliException("--object: type '" + type + "' is not supported (" + expected + ")");
    }
    Map<String, String> kv;
    try {
      kv = OptionString.parse(comma < 0 ? "" : text.substring(comma + 1));
    } catch (IllegalArgumentException e) {
      throw new CliException("--object: " + e.getMessage() + " (" + expected + ")");
    }
    for (String k : kv.keySet()) {
      if (!KEYS.contains(k)) {
        throw new CliException("--object: unknown key '" + k + "' (" + expected + ")");
      }
    }
    String id = kv.get("id");
    String dir = kv.get("dir");
    if (id == null || id.isEmpty() || dir == null || dir.isEmpty()) {
      throw new CliException("--object: " + text + ": needs id= and dir= (" + expected + ")");
    }
    if (!kv.getOrDefault("endpoint", "client").equals(endpoint)) {
      // QEMU's message: the default endpoint is client, which a server cannot use
      throw new CliException("Expecting TLS credentials with a " + endpoint + " endpoint (expected: endpoint=" + endpoint
          + " in --object " + id + ")");
    }
    boolean verify = switch (kv.getOrDefault("verify-peer", "on")) {
      case "on", "yes", "true" -> true;
      case "off", "no", "false" -> false;
      default -> throw new CliException("--object: verify-peer=" + kv.get("verify-peer") + " (expected: on or off)");
    };
    return new TlsCredsObject(id, dir, verify);
  }
}
