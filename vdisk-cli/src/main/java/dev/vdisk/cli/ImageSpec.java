package dev.vdisk.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vdisk.format.internal.OptionString;
import dev.vdisk.io.rbd.RbdName;
import dev.vdisk.nbd.client.NbdTarget;
import dev.vdisk.nbd.client.NbdUri;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * An image as the command line names it, in QEMU's filename syntaxes: a host file; an NBD URI ({@code nbd://},
 * {@code nbd+unix://}, {@code nbds://}, legacy {@code nbd:HOST:PORT}); {@code json:{...}}; or, with
 * {@code --image-opts}, a flat option string. The last two take QEMU's block options:
 * {@code driver=raw|qcow2} with {@code file.driver=file|nbd} and the protocol's keys under {@code file.}, or a
 * protocol driver on its own ({@code driver=file|nbd}). For NBD: {@code server.type=inet|unix},
 * {@code server.host}, {@code server.port}, {@code server.path}, {@code export}, {@code tls-creds},
 * {@code tls-hostname} (and the older {@code host}, {@code port}, {@code path}, or a {@code filename} URI). Keys vdisk
 * does not know are refused with one line, never ignored.
 *
 * @param label the name printed for the image (QEMU's canonical URI for an NBD export, as qemu-img prints it)
 * @param file the host file, or null for an NBD export
 * @param nbd the NBD export, or null for a host file
 * @param format the format the name or options give, or null (then {@code -f}, or a probe)
 * @param tlsCreds the id of the {@code --object tls-creds-x509} to use, or null
 * @param tlsHostname the name the server's certificate must carry, or null
 * @param protocol the protocol driver when the options name no format ({@code driver=nbd}, {@code driver=file} or
 *     {@code driver=rbd}):
 *     QEMU then opens no format layer and reports the protocol as the format; vdisk reads the bytes as raw and
 *     reports the protocol's name likewise. Null otherwise.
 * @param keySecret the id of the {@code --object secret} holding an encrypted qcow2 image's password (qemu-img's
 *     {@code encrypt.key-secret=ID}), or null
 */
record ImageSpec(String label, String file, NbdTarget nbd, String format, String tlsCreds, String tlsHostname,
    String protocol, String keySecret) {
  private static final Set<String> FORMATS = Set.of("raw", "qcow2");
  private static final Set<String> NBD_KEYS = Set.of("server.type", "server.host", "server.port", "server.path", "host",
      "port", "path", "export", "tls-creds", "tls-hostname", "filename");
  /** qcow2's option naming the secret that holds an encrypted image's password. */
  private static final String KEY_SECRET = "encrypt.key-secret";
  private static final String EXPECTED = "expected: driver=raw|qcow2 with file.driver=file|nbd and its keys, or "
      + "driver=nbd,server.type=inet|unix,server.host=H,server.port=P|server.path=S,export=E";

  /**
   * True for an image on RBD named by its options ({@code --image-opts}, {@code json:}): its {@link #label} is then the
   * name qemu-img prints for it, which the image's own {@code rbd:} file name cannot give (QEMU shows {@code
   * namespace} only where the options set it, and the rbd driver alone without a format around it).
   */
  boolean isRbdByOptions() {
    return file != null && RbdName.isRbd(file) && !label.equals(file);
  }

  /** True for an NBD export. */
  boolean isNbd() {
    return nbd != null;
  }

  /** What {@code text} names; with {@code imageOpts} it is a {@code --image-opts} option string. */
  static ImageSpec parse(String text, boolean imageOpts) {
    if (imageOpts) {
      try {
        return fromOptions(text, OptionString.parse(text));
      } catch (IllegalArgumentException e) {
        throw new CliException("--image-opts: " + e.getMessage() + " (" + EXPECTED + ")");
      }
    }
    if (text.startsWith("json:")) {
      return fromOptions(text, json(text));
    }
    if (NbdUri.isNbd(text)) {
      NbdTarget t = uri(text);
      return new ImageSpec(canonical(t), null, t, null, null, null, null, null);
    }
    return new ImageSpec(text, text, null, null, null, null, null, null);
  }

  private static NbdTarget uri(String text) {
    try {
      return NbdUri.parse(text);
    } catch (IllegalArgumentException e) {
      throw new CliException(e.getMessage());
    }
  }

  /**
   * QEMU's name for an NBD export ({@code nbd_refresh_filename}): {@code nbd://HOST:PORT/EXPORT} or
   * {@code nbd+unix:///EXPORT?socket=PATH}, TLS or not; {@code nbds} only where the user wrote it (QEMU has no such
   * scheme).
   */
  static String canonical(NbdTarget t) {
    String scheme = t.name().toLowerCase(java.util.Locale.ROOT).startsWith("nbds") ? "nbds" : "nbd";
    if (t.socket() != null) {
      return scheme + "+unix://" + (t.export().isEmpty() ? "" : "/" + t.export()) + "?socket=" + t.socket();
    }
    String host = t.host().contains(":") ? "[" + t.host() + "]" : t.host();
    return scheme + "://" + host + ":" + t.port() + (t.export().isEmpty() ? "" : "/" + t.export());
  }

  private static Map<String, String> json(String text) {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(text.substring("json:".length()));
    } catch (JsonProcessingException e) {
      throw new CliException(text + ": not valid JSON: " + e.getOriginalMessage() + " (expected: json:{...} with QEMU's "
          + "block options)");
    }
    if (root == null || !root.isObject()) {
      throw new CliException(text + ": not a JSON object (expected: json:{...} with QEMU's block options)");
    }
    Map<String, String> flat = new LinkedHashMap<>();
    flatten("", root, flat);
    return flat;
  }

  private static void flatten(String prefix, JsonNode node, Map<String, String> out) {
    for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (e.getValue().isObject()) {
        flatten(prefix + e.getKey() + ".", e.getValue(), out);
      } else {
        out.put(prefix + e.getKey(), e.getValue().asText());
      }
    }
  }

  private static ImageSpec fromOptions(String text, Map<String, String> kv) {
    if ("rbd".equals(kv.get("driver")) || "rbd".equals(kv.get("file.driver"))) {
      // An image on Ceph RBD: opened by its rbd: file name, printed as qemu-img prints it, by its options.
      ImageOptsFile rbd = RbdOpts.parse(text, kv);
      return new ImageSpec(RbdOpts.qemuName(kv), rbd.file(), null, rbd.format(), null, null, RbdOpts.bare(kv) ? "rbd" : null,
          null);
    }
    String driver = kv.get("driver");
    if (driver == null && kv.keySet().stream().anyMatch(k -> k.startsWith("file."))) {
      driver = "raw-or-probe";
    }
    if ("nbd".equals(driver) || "file".equals(driver)) {
      Map<String, String> protocol = new LinkedHashMap<>(kv);
      protocol.remove("driver");
      return protocol(text, driver, protocol, null, true);
    }
    if (driver == null || !(FORMATS.contains(driver) || driver.equals("raw-or-probe"))) {
      throw new CliException(text + ": driver=" + driver + " (" + EXPECTED + ")");
    }
    Map<String, String> protocol = new LinkedHashMap<>();
    String keySecret = null;
    for (Map.Entry<String, String> e : kv.entrySet()) {
      if (e.getKey().equals(KEY_SECRET) && "qcow2".equals(driver)) {
        keySecret = e.getValue();
      } else if (e.getKey().equals("file")) {
        protocol.put("filename", e.getValue());
      } else if (e.getKey().startsWith("file.")) {
        protocol.put(e.getKey().substring("file.".length()), e.getValue());
      } else if (!e.getKey().equals("driver")) {
        throw new CliException(text + ": key '" + e.getKey() + "' is not supported (" + EXPECTED + ")");
      }
    }
    String protocolDriver = protocol.remove("driver");
    if (protocolDriver == null) {
      String filename = protocol.get("filename");
      protocolDriver = filename != null && NbdUri.isNbd(filename) ? "nbd" : "file";
    }
    ImageSpec spec = protocol(text, protocolDriver, protocol, driver.equals("raw-or-probe") ? null : driver, false);
    return new ImageSpec(spec.label, spec.file, spec.nbd, spec.format, spec.tlsCreds, spec.tlsHostname, spec.protocol,
        keySecret);
  }

  private static ImageSpec protocol(String text, String driver, Map<String, String> kv, String format,
      boolean protocolOnly) {
    if (driver.equals("file")) {
      String filename = kv.remove("filename");
      if (filename == null || filename.isEmpty() || !kv.isEmpty()) {
        throw new CliException(text + ": the file driver takes filename=PATH and nothing else (" + EXPECTED + ")");
      }
      return new ImageSpec(filename, filename, null, format == null && protocolOnly ? "raw" : format, null, null,
          protocolOnly ? "file" : null, null);
    }
    if (!driver.equals("nbd")) {
      throw new CliException(text + ": file.driver=" + driver + " (expected: file or nbd)");
    }
    for (String k : kv.keySet()) {
      if (!NBD_KEYS.contains(k)) {
        throw new CliException(text + ": NBD key '" + k + "' is not supported (" + EXPECTED + ")");
      }
    }
    String tlsCreds = kv.get("tls-creds");
    NbdTarget t;
    if (kv.containsKey("filename")) {
      NbdTarget u = uri(kv.get("filename"));
      t = new NbdTarget(u.host(), u.port(), u.socket(), kv.getOrDefault("export", u.export()), u.tls() || tlsCreds != null,
          text);
    } else {
      String type = kv.getOrDefault("server.type", kv.containsKey("path") || kv.containsKey("server.path") ? "unix" : "inet");
      String export = kv.getOrDefault("export", "");
      try {
        t = switch (type) {
          case "unix" -> new NbdTarget(null, 0, first(kv, "server.path", "path", text), export, tlsCreds != null, text);
          case "inet" -> new NbdTarget(first(kv, "server.host", "host", text),
              Integer.parseInt(kv.getOrDefault("server.port", kv.getOrDefault("port", String.valueOf(NbdTarget.DEFAULT_PORT)))),
              null, export, tlsCreds != null, text);
          default -> throw new CliException(text + ": server.type=" + type + " (expected: inet or unix)");
        };
      } catch (IllegalArgumentException e) {
        throw new CliException(text + ": " + e.getMessage() + " (" + EXPECTED + ")");
      }
    }
    return new ImageSpec(canonical(t), null, t, format == null && protocolOnly ? "raw" : format, tlsCreds,
        kv.get("tls-hostname"), protocolOnly ? "nbd" : null, null);
  }

  private static String first(Map<String, String> kv, String key, String legacy, String text) {
    String v = kv.getOrDefault(key, kv.get(legacy));
    if (v == null || v.isEmpty()) {
      throw new CliException(text + ": no " + key + " (" + EXPECTED + ")");
    }
    return v;
  }
}
