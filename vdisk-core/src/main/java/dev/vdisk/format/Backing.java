package dev.vdisk.format;

import dev.vdisk.block.BlockDevice;
import dev.vdisk.io.FileDevice;
import java.nio.file.Path;

/**
 * The backing image of an open image, as its {@link ImageContext} opened it.
 *
 * @param fileName the name as the image records it (qemu-img info's {@code backing-filename})
 * @param path where it was found: a relative name combined with the directory of the image's name as QEMU does
 *     ({@code full-backing-filename})
 * @param format the format it was opened as ({@code backing-filename-format} when not probed)
 * @param formatProbed the image records no backing format; {@code format} was guessed
 * @param device the open backing image, read-only and guarded; closing the overlay closes it
 * @param file the backing image's host file, for host facts such as its allocated size, or null where it has none
 *     (an image on a device that is not a host file); owned by {@code device}
 */
public record Backing(String fileName, Path path, String format, boolean formatProbed, BlockDevice device,
    FileDevice file) {}
