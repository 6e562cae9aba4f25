package dev.vdisk.format.qcow2;

import java.io.IOException;

/** The header's compression_type: how compressed clusters are encoded. */
enum CompressionType {
  /** 0: raw deflate, without a zlib header. */
  ZLIB("zlib"),
  /** 1: one zstd frame per cluster. */
  ZSTD("zstd");

  private final String qemuName;

  CompressionType(String qemuName) {
    this.qemuName = qemuName;
  }

  /** qemu-img info's name for the type. */
  String qemuName() {
    return qemuName;
  }

  /**
   * The type of a header, checked against the compression type feature bit: set exactly when the type is not zlib.
   */
  static CompressionType of(Qcow2Header header) throws IOException {
    int code = header.compressionType();
    boolean bit = (header.incompatibleFeatures() & Features.INCOMPAT_COMPRESSION) != 0;
    if (code > 1) {
      throw Qcow2Errors.unsupported("compression_type", code, "0 (zlib) or 1 (zstd)");
    }
    if (bit != (code != 0)) {
      throw Qcow2Errors.invalid("incompatible feature bit 3 (compression type)", bit ? "set" : "unset",
          (code != 0 ? "set" : "unset") + " for compression_type " + code);
    }
    return values()[code];
  }
}
