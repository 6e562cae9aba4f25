package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.BASE_ALLOCATION;
import static dev.vdisk.nbd.protocol.NbdProtocol.QEMU_ALLOCATION_DEPTH;
import static dev.vdisk.nbd.protocol.NbdProtocol.QEMU_DIRTY_BITMAP;

import java.util.ArrayList;
import java.util.List;

/**
 * A metadata context an export offers, with its id (fixed, so a reply is easy to read in a packet capture):
 * {@code base:allocation} for every export, {@code qemu:allocation-depth} for one that offers it, {@code qemu:dirty-bitmap:NAME} for
 * one that exports a bitmap. Query syntax: a full name selects or lists that context; a prefix ending in {@code :}
 * ({@code base:}, {@code qemu:}, {@code qemu:dirty-bitmap:}) lists the contexts under it but selects nothing; other
 * queries are ignored, as the protocol requires.
 *
 * @param contextName the context's name
 * @param id its id in replies
 */
record MetaContext(String contextName, int id) {
  static final MetaContext ALLOCATION = new MetaContext(BASE_ALLOCATION, 1);
  static final MetaContext ALLOCATION_DEPTH = new MetaContext(QEMU_ALLOCATION_DEPTH, 2);
  private static final int DIRTY_BITMAP_ID = 3;

  /** The contexts {@code e} offers. */
  static List<MetaContext> of(Export e) {
    List<MetaContext> offered = new ArrayList<>(List.of(ALLOCATION));
    if (e.allocationDepth()) {
      offered.add(ALLOCATION_DEPTH);
    }
    if (e.bitmap() != null) {
      offered.add(new MetaContext(QEMU_DIRTY_BITMAP + e.bitmap().name(), DIRTY_BITMAP_ID));
    }
    return List.copyOf(offered);
  }

  /** Whether this is the export's dirty bitmap. */
  boolean dirtyBitmap() {
    return id == DIRTY_BITMAP_ID;
  }

  /** What {@code NBD_OPT_LIST_META_CONTEXT} returns for {@code queries} among {@code offered} (all of them when there are no queries). */
  static List<MetaContext> list(List<String> queries, List<MetaContext> offered) {
    if (queries.isEmpty()) {
      return offered;
    }
    List<MetaContext> found = new ArrayList<>();
    for (MetaContext c : offered) {
      for (String q : queries) {
        if (c.contextName.equals(q) || q.endsWith(":") && c.contextName.startsWith(q)) {
          found.add(c);
          break;
        }
      }
    }
    return found;
  }

  /** What {@code NBD_OPT_SET_META_CONTEXT} selects for {@code queries} among {@code offered}, in query order without repeats. */
  static List<MetaContext> select(List<String> queries, List<MetaContext> offered) {
    List<MetaContext> chosen = new ArrayList<>();
    for (String q : queries) {
      for (MetaContext c : offered) {
        if (c.contextName.equals(q) && !chosen.contains(c)) {
          chosen.add(c);
        }
      }
    }
    return List.copyOf(chosen);
  }
}
