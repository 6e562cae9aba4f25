package dev.vdisk.format.internal;

import dev.vdisk.block.CheckedDevice;
import dev.vdisk.format.ImageChain;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.io.FileDevice;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;

/**
 * An image opened as a full stack by {@link Images#open}.
 *
 * @param device the top of the stack: the guard every consumer talks to
 * @param format the format the image was opened as
 * @param file the host file at the bottom (for actual size and host facts), or null where the image is not in one
 * @param probed the format was guessed rather than named
 */
public record OpenImage(CheckedDevice device, ImageFormat format, FileDevice file, boolean probed) implements Closeable {
  /** The chain of this image, whose file was named {@code name}. */
  public ImageChain chain(Path name) {
    return ImageChain.of(device, name, format.name(), file);
  }

  /** Closes the whole stack, file included. */
  @Override
  public void close() throws IOException {
    device.close();
  }
}
