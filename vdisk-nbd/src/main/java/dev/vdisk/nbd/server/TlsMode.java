package dev.vdisk.nbd.server;

import java.util.Locale;

/** Whether the server offers TLS ({@code --tls=off|on|require}). */
public enum TlsMode {
  /** No TLS: {@code NBD_OPT_STARTTLS} is refused with {@code NBD_REP_ERR_POLICY} (the protocol's NOTLS mode). */
  OFF,
  /** TLS when the client asks for it; plaintext clients are served too. */
  ON,
  /**
   * TLS or nothing (the protocol's FORCEDTLS mode): before {@code NBD_OPT_STARTTLS} every option but
   * {@code NBD_OPT_ABORT} gets {@code NBD_REP_ERR_TLS_REQD}, and {@code NBD_OPT_EXPORT_NAME} ends the connection.
   */
  REQUIRE;

  public static TlsMode parse(String text) {
    return switch (text.toLowerCase(Locale.ROOT)) {
      case "off" -> OFF;
      case "on" -> ON;
      case "require" -> REQUIRE;
      default -> throw new IllegalArgumentException("--tls: '" + text + "' (expected: off, on, require)");
    };
  }
}
