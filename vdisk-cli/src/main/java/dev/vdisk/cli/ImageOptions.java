package dev.vdisk.cli;

import dev.vdisk.CheckListener;
import dev.vdisk.CheckReport;
import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.format.Repair;
import dev.vdisk.format.internal.FormatRegistry;
import dev.vdisk.format.internal.RbdImages;
import dev.vdisk.io.Aio;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.ImageUser;
import dev.vdisk.io.rbd.RbdSecrets;
import dev.vdisk.nbd.client.NbdClientDevice;
import dev.vdisk.nbd.client.NbdClientOptions;
import dev.vdisk.nbd.client.NbdUri;
import dev.vdisk.nbd.client.TlsClientCredentials;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The options every command that opens an existing image shares: {@code -f fmt}, {@code -U}, {@code --image-opts} and
 * {@code --object}, and the opening itself: a host file, or an NBD export named in one of QEMU's syntaxes
 * ({@link ImageSpec}), opened through an NBD client device with the format stacked on it.
 */
final class ImageOptions {
  /** Environment variable: seconds an NBD client waits for a server before it gives up (default 30). */
  static final String NBD_TIMEOUT_ENV = "VDISK_NBD_TIMEOUT";

  @Option(names = "-f", paramLabel = "FMT", description = "Image format; probed when absent (raw unless a signature says otherwise).")
  String format;

  @Option(names = "-U", description = "Open even if another process holds the image (read-only opens only).")
  boolean forceShare;

  @Option(names = "--image-opts", description = "FILE is a QEMU option string: driver=raw|qcow2,file.driver=file|nbd,... "
      + "or driver=nbd,server.type=inet|unix,server.host=H,server.port=P,server.path=S,export=E[,tls-creds=ID].")
  boolean imageOpts;

  @Spec(Spec.Target.MIXEE) CommandSpec command;

  /** The {@code tls-creds-x509} objects, as given; secrets are defined as they are read ({@link #object}). */
  List<String> objects = new ArrayList<>();

  @Option(names = "--object", paramLabel = "OBJECT", description = "tls-creds-x509,id=ID,endpoint=client,dir=DIR: "
      + "TLS credentials for NBD images (tls-creds=ID, or the only one for nbds:// names); "
      + "secret,id=ID,data=TEXT|file=PATH[,format=raw|base64]: a secret, e.g. an RBD image's key (key-secret=ID).")
  void object(String text) {
    if (!SecretObject.isSecret(text)) {
      objects.add(text);
      return;
    }
    try {
      SecretObject secret = SecretObject.parse(text);
      RbdSecrets.define(secret.id(), secret.value());
      secrets.put(secret.id(), secret.value());
    } catch (CliException e) {
      throw new ParameterException(command.commandLine(), e.getMessage());
    }
  }

  /** The {@code --object secret} values by id: encrypted images' passwords ({@code encrypt.key-secret=ID}). */
  Map<String, byte[]> secrets = new HashMap<>();

  /**
   * The id of the secret holding the password of an image named by its file name rather than by {@code --image-opts}
   * (serve's {@code --export ...,encrypt.key-secret=ID}), or null.
   */
  String keySecret;

  /** NBD connections to open where the server allows several (convert's parallel reads ask for more). */
  int nbdConnections = 1;

  /** Options for another image of the same command: {@code format}, and this one's {@code -U}, {@code --image-opts}, {@code --object}. */
  ImageOptions sibling(String format) {
    ImageOptions o = new ImageOptions();
    o.format = format;
    o.forceShare = forceShare;
    o.imageOpts = imageOpts;
    o.objects = objects;
    o.secrets = secrets;
    o.nbdConnections = nbdConnections;
    return o;
  }

  /**
   * Opens {@code file} through the library's front door after checking the arguments, and prints QEMU's warning when
   * a probe guessed raw for a writable open (where qemu-img and qemu-io print it).
   */
  Image open(String file, CacheMode cache, boolean readOnly, PrintWriter err) throws IOException {
    return open(file, cache, readOnly, ImageUser.TOOL, err);
  }

