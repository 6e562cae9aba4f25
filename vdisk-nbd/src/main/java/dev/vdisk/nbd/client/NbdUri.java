package dev.vdisk.nbd.client;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * NBD image names as QEMU 7.2's nbd driver parses them ({@code nbd_parse_uri}, {@code nbd_parse_filename}), plus
 * libnbd's TLS schemes:
 *
 * <ul>
 *   <li>{@code nbd://host[:port]/export} and {@code nbd+tcp://...} (port 10809 by default, export "" when absent);
 *   <li>{@code nbd+unix:///export?socket=PATH};
 *   <li>{@code nbds://}, {@code nbds+tcp://}, {@code nbds+unix://}: the same with TLS (QEMU has no such scheme: it
 *       takes {@code tls-creds=} in its option syntaxes; libnbd's {@code tls-certificates=DIR} query parameter names
 *       the client's credentials);
 *   <li>QEMU's legacy {@code nbd:HOST:PORT[:exportname=NAME]} and {@code nbd:unix:PATH[:exportname=NAME]}.
 * </ul>
 */
public final class NbdUri {
  private static final String EXPECTED = "expected: nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH, "
      + "or nbds:// and nbds+unix:// for TLS";

  private NbdUri() {}

  /** True if {@code name} is written in one of the NBD syntaxes (and so is no local file name). */
  public static boolean isNbd(String name) {
    return name.matches("(?i)nbds?(\\+(tcp|unix))?://.*") || name.startsWith("nbd:");
  }

  /**
   * The target that {@code name} describes.
   *
   * @throws IllegalArgumentException naming what is wrong and the syntaxes expected
   */
  public static NbdTarget parse(String name) {
    if (name.startsWith("nbd:") && !name.startsWith("nbd://")) {
      return legacy(name);
    }
    URI uri;
    try {
      uri = new URI(name);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException(name + ": not a valid URI: " + e.getReason() + " (" + EXPECTED + ")");
    }
    String scheme = uri.getScheme().toLowerCase(java.util.Locale.ROOT);
    boolean tls = scheme.startsWith("nbds");
    boolean unix = scheme.endsWith("+unix");
    String path = uri.getRawPath() == null ? "" : uri.getRawPath();
    String export = decode(path.startsWith("/") ? path.substring(1) : path);
    Map<String, String> query = query(name, uri.getRawQuery());
    query.remove("tls-certificates");
    if (unix) {
      String socket = query.remove("socket");
      if (socket == null || !query.isEmpty() || uri.getRawAuthority() != null) {
        throw new IllegalArgumentException(name + ": a unix socket URI takes no host and exactly the query socket=PATH ("
            + EXPECTED + ")");
      }
      return new NbdTarget(null, 0, socket, export, tls, name);
    }
    if (!query.isEmpty() || uri.getHost() == null) {
      throw new IllegalArgumentException(name + ": a TCP URI takes a host and no query (" + EXPECTED + ")");
    }
    String host = uri.getHost().startsWith("[") ? uri.getHost().substring(1, uri.getHost().length() - 1) : uri.getHost();
    return new NbdTarget(host, uri.getPort() < 0 ? NbdTarget.DEFAULT_PORT : uri.getPort(), null, export, tls, name);
  }

  /** libnbd's {@code tls-certificates=DIR} query parameter of an {@code nbds} URI, if it has one. */
  public static Optional<String> tlsCertificates(String name) {
    if (name.startsWith("nbd:") && !name.startsWith("nbd://")) {
      return Optional.empty();
    }
    try {
      return Optional.ofNullable(query(name, new URI(name).getRawQuery()).get("tls-certificates"));
    } catch (URISyntaxException e) {
      return Optional.empty();
    }
  }

  private static NbdTarget legacy(String name) {
    String rest = name.substring("nbd:".length());
    String export = "";
    int ex = rest.indexOf(":exportname=");
    if (ex >= 0) {
      export = rest.substring(ex + ":exportname=".length());
      rest = rest.substring(0, ex);
    }
    if (rest.startsWith("unix:")) {
      return new NbdTarget(null, 0, rest.substring("unix:".length()), export, false, name);
    }
    int colon = rest.lastIndexOf(':');
    try {
      int port = colon < 0 ? NbdTarget.DEFAULT_PORT : Integer.parseInt(rest.substring(colon + 1));
      return new NbdTarget(colon < 0 ? rest : rest.substring(0, colon), port, null, export, false, name);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + ": port '" + rest.substring(colon + 1) + "' (expected: a number)");
    }
  }

  private static Map<String, String> query(String name, String raw) {
    Map<String, String> out = new LinkedHashMap<>();
    if (raw == null || raw.isEmpty()) {
      return out;
    }
    for (String pair : raw.split("&")) {
      int eq = pair.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException(name + ": query parameter '" + pair + "' (expected: KEY=VALUE)");
      }
      out.put(decode(pair.substring(0, eq)), decode(pair.substring(eq + 1)));
    }
    return out;
  }

  private static String decode(String s) {
    return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
  }
}
