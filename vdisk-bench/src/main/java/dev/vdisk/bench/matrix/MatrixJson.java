package dev.vdisk.bench.matrix;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

/** The {@link MatrixReport} as JSON: {@code --output=json}'s document and the HTML report's data. */
public final class MatrixJson {
  private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private MatrixJson() {}

  /** Indented JSON, every number of the report. */
  public static String of(MatrixReport report) {
    try {
      return MAPPER.writeValueAsString(report);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("matrix report: cannot serialise: " + e.getMessage(), e);
    }
  }
}
