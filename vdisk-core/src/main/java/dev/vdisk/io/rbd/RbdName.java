package dev.vdisk.io.rbd;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Where an RBD image is and how to reach its cluster, as QEMU's rbd driver names it.
 *
 * <p>The file name form is QEMU's: {@code rbd:pool/[namespace/]image[@snapshot][:conf=PATH][:id=USER][:key=value]...},
 * with a backslash escaping the next character ({@code \:}, {@code \@}, {@code \/}). {@code conf} names the ceph.conf
 * (without it librados' default search: {@code $CEPH_CONF}, {@code /etc/ceph/ceph.conf}, {@code ~/.ceph/config});
 * {@code id} the client (without it {@code admin}); every other key is a librados option set as given
 * ({@code mon_host}, {@code keyring}, {@code key}, {@code rados_osd_op_timeout}, ...). The options form is QEMU's
 * {@code --image-opts}: {@code pool}, {@code image}, {@code namespace}, {@code snapshot}, {@code conf}, {@code user}.
 *
 * @param pool the RADOS pool
 * @param namespace the RADOS namespace, empty for the default one
 * @param image the image's name in the pool
 * @param snapshot a snapshot to open read-only, or null for the image itself
 * @param conf the ceph.conf to read, or null for librados' default search
 * @param id the client id (the part after {@code client.}), or null for librados' default
 * @param options further librados options, in order
 */
public record RbdName(String pool, String namespace, String image, String snapshot, String conf, String id,
    Map<String, String> options) {
  /** The prefix that makes a file name an RBD image (QEMU's protocol prefix). */
  public static final String PREFIX = "rbd:";

  /** The option naming the secret that holds the key ({@link RbdSecrets}), QEMU's {@code key-secret}. */
  public static final String KEY_SECRET = "key-secret";

  private static final String EXPECTED = "rbd:pool/[namespace/]image[@snapshot][:conf=PATH][:id=USER][:key=value]...";

  /** Copies {@code options} (insertion order kept). */
  public RbdName {
    options = Collections.unmodifiableMap(new LinkedHashMap<>(options));
  }

  /** Whether {@code file} names an RBD image rather than a local file: it starts with {@code rbd:}, as in QEMU. */
  public static boolean isRbd(String file) {
    return file.startsWith(PREFIX);
  }

  /**
   * Parses a QEMU-style {@code rbd:} file name.
   *
   * @throws BlockDeviceException EINVAL naming what is missing
   */
  public static RbdName parse(String file) throws BlockDeviceException {
    if (!isRbd(file)) {
      throw invalid(file, "a name starting with rbd:");
    }
    Cursor c = new Cursor(file.substring(PREFIX.length()));
    String pool = c.next('/');
    if (c.atEnd()) {
      throw invalid(file, "a pool name and an image name: " + EXPECTED);
    }
    String imagePart = c.nextImage();
    String snapshot = c.lastDelimiter == '@' ? c.next(':') : null;
    String namespace = "";
    Cursor ic = new Cursor(imagePart);
    String first = ic.next('/');
    String image = first;
    if (!ic.atEnd()) {
      namespace = first;
      image = ic.rest();
    }
    String conf = null;
    String id = null;
    Map<String, String> options = new LinkedHashMap<>();
    while (!c.atEnd()) {
      String key = c.next('=');
      if (c.atEnd() && c.lastDelimiter != '=') {
        throw invalid(file, "key=value after ':' (option '" + key + "' has no value)");
      }
      String value = c.next(':');
      switch (key) {
        case "conf" -> conf = value;
        case "id" -> id = value;
        default -> options.put(key, value);
      }
    }
    return checked(file, new RbdName(pool, namespace, image, snapshot, conf, id, options));
  }

  /**
   * The image named by QEMU's rbd block options ({@code --image-opts} or {@code -blockdev} keys, without the
   * {@code driver=rbd}): {@code pool}, {@code image}, {@code namespace}, {@code snapshot}, {@code conf}, {@code user},
   * {@code key-secret} (kept as an option of the name, the secret's id: {@link RbdSecrets} has its value).
   *
   * @throws BlockDeviceException EINVAL for a missing pool or image or a key vdisk does not know
   */
  public static RbdName fromOptions(Map<String, String> keys) throws BlockDeviceException {
    String text = "driver=rbd," + keys;
    for (String k : keys.keySet()) {
      if (!k.matches("pool|image|namespace|snapshot|conf|user|" + KEY_SECRET)) {
        throw invalid(text, "rbd options pool, image, namespace, snapshot, conf, user, key-secret (key '" + k
            + "' is not supported)");
      }
    }
    Map<String, String> options = keys.containsKey(KEY_SECRET) ? Map.of(KEY_SECRET, keys.get(KEY_SECRET)) : Map.of();
    return checked(text, new RbdName(keys.getOrDefault("pool", ""), keys.getOrDefault("namespace", ""),
        keys.getOrDefault("image", ""), keys.get("snapshot"), keys.get("conf"), keys.get("user"), options));
  }

  private static RbdName checked(String text, RbdName name) throws BlockDeviceException {
    if (name.pool.isEmpty() || name.image.isEmpty()) {
      throw invalid(text, "a pool name and an image name: " + EXPECTED);
    }
    if (name.snapshot != null && name.snapshot.isEmpty()) {
      throw invalid(text, "a snapshot name after '@'");
    }
    return name;
  }

  /** The snapshot, if the name has one. */
  public Optional<String> snapshotName() {
    return Optional.ofNullable(snapshot);
  }

  /** The image as {@code rbd:pool/[namespace/]image[@snapshot]}: for messages (no conf, user or secrets). */
  @Override
  public String toString() {
    return PREFIX + pool + "/" + (namespace.isEmpty() ? "" : namespace + "/") + image
        + (snapshot == null ? "" : "@" + snapshot);
  }

  /**
   * The name in QEMU's file name form, every part escaped, conf and id included: {@link #parse} gives this name
   * back. For passing on (to {@code vdisk} or {@code qemu-img}), not for messages ({@code key} may be a secret).
   */
  public String toFileName() {
    StringBuilder s = new StringBuilder(PREFIX).append(escape(pool)).append('/');
    if (!namespace.isEmpty()) {
      s.append(escape(namespace)).append('/');
    }
    s.append(escape(image));
    if (snapshot != null) {
      s.append('@').append(escape(snapshot));
    }
    if (conf != null) {
      s.append(":conf=").append(escape(conf));
    }
    if (id != null) {
      s.append(":id=").append(escape(id));
    }
    options.forEach((k, v) -> s.append(':').append(escape(k)).append('=').append(escape(v)));
    return s.toString();
  }

  /**
   * The name {@code qemu-img info} prints for an image of {@code format} on this RBD image, named in QEMU's file name
   * form: QEMU cannot give it as a plain file name, so it prints its options as
   * {@code json:{"driver": FORMAT, "file": {...}}}. The keys are QEMU's (the client id is {@code user}; librados
   * options and {@code key-secret} are not shown) in the order QEMU's dictionary lists them (its hash buckets: pool,
   * image, conf, snapshot, driver, namespace, user). A file name always sets {@code namespace} (empty for the default
   * one), so it is always there.
   */
  public String toQemuJson(String format) {
    return toQemuJson(format, true);
  }

  /**
   * {@link #toQemuJson(String)} for an image named by QEMU's rbd options ({@code --image-opts}, {@code json:}).
   *
   * @param format the format on the RBD image, or null for the rbd driver alone ({@code driver=rbd}, which QEMU
   *     names by the rbd options without a {@code "file"} around them)
   * @param namespaceGiven whether the options set {@code namespace}: QEMU shows it only then
   */
  public String toQemuJson(String format, boolean namespaceGiven) {
    StringBuilder file = new StringBuilder("{");
    member(file, "pool", pool);
    member(file, "image", image);
    member(file, "conf", conf);
    member(file, "snapshot", snapshot);
    member(file, "driver", "rbd");
    member(file, "namespace", namespaceGiven ? namespace : null);
    member(file, "user", id);
    file.append('}');
    return format == null ? "json:" + file : "json:{\"driver\": " + quote(format) + ", \"file\": " + file + "}";
  }

  private static void member(StringBuilder json, String key, String value) {
    if (value != null) {
      json.append(json.length() > 1 ? ", " : "").append(quote(key)).append(": ").append(quote(value));
    }
  }

  /** A JSON string as QEMU's qobject_to_json writes it: control characters and all but ASCII as {@code \\uXXXX}. */
  private static String quote(String text) {
    StringBuilder s = new StringBuilder("\"");
    for (char c : text.toCharArray()) {
      switch (c) {
        case '"' -> s.append("\\\"");
        case '\\' -> s.append("\\\\");
        case '\b' -> s.append("\\b");
        case '\f' -> s.append("\\f");
        case '\n' -> s.append("\\n");
        case '\r' -> s.append("\\r");
        case '\t' -> s.append("\\t");
        default -> s.append(c < 0x20 || c >= 0x7F ? String.format("\\u%04X", (int) c) : String.valueOf(c));
      }
    }
    return s.append('"').toString();
  }

  private static String escape(String part) {
    return part.replaceAll("([\\\\:@])", "\\\\$1");
  }

  private static BlockDeviceException invalid(String text, String expected) {
    return new BlockDeviceException(BlockError.EINVAL, "rbd image name: '" + text + "' (expected: " + expected + ")");
  }

  /** QEMU's {@code qemu_rbd_next_tok}: tokens end at a delimiter; a backslash takes the next character as it is. */
  private static final class Cursor {
    private final String s;
    private int pos;
    char lastDelimiter;

    Cursor(String s) {
      this.s = s;
    }

    boolean atEnd() {
      return pos >= s.length();
    }

    /** The token up to {@code delim} (unescaped), consuming the delimiter. */
    String next(char delim) {
      return token(delim, delim);
    }

    /** The image part: up to '@' (a snapshot follows) or ':' (options follow). */
    String nextImage() {
      return token('@', ':');
    }

    /** What is left, unescaped. */
    String rest() {
      return token('\0', '\0');
    }

    private String token(char a, char b) {
      StringBuilder out = new StringBuilder();
      lastDelimiter = '\0';
      while (pos < s.length()) {
        char ch = s.charAt(pos++);
        if (ch == '\\' && pos < s.length()) {
          out.append(s.charAt(pos++));
        } else if (ch == a || ch == b) {
          lastDelimiter = ch;
          break;
        } else {
          out.append(ch);
        }
      }
      return out.toString();
    }
  }
}
