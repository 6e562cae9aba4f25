package dev.vdisk.nbd.protocol;

/**
 * A transmission-phase request header (the payload of {@link NbdProtocol#NBD_CMD_WRITE} follows it on the wire).
 *
 * @param flags command flags ({@code NBD_CMD_FLAG_*})
 * @param type the command ({@code NBD_CMD_*})
 * @param cookie the client's handle, echoed in every reply
 * @param offset unsigned 64 bits; a value above {@link Long#MAX_VALUE} is negative here
 * @param length unsigned 32 bits
 */
public record Request(int flags, int type, long cookie, long offset, long length) {
  /** True if {@code flag} is set. */
  public boolean has(int flag) {
    return (flags & flag) != 0;
  }
}
