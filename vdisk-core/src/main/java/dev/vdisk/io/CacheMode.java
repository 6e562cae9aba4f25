package dev.vdisk.io;

import java.util.List;
import java.util.Locale;

/**
 * QEMU's host cache modes as the three independent switches they are.
 *
 * <table>
 *   <caption>The five presets</caption>
 *   <tr><th>mode</th><th>direct (O_DIRECT)</th><th>writethrough (flush after every write)</th><th>ignoreFlushes</th></tr>
 *   <tr><td>writeback</td><td>no</td><td>no</td><td>no</td></tr>
 *   <tr><td>writethrough</td><td>no</td><td>yes</td><td>no</td></tr>
 *   <tr><td>none (alias off)</td><td>yes</td><td>no</td><td>no</td></tr>
 *   <tr><td>directsync</td><td>yes</td><td>yes</td><td>no</td></tr>
 *   <tr><td>unsafe</td><td>no</td><td>no</td><td>yes</td></tr>
 * </table>
 *
 * <p>Only {@link #direct} reaches the host file ({@link FileDevice}); writethrough and ignored flushes are
 * properties of the whole stack (format metadata included), so they are filters on top, as in QEMU.
 *
 * @param name QEMU's spelling
 * @param direct bypass the host page cache (O_DIRECT)
 * @param writethrough every write is followed by a flush of the whole stack before it completes
 * @param ignoreFlushes flushes return at once without reaching storage
 */
public record CacheMode(String name, boolean direct, boolean writethrough, boolean ignoreFlushes) {
  public static final CacheMode WRITEBACK = new CacheMode("writeback", false, false, false);
  public static final CacheMode WRITETHROUGH = new CacheMode("writethrough", false, true, false);
  public static final CacheMode NONE = new CacheMode("none", true, false, false);
  public static final CacheMode DIRECTSYNC = new CacheMode("directsync", true, true, false);
  public static final CacheMode UNSAFE = new CacheMode("unsafe", false, false, true);

  /** The five presets in QEMU's documentation order. */
  public static final List<CacheMode> PRESETS = List.of(WRITEBACK, WRITETHROUGH, NONE, DIRECTSYNC, UNSAFE);

  /**
   * Parses QEMU's spelling ({@code writeback writethrough none off directsync unsafe}).
   *
   * @throws IllegalArgumentException naming the value and the accepted spellings
   */
  public static CacheMode parse(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT);
    if (t.equals("off")) {
      return NONE;
    }
    for (CacheMode m : PRESETS) {
      if (m.name.equals(t)) {
        return m;
      }
    }
    throw new IllegalArgumentException(
        "cache mode: '" + text + "' (expected: writeback, writethrough, none, off, directsync, unsafe)");
  }

  @Override
  public String toString() {
    return name;
  }
}
