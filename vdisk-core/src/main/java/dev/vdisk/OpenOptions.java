package dev.vdisk;

import dev.vdisk.format.internal.FormatRegistry;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.io.ImageUser;
import java.util.Optional;

/**
 * How {@link Vdisk#open} opens an image: qemu-img's {@code -f}, {@code -t}, {@code -i}, {@code -r} and {@code -U}.
 * Build one with {@link #builder()}; the defaults are a probed format, {@code cache=writeback}, {@link Aio#THREADS} (as QEMU),
 * read-write, no force-share, with the backing chain, locked as qemu-img locks it ({@link ImageUser#TOOL}).
 *
 * @param format the format's name ({@code raw}, {@code qcow2}), or empty to probe (raw unless a signature says
 *     otherwise; a probed raw image refuses writes that would make it look like another format)
 * @param cache QEMU's cache mode, applied to the whole stack
 * @param aio how requests reach the host file ({@link Aio}: threads, native, io_uring or the default)
 * @param readOnly open without write access
 * @param forceShare open even while another process holds the image's write lock (read-only opens only)
 * @param backing open the backing chain (the default); false opens the image for its own facts only, as qemu-img info
 *     does (QEMU's BDRV_O_NO_BACKING and BDRV_O_NO_IO): neither the backing file nor an external data file is opened,
 *     so a missing one does not stop the open; reads of what the backing image would define are not meaningful, and
 *     reads of an external data file's clusters fail
 * @param user whose QEMU permissions the image's locks take and share (a host file's; other devices have none)
 * @param encryptionKey the password of a LUKS encrypted qcow2 image (the secret qemu-img's {@code encrypt.key-secret}
 *     names), for the image itself and not its backing files; empty for none
 */
public record OpenOptions(Optional<String> format, CacheMode cache, Aio aio, boolean readOnly, boolean forceShare,
    boolean backing, ImageUser user, Optional<byte[]> encryptionKey) {
  /**
   * Checks the combination.
   *
   * @throws IllegalArgumentException for an unknown format, force-share with a writable open, or {@code aio=native}
   *     without a direct cache mode (QEMU's message)
   */
  public OpenOptions {
    format.ifPresent(FormatRegistry::byName);
    java.util.Objects.requireNonNull(user, "user");
    new FileOptions(cache, readOnly, forceShare, true, user, aio); // force-share and aio=native checks
  }

  /** A builder with the defaults. */
  public static Builder builder() {
    return new Builder();
  }

  /** Builds {@link OpenOptions}; every setter returns the builder. */
  public static final class Builder {
    private String format;
    private CacheMode cache = CacheMode.WRITEBACK;
    private Aio aio = Aio.THREADS;
    private boolean readOnly;
    private boolean forceShare;
    private boolean backing = true;
    private ImageUser user = ImageUser.TOOL;
    private byte[] encryptionKey;

    private Builder() {}

    /** The format's name, or null to probe. */
    public Builder format(String name) {
      this.format = name;
      return this;
    }

    /** The cache mode (default {@link CacheMode#WRITEBACK}). */
    public Builder cache(CacheMode mode) {
      this.cache = mode;
      return this;
    }

    /** The aio mode (default {@link Aio#THREADS}). */
    public Builder aio(Aio mode) {
      this.aio = mode;
      return this;
    }

    /** Open without write access (default false). */
    public Builder readOnly(boolean on) {
      this.readOnly = on;
      return this;
    }

    /** Ignore another process's write lock; needs a read-only open (default false). */
    public Builder forceShare(boolean on) {
      this.forceShare = on;
      return this;
    }

    /** Open the backing chain (default true). */
    public Builder backing(boolean on) {
      this.backing = on;
      return this;
    }

    /** Whose locks the open takes (default {@link ImageUser#TOOL}; an NBD export, a resize, a copy's source). */
    public Builder user(ImageUser who) {
      this.user = who;
      return this;
    }

    /** The password of an encrypted image, or null for none (the default). */
    public Builder encryptionKey(byte[] password) {
      this.encryptionKey = password == null ? null : password.clone();
      return this;
    }

    /**
     * The options.
     *
     * @throws IllegalArgumentException as {@link OpenOptions#OpenOptions}
     */
    public OpenOptions build() {
      return new OpenOptions(Optional.ofNullable(format), cache, aio, readOnly, forceShare, backing, user,
          Optional.ofNullable(encryptionKey));
    }
  }
}
