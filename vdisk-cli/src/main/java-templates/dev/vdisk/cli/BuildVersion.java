package dev.vdisk.cli;

/**
 * The project's version, a constant compiled in: Maven's resource filtering writes this source into
 * target/generated-sources/version (see vdisk-cli/pom.xml), so {@code --version} reads no resource from the jar.
 */
final class BuildVersion {
  /** The Maven project version, e.g. {@code 0.1.0-SNAPSHOT}. */
  static final String VERSION = "${project.version}";

  private BuildVersion() {}
}
