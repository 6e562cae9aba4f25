package dev.vdisk.format.internal;

import dev.vdisk.format.ImageFormat;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The image formats vdisk knows: raw and qcow2, the drivers module-info {@code provides}. They are loaded by class name
 * rather than found with {@code ServiceLoader}, whose class-path scan opens and indexes the whole jar (13,000 entries)
 * on every start of a short command; and by name rather than by {@code new}, because the drivers use this registry
 * (probing a backing file, creating a data file), and a static reference back to them would make the packages a cycle.
 * An explicit format always wins; probing only ever picks a non-raw format on a positive signature, and falls back
 * to raw otherwise.
 */
public final class FormatRegistry {
  private static final List<ImageFormat> FORMATS =
      Stream.of("dev.vdisk.format.raw.RawFormat", "dev.vdisk.format.qcow2.Qcow2Format").map(FormatRegistry::load).toList();

  private FormatRegistry() {}

  private static ImageFormat load(String driver) {
    try {
      return (ImageFormat) Class.forName(driver).getConstructor().newInstance();
    } catch (ReflectiveOperationException e) {
      throw new LinkageError("image format driver " + driver + " missing from vdisk-core", e);
    }
  }

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
