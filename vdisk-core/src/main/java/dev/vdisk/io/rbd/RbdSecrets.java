package dev.vdisk.io.rbd;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The secrets an RBD name refers to by id ({@code key-secret=ID}, QEMU's rbd option), so that a cephx key appears in
 * no name, message or process listing: the command line defines them ({@code --object secret,id=ID,...}, as in
 * QEMU), and connecting to a cluster reads them. Process-wide, as QEMU's objects are: a secret stays defined for the
 * rest of the process (vdisk's commands run one a process).
 */
public final class RbdSecrets {
  private static final Map<String, byte[]> SECRETS = new ConcurrentHashMap<>();

  private RbdSecrets() {}

  /** Defines (or redefines) the secret {@code id} as the bytes {@code value}. */
  public static void define(String id, byte[] value) {
    SECRETS.put(id, value.clone());
  }

  /**
   * The key librados takes for the secret {@code id}: its bytes in base64, as QEMU passes a secret to
   * {@code rados_conf_set(cluster, "key", ...)} ({@code qcrypto_secret_lookup_as_base64}).
   *
   * @throws BlockDeviceException EINVAL when no secret has that id
   */
  static String key(String id, RbdName name) throws BlockDeviceException {
    byte[] value = SECRETS.get(id);
    if (value == null) {
      throw new BlockDeviceException(BlockError.EINVAL, name + ": key-secret=" + id + ": no such secret (expected: "
          + "--object secret,id=" + id + ",data=KEY,format=base64 or secret,id=" + id + ",file=PATH,format=base64)");
    }
    return Base64.getEncoder().encodeToString(value);
  }
}