  /** {@link #open}, locking the image with {@code user}'s permissions (as qemu-nbd, qemu-img resize or convert). */
  Image open(String file, CacheMode cache, boolean readOnly, ImageUser user, PrintWriter err) throws IOException {
    return open(file, cache, Aio.THREADS, readOnly, user, err);
  }

  /** {@link #open}, with the aio mode {@code aio} for a host file (an NBD image has none). */
  Image open(String file, CacheMode cache, Aio aio, boolean readOnly, ImageUser user, PrintWriter err)
      throws IOException {
    ImageSpec spec = ImageSpec.parse(file, imageOpts);
    OpenOptions.Builder options = OpenOptions.builder().format(format(spec)).cache(cache).readOnly(readOnly)
        .forceShare(forceShare).user(user).encryptionKey(key(spec));
    Image image = spec.isNbd() ? openNbd(spec, options.build())
        : Vdisk.open(checkedPath(spec.file()), options.aio(aio).build());
    warnIfProbedRaw(spec.label(), image.probed(), image.format(), readOnly, err);
    return image;
  }

  /**
   * Opens {@code file} read-only, with its backing images or (qemu-img info's open) without them, with no warning.
   */
  Image openImage(String file, boolean backing) throws IOException {
    ImageSpec spec = ImageSpec.parse(file, imageOpts);
    OpenOptions options = OpenOptions.builder().format(format(spec)).readOnly(true).forceShare(forceShare)
        .backing(backing).encryptionKey(key(spec)).build();
    return spec.isNbd() ? openNbd(spec, options) : Vdisk.open(checkedPath(spec.file()), options);
  }

  /** The image of the NBD export {@code spec} names; the image owns the connection, which a failed open closes. */
  private Image openNbd(ImageSpec spec, OpenOptions options) throws IOException {
    NbdClientDevice device = openNbd(spec, options.readOnly());
    try {
      return Vdisk.open(device, new NbdImageContext(spec.label(), options.readOnly(), options.backing()), options);
    } catch (IOException | RuntimeException e) {
      device.close();
      throw e;
    }
  }

  /**
   * {@code qemu-img check} (with {@code mode}, {@code check -r}) of {@code file}, a host file or an NBD export, read
   * with {@code cache} ({@code -T}).
   */
  CheckReport check(String file, CacheMode cache, Repair mode, CheckListener listener) throws IOException {
    ImageSpec spec = ImageSpec.parse(file, imageOpts);
    checkedFormat();
    OpenOptions options = OpenOptions.builder().format(format(spec)).cache(cache).readOnly(true).forceShare(forceShare)
        .encryptionKey(key(spec)).build();
    if (!spec.isNbd()) {
      Path path = checkedPath(spec.file());
      return mode == null ? Vdisk.check(path, options, listener) : Vdisk.repair(path, mode, options, listener);
    }
    try (NbdClientDevice device = openNbd(spec, mode == null)) {
      return Vdisk.check(device, new NbdImageContext(spec.label(), mode == null, false), options, mode, listener);
    }
  }

  /** The name {@code file} is printed under: QEMU's URI for an NBD export, the file name otherwise. */
  String label(String file) {
    return ImageSpec.parse(file, imageOpts).label();
  }

  /** The format QEMU reports for {@code file} when its options open no format layer ({@code driver=nbd}), if so. */
  Optional<String> protocolFormat(String file) {
    return Optional.ofNullable(ImageSpec.parse(file, imageOpts).protocol());
  }

  /**
   * The name qemu-img info prints for {@code file} where it is not the name of vdisk's opened image: an image on RBD
   * named by its options (QEMU's {@code json:{...}} of those options); empty otherwise.
   */
  Optional<String> optionsName(String file) {
    ImageSpec spec = ImageSpec.parse(file, imageOpts);
    return spec.isRbdByOptions() ? Optional.of(spec.label()) : Optional.empty();
  }

  /** Whether {@code file} is an image on Ceph RBD (an {@code rbd:} name, or RBD options). */
  boolean onRbd(String file) {
    String f = ImageSpec.parse(file, imageOpts).file();
    return f != null && RbdImages.isRbd(f);
  }

