package dev.vdisk.block.internal;

import java.io.IOException;

/**
 * A device that can serve a {@link RequestQueue} of its own that overlaps requests in the kernel: a host file opened
 * with {@code aio=native}, or a layer (the guard, a raw image) that passes its requests to such a device. Other
 * devices get the synchronous adapter ({@code dev.vdisk.io.internal.RequestQueues}).
 */
public interface Queueable {
  /**
   * A new asynchronous queue of {@code depth} requests on this device, or null if this device (as opened, or on this
   * kernel) has none; the caller closes it before the device.
   */
  RequestQueue queue(int depth) throws IOException;
}
