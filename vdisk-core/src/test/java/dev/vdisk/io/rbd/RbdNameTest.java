package dev.vdisk.io.rbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.block.BlockDeviceException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** QEMU's rbd file names and --image-opts keys, parsed as QEMU's {@code qemu_rbd_parse_filename} does. */
class RbdNameTest {
  @Test
  void poolAndImage() throws Exception {
    RbdName n = RbdName.parse("rbd:rbd/disk");
    assertThat(n).isEqualTo(new RbdName("rbd", "", "disk", null, null, null, Map.of()));
    assertThat(n.toString()).isEqualTo("rbd:rbd/disk");
  }

  @Test
  void namespaceSnapshotConfIdAndOptionsInOrder() throws Exception {
    RbdName n = RbdName.parse("rbd:pool/ns/img@snap:conf=/etc/ceph/x.conf:id=vdisk:mon_host=10.0.0.1\\:6789:rbd_cache=false");
    Map<String, String> options = new LinkedHashMap<>();
    options.put("mon_host", "10.0.0.1:6789");
    options.put("rbd_cache", "false");
    assertThat(n).isEqualTo(new RbdName("pool", "ns", "img", "snap", "/etc/ceph/x.conf", "vdisk", options));
    assertThat(n.options().keySet()).containsExactly("mon_host", "rbd_cache");
    assertThat(n.toString()).isEqualTo("rbd:pool/ns/img@snap");
  }

  @Test
  void fileNameRoundTripsWithEscapes() throws Exception {
    String text = "rbd:p/n/i\\@x@s\\:1:conf=/a\\:b.conf:id=u:key=AQ\\=\\=";
    RbdName n = RbdName.parse(text);
    assertThat(n.image()).isEqualTo("i@x");
    assertThat(n.snapshot()).isEqualTo("s:1");
    assertThat(n.conf()).isEqualTo("/a:b.conf");
    assertThat(n.options()).containsEntry("key", "AQ==");
    assertThat(RbdName.parse(n.toFileName())).isEqualTo(n);
  }

  @Test
  void imageOptsKeys() throws Exception {
    RbdName n = RbdName.fromOptions(Map.of("pool", "rbd", "image", "d", "namespace", "ns", "snapshot", "s", "conf", "/c", "user", "u"));
    assertThat(n).isEqualTo(new RbdName("rbd", "ns", "d", "s", "/c", "u", Map.of()));
    // key-secret names the secret; the name carries the id, never the key.
    RbdName secret = RbdName.fromOptions(Map.of("pool", "rbd", "image", "d", "key-secret", "sec0"));
    assertThat(secret.options()).containsExactly(Map.entry("key-secret", "sec0"));
    assertThat(RbdName.parse(secret.toFileName())).isEqualTo(secret);
    assertThatThrownBy(() -> RbdName.fromOptions(Map.of("pool", "rbd", "image", "d", "server", "x")))
        .isInstanceOf(BlockDeviceException.class).hasMessageContaining("key 'server' is not supported");
  }

  @Test
  void qemuJsonNameInQemusKeyOrderWithoutLibradosOptions() throws Exception {
    // qemu-img 7.2's info of these names (RbdInteropIT compares whole outputs on a cluster).
    assertThat(RbdName.parse("rbd:rbd/c-src@s1:conf=/tmp/ceph.conf:id=admin:rbd_cache=false:mon_host=127.0.0.1\\:13471")
        .toQemuJson("raw")).isEqualTo("json:{\"driver\": \"raw\", \"file\": {\"pool\": \"rbd\", \"image\": \"c-src\", "
            + "\"conf\": \"/tmp/ceph.conf\", \"snapshot\": \"s1\", \"driver\": \"rbd\", \"namespace\": \"\", \"user\": \"admin\"}}");
    assertThat(RbdName.parse("rbd:p/ns/i\"x").toQemuJson("qcow2")).isEqualTo(
        "json:{\"driver\": \"qcow2\", \"file\": {\"pool\": \"p\", \"image\": \"i\\\"x\", \"driver\": \"rbd\", \"namespace\": \"ns\"}}");
    // Named by options: the rbd driver alone has no "file" around it, and namespace shows only where given.
    RbdName byOptions = RbdName.fromOptions(java.util.Map.of("pool", "p", "image", "i", "user", "u"));
    assertThat(byOptions.toQemuJson(null, false)).isEqualTo(
        "json:{\"pool\": \"p\", \"image\": \"i\", \"driver\": \"rbd\", \"user\": \"u\"}");
    assertThat(byOptions.toQemuJson("raw", true)).isEqualTo(
        "json:{\"driver\": \"raw\", \"file\": {\"pool\": \"p\", \"image\": \"i\", \"driver\": \"rbd\", \"namespace\": \"\", \"user\": \"u\"}}");
  }

  @Test
  void incompleteNamesAreOneLineErrors() {
    for (String bad : new String[] {"rbd:", "rbd:pool", "rbd:pool/", "rbd:/img", "rbd:pool/img@", "rbd:pool/img:conf"}) {
      assertThatThrownBy(() -> RbdName.parse(bad)).as(bad).isInstanceOf(BlockDeviceException.class)
          .hasMessageStartingWith("rbd image name: '" + bad + "' (expected: ").hasMessageNotContaining("\n");
    }
    assertThat(RbdName.isRbd("./rbd:local")).isFalse();
    assertThat(RbdName.isRbd("rbd:p/i")).isTrue();
  }
}
