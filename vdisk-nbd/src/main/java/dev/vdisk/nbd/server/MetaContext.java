package dev.vdisk.nbd.server;

import static dev.vdisk.nbd.protocol.NbdProtocol.BASE_ALLOCATION;
import static dev.vdisk.nbd.protocol.NbdProtocol.QEMU_ALLOCATION_DEPTH;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * The metadata contexts vdisk serves for every export, with their ids (fixed, so a reply is easy to read in a
 * packet capture) and the query syntax: a full name selects or lists that context; a bare namespace
 * ({@code base:}, {@code qemu:}) lists all of that namespace's contexts but selects nothing; queries in other
 * namespaces are ignored, as the protocol requires.
 */
enum MetaContext {
  ALLOCATION(BASE_ALLOCATION, 1),
  ALLOCATION_DEPTH(QEMU_ALLOCATION_DEPTH, 2);

  final String contextName;
  final int id;

  MetaContext(String name, int id) {
    this.contextName = name;
    this.id = id;
  }

  /** What {@code NBD_OPT_LIST_META_CONTEXT} returns for {@code queries} (all contexts when there are none). */
  static Set<MetaContext> list(List<String> queries) {
    if (queries.isEmpty()) {
      return EnumSet.allOf(MetaContext.class);
    }
    Set<MetaContext> found = EnumSet.noneOf(MetaContext.class);
    for (String q : queries) {
      for (MetaContext c : values()) {
        if (c.contextName.equals(q) || c.namespace().equals(q)) {
          found.add(c);
        }
      }
    }
    return found;
  }

  /** What {@code NBD_OPT_SET_META_CONTEXT} selects for {@code queries}, in query order without repeats. */
  static List<MetaContext> select(List<String> queries) {
    List<MetaContext> chosen = new ArrayList<>();
    for (String q : queries) {
      for (MetaContext c : values()) {
        if (c.contextName.equals(q) && !chosen.contains(c)) {
          chosen.add(c);
        }
      }
    }
    return List.copyOf(chosen);
  }

  private String namespace() {
    return contextName.substring(0, contextName.indexOf(':') + 1);
  }
}
