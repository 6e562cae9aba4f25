package dev.vdisk.advisor.qemu;

import dev.vdisk.advisor.model.DiskSite;

/**
 * Where a command-line disk's settings live.
 *
 * @param drive the {@code -drive} argument, or null for a {@code -blockdev} disk
 * @param format the format node ({@code -blockdev driver=qcow2...}), or null
 * @param protocol the protocol node (file, host_device...), or null
 * @param device the {@code -device} that attaches it, or null
 */
record CmdlineSite(OptionArg drive, Node format, Node protocol, OptionArg device) implements DiskSite {
  /**
   * A {@code -blockdev} node: an argument, or a child defined inline in one under a key prefix.
   *
   * @param arg the argument it is written in
   * @param prefix its keys' prefix there ({@code ""} or {@code "file."})
   */
  record Node(OptionArg arg, String prefix) {
    String get(String key) {
      return arg.get(prefix + key);
    }

    boolean has(String key) {
      return arg.has(prefix + key);
    }

    void set(String key, String value) {
      arg.set(prefix + key, value);
    }

    String driver() {
      return get("driver");
    }
  }
}
