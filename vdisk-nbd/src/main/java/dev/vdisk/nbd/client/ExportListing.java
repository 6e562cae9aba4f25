package dev.vdisk.nbd.client;

import java.util.List;

/**
 * One export of an NBD server as a listing shows it ({@link NbdExports#list}).
 *
 * @param name the export's name
 * @param description its description ("" where the server gives none)
 * @param size its size in bytes
 * @param flags its transmission flags
 * @param minBlock the server's minimum block size, or 0 where it gave no block sizes
 * @param preferredBlock its preferred block size, or 0 likewise
 * @param maxBlock its maximum block size, or 0 likewise
 * @param contexts the meta contexts it offers, as it lists them (none without structured replies)
 */
public record ExportListing(String name, String description, long size, int flags, int minBlock, int preferredBlock,
    int maxBlock, List<String> contexts) {
  public ExportListing {
    contexts = List.copyOf(contexts);
  }
}
