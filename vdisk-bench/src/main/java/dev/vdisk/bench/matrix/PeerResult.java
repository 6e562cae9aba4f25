package dev.vdisk.bench.matrix;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;

/**
 * One cell run through {@code qemu-img bench} and through vdisk with the same request stream (qemu-img bench's
 * fixed stride, its only pattern), each on its own fresh image.
 *
 * @param aio the aio mode qemu-img bench used: the best one QEMU accepted for this cache mode
 * @param vdisk vdisk's rate per repeat
 * @param qemu qemu-img bench's rate per repeat; empty when every run finished within its 1 ms resolution
 * @param ratio vdisk's median over qemu's (above 1: vdisk faster); null without a qemu rate
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonPropertyOrder({"layout", "mode", "workload", "unit", "aio", "vdisk", "qemu", "ratio"})
public record PeerResult(
    @JsonProperty("layout") String layout,
    @JsonProperty("mode") String mode,
    @JsonProperty("workload") String workload,
    @JsonProperty("unit") String unit,
    @JsonProperty("aio") String aio,
    @JsonProperty("vdisk") Samples vdisk,
    @JsonProperty("qemu") Samples qemu,
    @JsonProperty("ratio") Double ratio) {}
