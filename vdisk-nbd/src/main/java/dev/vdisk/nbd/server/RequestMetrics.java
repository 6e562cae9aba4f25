package dev.vdisk.nbd.server;

/** Receives one record per executed transmission request (metrics). Called concurrently; must be cheap. */
@FunctionalInterface
public interface RequestMetrics {
  /** Records nothing. */
  RequestMetrics NONE = (export, command, bytes, nanos, error) -> {};

  /**
   * @param export the export's name
   * @param command the {@code NBD_CMD_*} value
   * @param bytes payload bytes moved (READ, WRITE) or covered (other commands with a length); 0 on error
   * @param nanos time from the start of execution to the reply being written
   * @param error the NBD error value sent, 0 on success
   */
  void record(String export, int command, long bytes, long nanos, int error);
}
