package dev.vdisk.nbd.protocol;

/**
 * An option's data is syntactically invalid (a length that reaches past the data, a string too long): the
 * option fails with {@link NbdProtocol#NBD_REP_ERR_INVALID} and the negotiation goes on.
 */
public final class OptionDataException extends Exception {
  public OptionDataException(String message) {
    super(message, null, false, false);
  }
}
