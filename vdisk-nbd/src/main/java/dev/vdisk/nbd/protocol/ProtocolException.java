package dev.vdisk.nbd.protocol;

import java.io.IOException;

/**
 * The peer broke a MUST of the protocol (bad magic, unknown client flags, a length the message cannot hold):
 * the connection cannot continue and is closed. Messages follow {@code what: value (expected: ...)}.
 */
public class ProtocolException extends IOException {
  public ProtocolException(String message) {
    super(message);
  }
}