  /**
   * The password of the encrypted image {@code spec} names: the secret its {@code encrypt.key-secret=ID} (or else
   * {@link #keySecret}) names, or null without one.
   */
  private byte[] key(ImageSpec spec) {
    String id = spec.keySecret() != null ? spec.keySecret() : keySecret;
    return id == null ? null : SecretObject.value(secrets, id);
  }

  private String format(ImageSpec spec) {
    checkedFormat();
    return spec.format() != null ? spec.format() : format;
  }

  /**
   * Connects to the export {@code spec} names, with the TLS credentials its {@code tls-creds} (or the only client
   * {@code --object}, or an {@code nbds} URI's {@code tls-certificates}) names, waiting at most
   * {@value #NBD_TIMEOUT_ENV} seconds (30 by default) for the server at every step.
   */
  NbdClientDevice openNbd(ImageSpec spec, boolean readOnly) throws IOException {
    NbdClientOptions options = NbdClientOptions.defaults(readOnly).withConnections(nbdConnections)
        .withTimeout(nbdTimeout());
    if (spec.nbd().tls()) {
      options = options.withTls(TlsClientCredentials.load(Path.of(tlsDirectory(spec))), spec.tlsHostname());
    }
    return NbdClientDevice.open(spec.nbd(), options);
  }

  private String tlsDirectory(ImageSpec spec) {
    List<TlsCredsObject> objs = objects.stream().map(o -> TlsCredsObject.parse(o, "client")).toList();
    if (spec.tlsCreds() != null) {
      return objs.stream().filter(o -> o.id().equals(spec.tlsCreds())).findFirst().map(TlsCredsObject::dir)
          .orElseThrow(() -> new CliException("tls-creds=" + spec.tlsCreds() + ": no such object (expected: --object "
              + "tls-creds-x509,id=" + spec.tlsCreds() + ",endpoint=client,dir=DIR)"));
    }
    Optional<String> inUri = NbdUri.tlsCertificates(spec.nbd().name());
    if (inUri.isPresent()) {
      return inUri.get();
    }
    if (objs.size() == 1) {
      return objs.getFirst().dir();
    }
    throw new CliException(spec.nbd().name() + ": TLS needs credentials (expected: ?tls-certificates=DIR, or one "
        + "--object tls-creds-x509,id=ID,endpoint=client,dir=DIR)");
  }

  private static Duration nbdTimeout() {
    String v = System.getenv(NBD_TIMEOUT_ENV);
    if (v == null || v.isBlank()) {
      return NbdClientOptions.DEFAULT_TIMEOUT;
    }
    try {
      long s = Long.parseLong(v.strip());
      if (s > 0) {
        return Duration.ofSeconds(s);
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new CliException(NBD_TIMEOUT_ENV + "=" + v + " (expected: a number of seconds > 0)");
  }

  private static void warnIfProbedRaw(String file, boolean probed, String format, boolean readOnly, PrintWriter err) {
    if (probed && format.equals("raw") && !readOnly) {
      err.println("WARNING: Image format was not specified for '" + file + "' and probing guessed raw.");
      err.println("         Automatically detecting the format is dangerous for raw images, "
          + "write operations on block 0 will be restricted.");
      err.println("         Specify the 'raw' format explicitly to remove the restrictions.");
      err.flush();
    }
  }

  /**
   * {@code file} as a path, after checking {@code -f} and that the file exists and is not a directory; an RBD name
   * ({@code rbd:...}) is checked when it is opened.
   */
  Path checkedPath(String file) {
    checkedFormat();
    Path path = Path.of(file);
    if (RbdImages.isRbd(file)) {
      return path;
    }
    if (!Files.exists(path)) {
      throw new CliException(file + ": no such file (expected: an existing image file)");
    }
    if (Files.isDirectory(path)) {
      throw new CliException(file + ": is a directory (expected: an image file)");
    }
    return path;
  }

  private void checkedFormat() {
    if (format != null) {
      FormatRegistry.byName(format);
    }
  }
}
