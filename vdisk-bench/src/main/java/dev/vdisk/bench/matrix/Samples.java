package dev.vdisk.bench.matrix;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.Arrays;
import java.util.List;

/**
 * One number measured once per repeat (IOPS or MB/s), with its median and spread.
 *
 * @param values one per repeat, in run order
 */
@JsonPropertyOrder({"median", "min", "max", "spread", "samples"})
public record Samples(@JsonProperty("samples") List<Double> values) {

  public Samples {
    values = List.copyOf(values);
  }

  public static Samples of(double... values) {
    return new Samples(Arrays.stream(values).boxed().toList());
  }

  @JsonIgnore
  public boolean isEmpty() {
    return values.isEmpty();
  }

  /** The middle value (the mean of the two middle ones for an even count); 0 when empty. */
  @JsonProperty("median")
  public double median() {
    if (values.isEmpty()) {
      return 0;
    }
    double[] sorted = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  @JsonProperty("min")
  public double min() {
    return values.stream().mapToDouble(Double::doubleValue).min().orElse(0);
  }

  @JsonProperty("max")
  public double max() {
    return values.stream().mapToDouble(Double::doubleValue).max().orElse(0);
  }

  /** (max - min) / median: how far the repeats disagree, as a fraction; 0 for fewer than two values. */
  @JsonProperty("spread")
  public double spread() {
    double m = median();
    return values.size() < 2 || m == 0 ? 0 : (max() - min()) / m;
  }
}
