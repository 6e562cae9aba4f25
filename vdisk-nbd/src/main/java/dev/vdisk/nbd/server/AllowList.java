package dev.vdisk.nbd.server;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.util.List;

/**
 * Which TCP peers may connect: a list of CIDR blocks ({@code 10.0.0.0/8}, {@code ::1/128}, or a bare address).
 * An empty list allows everyone. Unix-socket peers are always allowed (file permissions guard the socket).
 * An IPv4 block also matches IPv4-mapped IPv6 peers.
 */
public final class AllowList {
  private final List<Block> blocks;

  private record Block(byte[] network, int prefix, String text) {
    boolean contains(byte[] address) {
      if (address.length != network.length) {
        return false;
      }
      int full = prefix / 8;
      for (int i = 0; i < full; i++) {
        if (address[i] != network[i]) {
          return false;
        }
      }
      int rest = prefix % 8;
      if (rest == 0) {
        return true;
      }
      int mask = 0xff << (8 - rest) & 0xff;
      return (address[full] & mask) == (network[full] & mask);
    }
  }

  private AllowList(List<Block> blocks) {
    this.blocks = blocks;
  }

  /** Everyone may connect. */
  public static final AllowList ANYONE = new AllowList(List.of());

  /**
   * Parses CIDR blocks; addresses must be literal (no name lookups).
   *
   * @throws IllegalArgumentException naming the bad entry and the expected form
   */
  public static AllowList parse(List<String> cidrs) {
    return new AllowList(cidrs.stream().map(AllowList::block).toList());
  }

  /** True if {@code peer} may connect. */
  public boolean allows(SocketAddress peer) {
    if (blocks.isEmpty() || peer instanceof UnixDomainSocketAddress) {
      return true;
    }
    if (!(peer instanceof InetSocketAddress inet) || inet.getAddress() == null) {
      return false;
    }
    byte[] address = canonical(inet.getAddress());
    return blocks.stream().anyMatch(b -> b.contains(address));
  }

  @Override
  public String toString() {
    return blocks.isEmpty() ? "any" : String.join(",", blocks.stream().map(Block::text).toList());
  }

  private static Block block(String text) {
    String t = text.trim();
    int slash = t.indexOf('/');
    String host = slash < 0 ? t : t.substring(0, slash);
    InetAddress address;
    if (host.isEmpty() || !(host.indexOf(':') >= 0 || host.chars().allMatch(c -> c == '.' || Character.isDigit(c)))) {
      throw bad(text);
    }
    try {
      address = InetAddress.getByName(host); // a literal: no lookup happens
    } catch (UnknownHostException e) {
      throw bad(text);
    }
    byte[] network = canonical(address);
    int max = network.length * 8;
    int prefix = max;
    if (slash >= 0) {
      try {
        prefix = Integer.parseInt(t.substring(slash + 1));
      } catch (NumberFormatException e) {
        throw bad(text);
      }
      if (address instanceof Inet6Address && network.length == 4) {
        prefix -= 96; // ::ffff:a.b.c.d/120 is an IPv4 /24
      }
      if (prefix < 0 || prefix > max) {
        throw bad(text);
      }
    }
    return new Block(network, prefix, t);
  }

  private static IllegalArgumentException bad(String text) {
    return new IllegalArgumentException("allow: '" + text + "' (expected: an IP address or CIDR block, like 10.0.0.0/8 or ::1/128)");
  }

  /** IPv4-mapped IPv6 addresses as their IPv4 form, so one rule covers both kinds of socket. */
  private static byte[] canonical(InetAddress a) {
    byte[] b = a.getAddress();
    if (a instanceof Inet4Address || b.length != 16) {
      return b;
    }
    for (int i = 0; i < 10; i++) {
      if (b[i] != 0) {
        return b;
      }
    }
    if ((b[10] & 0xff) == 0xff && (b[11] & 0xff) == 0xff) {
      return new byte[] {b[12], b[13], b[14], b[15]};
    }
    return b;
  }
}
