/**
 * vdisk-cli: the {@code vdisk} command (picocli, one class per subcommand) over the library's front door,
 * {@link dev.vdisk.Vdisk}. It exports nothing: it is run, from the shaded jar on the class path.
 */
module dev.vdisk.cli {
  requires dev.vdisk.core;
  requires dev.vdisk.nbd;
  requires dev.vdisk.bench;
  requires dev.vdisk.advisor;
  requires info.picocli;
  // ManPages runs in the build only (picocli's man page generator is not in the jar).
  requires static info.picocli.codegen;
  requires com.fasterxml.jackson.databind;
  requires me.tongfei.progressbar;
  requires jdk.unsupported;

  opens dev.vdisk.cli to info.picocli, com.fasterxml.jackson.databind;
}
