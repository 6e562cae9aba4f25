package dev.vdisk.format;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * What {@code qemu-img info} says of one image of a chain, typed.
 *
 * @param filename the image's name: as given for the top image, the combined backing file name below it
 * @param format the format it was opened as
 * @param virtualSize the guest disk's size in bytes
 * @param actualSize bytes the host file allocates, empty where the image is not in a host file
 * @param clusterSize the format's allocation unit, empty for formats without one (raw)
 * @param backingFilename the backing file's name as the image records it, if it has one
 * @param fullBackingFilename where that backing file was found (relative names combined as QEMU combines them)
 * @param backingFormat the backing file's format where the image records it (empty where it was probed)
 * @param dirty lazy refcounts not written back ({@code dirty-flag})
 * @param dataFile the external data file's name as the image records it, if it has one
 * @param snapshots the internal snapshots, in table order
 * @param bitmaps the number of persistent dirty bitmaps the image records
 * @param encrypted the guest's bytes are stored encrypted ({@code encrypted})
 * @param formatSpecific qemu-img info's {@code format-specific} {@code data} (keys in QEMU's order), or empty
 */
public record ImageInfo(String filename, String format, long virtualSize, OptionalLong actualSize,
    OptionalInt clusterSize, Optional<String> backingFilename, Optional<Path> fullBackingFilename,
    Optional<String> backingFormat, boolean dirty, Optional<String> dataFile, List<Snapshot> snapshots, long bitmaps,
    boolean encrypted, Map<String, Object> formatSpecific) {}
