package dev.vdisk.nbd.server;

import java.util.List;

/**
 * What a negotiation agreed on, the input of the transmission phase.
 *
 * @param export the export chosen
 * @param structuredReplies the client negotiated {@code NBD_OPT_STRUCTURED_REPLY}
 * @param contexts the metadata contexts selected for {@code NBD_CMD_BLOCK_STATUS}, in reply order
 * @param transmissionFlags the flags sent to the client (the commands it may use)
 */
record Session(Export export, boolean structuredReplies, List<MetaContext> contexts, int transmissionFlags) {}
