package dev.vdisk.format;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.block.FilterDevice;
import dev.vdisk.io.FileDevice;
import dev.vdisk.io.rbd.RbdDevice;
import dev.vdisk.io.rbd.RbdName;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * An open image and the images below it, top first: their names, formats and files, as {@code qemu-img info
 * --backing-chain} and {@code qemu-img map} name them. {@link ChainWalker} walks the chain's allocation.
 *
 * <p>The layers belong to the top image: closing it closes them.
 */
public final class ImageChain {
  /**
   * One image of the chain.
   *
   * @param device the image, guarded
   * @param name the file name QEMU shows for it: the name given for the top, the combined backing file name below
   * @param format the format it was opened as
   * @param file its host file, or null where it has none (an image in memory)
   * @param label the name as printed: {@code name} as written, or the name given where it is no path (a URI)
   */
  public record Layer(BlockDevice device, Path name, String format, FileDevice file, String label) {
    /** A layer printed under its path. */
    public Layer(BlockDevice device, Path name, String format, FileDevice file) {
      this(device, name, format, file, name == null ? null : name.toString());
    }

    /**
     * The name QEMU shows for the file holding the layer's data, which host offsets refer to: the external data
     * file's recorded name, else the image's.
     */
    public String dataName() throws IOException {
      return facts().dataFile().orElse(label);
    }

    /** What the layer's format knows of it; no facts where the layer is not a format's image. */
    public FormatFacts facts() throws IOException {
      FormatImage image = FilterDevice.find(device, FormatImage.class);
      return image == null ? FormatFacts.none() : image.facts();
    }

    /** What {@code qemu-img info} says of this layer. */
    public ImageInfo info() throws IOException {
      FormatFacts facts = facts();
      Optional<Path> backingPath = Optional.empty();
      if (facts.backingFile().isPresent()) {
        backingPath = Optional.of(ImageContext.resolve(name, facts.backingFile().get()));
      }
      // On RBD, as QEMU: the image is named by its options (json:{...}), and a raw image's cluster size is its RBD
      // image's object size (QEMU's raw driver asks its file, and the rbd driver answers with the object size).
      // The RBD image is found only below a raw image (a filter over it), which is where QEMU asks the file.
      RbdDevice rbd = FilterDevice.find(device, RbdDevice.class);
      OptionalInt clusterSize = facts.clusterSize().isEmpty() && rbd != null
          ? OptionalInt.of(Math.toIntExact(rbd.objectSize())) : facts.clusterSize();
      String shown = label != null && RbdName.isRbd(label) ? RbdName.parse(label).toQemuJson(format) : label;
      // QEMU's raw driver lists its file's snapshots too: the RBD image's, with only a name and a size.
      List<Snapshot> snapshots = facts.snapshots().isEmpty() && rbd != null
          ? rbd.snapshots().stream().map(sn -> new Snapshot(sn.name(), sn.name(), sn.size(), sn.size(), 0, 0, 0, 0)).toList()
          : facts.snapshots();
      return new ImageInfo(shown, format, device.size(),
          file == null ? OptionalLong.empty() : OptionalLong.of(file.allocatedBytes()), clusterSize,
          facts.backingFile(), backingPath, facts.backingFormat(), facts.dirty(), facts.dataFile(),
          snapshots, facts.bitmaps(), facts.encrypted(), facts.formatSpecific());
    }
  }

  private final List<Layer> layers;

  private ImageChain(List<Layer> layers) {
    this.layers = List.copyOf(layers);
  }

  /**
   * The chain below {@code top} where only its devices matter: the top layer has no name, format or file (null).
   */
  public static ImageChain of(BlockDevice top) {
    return of(top, null, null, null);
  }

  /** The chain below {@code top}, a guarded image of {@code format} in {@code file}, which was named {@code name}. */
  public static ImageChain of(BlockDevice top, Path name, String format, FileDevice file) {
    return of(top, name, format, file, name == null ? null : name.toString());
  }

  /** {@link #of(BlockDevice, Path, String, FileDevice)} for a top image printed as {@code label}. */
  public static ImageChain of(BlockDevice top, Path name, String format, FileDevice file, String label) {
    List<Layer> layers = new ArrayList<>();
    layers.add(new Layer(top, name, format, file, label));
    for (Optional<Backing> b = backingOf(top); b.isPresent(); b = backingOf(b.get().device())) {
      layers.add(new Layer(b.get().device(), b.get().path(), b.get().format(), b.get().file()));
    }
    return new ImageChain(layers);
  }

  private static Optional<Backing> backingOf(BlockDevice device) {
    FormatImage image = FilterDevice.find(device, FormatImage.class);
    return image == null ? Optional.empty() : image.backing();
  }

  /** Top first; never empty. */
  public List<Layer> layers() {
    return layers;
  }
}
