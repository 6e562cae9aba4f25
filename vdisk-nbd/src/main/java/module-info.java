/**
 * vdisk-nbd: an NBD server exporting any {@link dev.vdisk.block.BlockDevice} and an NBD client device, with TLS and
 * Prometheus metrics. Exported: the server, the client and the metrics; the protocol codec and the wire helpers are
 * internal.
 */
module dev.vdisk.nbd {
  requires transitive dev.vdisk.core;
  requires org.bouncycastle.pkix;
  requires org.bouncycastle.provider;
  requires io.prometheus.metrics.core;
  requires io.prometheus.metrics.exporter.httpserver;
  requires io.prometheus.metrics.model;

  exports dev.vdisk.nbd.client;
  exports dev.vdisk.nbd.metrics;
  exports dev.vdisk.nbd.server;
}
