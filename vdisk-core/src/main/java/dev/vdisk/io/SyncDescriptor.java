package dev.vdisk.io;

import java.io.Closeable;
import java.io.IOException;

/**
 * An open file description of a device's file used for fdatasync alone: Linux reports a write-back error once to
 * each open file description ({@code struct file}), so {@link WritebackErrors} gives every concurrent flush one of
 * its own. Closing it never closes the device's data path.
 */
interface SyncDescriptor extends Closeable {
  /** fdatasync(2) of this descriptor: its error is any write-back error since its previous call (or its open). */
  void fdatasync() throws IOException;
}
