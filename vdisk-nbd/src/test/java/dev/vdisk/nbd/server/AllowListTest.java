package dev.vdisk.nbd.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

class AllowListTest {
  private static InetSocketAddress at(String ip) throws Exception {
    return new InetSocketAddress(InetAddress.getByName(ip), 1);
  }

  @Test
  void cidrBlocksMatchByPrefix() throws Exception {
    AllowList a = AllowList.parse(List.of("10.1.0.0/16", "192.168.5.7", "fd00::/8"));
    assertThat(a.allows(at("10.1.200.3"))).isTrue();
    assertThat(a.allows(at("10.2.0.1"))).isFalse();
    assertThat(a.allows(at("192.168.5.7"))).isTrue();
    assertThat(a.allows(at("192.168.5.8"))).isFalse();
    assertThat(a.allows(at("fd12::1"))).isTrue();
    assertThat(a.allows(at("fe80::1"))).isFalse();
    assertThat(a.allows(at("::ffff:10.1.2.3"))).as("IPv4-mapped").isTrue();
    assertThat(a.allows(UnixDomainSocketAddress.of("/tmp/x"))).isTrue();
    assertThat(AllowList.parse(List.of("10.0.0.0/7")).allows(at("11.255.0.1"))).isTrue();
    assertThat(AllowList.ANYONE.allows(at("8.8.8.8"))).isTrue();
  }

  @Test
  void badBlocksAreRefusedWithTheExpectedForm() {
    for (String bad : List.of("10.0.0.0/33", "example.com", "10.0.0.0/x", "", "::1/129")) {
      assertThatThrownBy(() -> AllowList.parse(List.of(bad))).as(bad).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("(expected: an IP address or CIDR block");
    }
  }
}
