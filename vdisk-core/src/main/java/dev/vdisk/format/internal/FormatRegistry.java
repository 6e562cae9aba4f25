package dev.vdisk.format.internal;

import dev.vdisk.format.ImageFormat;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;

/**
 * The image formats vdisk knows: every {@link ImageFormat} registered with {@link ServiceLoader} (vdisk-core
 * registers raw and qcow2 in {@code META-INF/services}), found once. An explicit format always wins; probing only
 * ever picks a non-raw format on a positive signature, and falls back to raw otherwise.
 */
public final class FormatRegistry {
  private static final List<ImageFormat> FORMATS =
      ServiceLoader.load(ImageFormat.class, ImageFormat.class.getClassLoader()).stream().map(ServiceLoader.Provider::get).toList();

  private FormatRegistry() {}

  /** Every registered format. */
  public static List<ImageFormat> all() {
    return FORMATS;
  }

  /**
   * The format named {@code name}.
   *
   * @throws IllegalArgumentException naming the unknown format and the known ones
   */
  public static ImageFormat byName(String name) {
    for (ImageFormat f : FORMATS) {
      if (f.name().equals(name)) {
        return f;
      }
    }
    throw new IllegalArgumentException("format: '" + name + "' (expected one of: "
        + String.join(", ", FORMATS.stream().map(ImageFormat::name).toList()) + ")");
  }

  /** The best non-raw format claiming {@code head}, if any. */
  public static Optional<ImageFormat> probeNonRaw(ByteBuffer head) {
    ImageFormat best = null;
    int bestScore = 0;
    for (ImageFormat f : FORMATS) {
      int score = f.probe(head.duplicate());
      if (score > bestScore) {
        best = f;
        bestScore = score;
      }
    }
    return Optional.ofNullable(best);
  }
}
