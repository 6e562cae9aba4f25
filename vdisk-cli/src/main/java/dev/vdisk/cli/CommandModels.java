// Written by CommandModelGenerator (test sources) from the picocli annotations of the classes named below; do
// not edit. CommandModelsTest fails when this file differs from what the generator writes now; rewrite it with
// ./mvnw -pl vdisk-cli -am test -Dtest=CommandModelsTest -Dvdisk.writeModels=true -Dsurefire.failIfNoSpecifiedTests=false
package dev.vdisk.cli;

import java.util.List;
import java.util.Optional;
import picocli.CommandLine.Help.Visibility;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;
import picocli.CommandLine.ScopeType;

/**
 * picocli's model of vdisk and of its short commands, built in code: picocli's own model reads the annotations,
 * and the JVM spins a proxy class for each annotation type it reads, which costs a short command more than the
 * rest of its start. The same model as the annotations' (CommandModelsTest compares every attribute and the help).
 */
final class CommandModels {
  private CommandModels() {}

  /** The name of each of {@code Main}'s subcommands, in its order. */
  static final List<String> SUBCOMMAND_NAMES = List.of("create", "info", "map", "check", "snapshot", "resize", "convert", "compare", "measure", "io", "bench", "serve", "advise", "bitmap", "rebase", "commit", "amend", "dd", "help", "generate-completion");

  /** The subcommand {@code name}'s model, for a new command object whose parent is {@code parent}; empty for a
   * command without a model in code. */
  static Optional<CommandSpec> subcommand(String name, Main parent) {
    return Optional.ofNullable(switch (name) {
      case "create" -> create(new CreateCommand(), parent);
      case "info" -> info(new InfoCommand(), parent);
      case "map" -> map(new MapCommand(), parent);
      case "check" -> check(new CheckCommand(), parent);
      case "resize" -> resize(new ResizeCommand(), parent);
      case "convert" -> convert(new ConvertCommand(), parent);
      case "compare" -> compare(new CompareCommand(), parent);
      case "measure" -> measure(new MeasureCommand(), parent);
      case "rebase" -> rebase(new RebaseCommand(), parent);
      case "commit" -> commit(new CommitCommand(), parent);
      case "amend" -> amend(new AmendCommand(), parent);
      default -> null;
    });
  }

  /** The model of vdisk itself, without subcommands, bound to {@code c}. */
  @SuppressWarnings("unchecked")
  static CommandSpec vdisk(Main c) {
    CommandSpec s = CommandSpec.wrapWithoutInspection(c);
    s.name("vdisk");
    s.usageMessage().description("Virtual-disk images for KVM/QEMU, with qemu-img's command line.");
    s.versionProvider(new Main.Version());
    s.addOption(ModelBinding.field(() -> c.debug, v -> c.debug = (boolean) v).bind(OptionSpec.builder("--debug")
        .type(boolean.class).arity("0").paramLabel("<debug>")
        .description("Print the stack trace of an error.")
        .descriptionKey("").prompt("").scopeType(ScopeType.INHERIT)
        .withToString("field boolean dev.vdisk.cli.Main.debug").initialValue(c.debug)).build());
    c.spec = s;
    s.addMixin("mixinStandardHelpOptions", standardHelp());
    return s;
  }

  /** The model of {@code vdisk create}, bound to {@code c}. */
  @SuppressWarnings("unchecked")
  static CommandSpec create(CreateCommand c, Main parent) {
    CommandSpec s = CommandSpec.wrapWithoutInspection(c);
    s.name("create");
    s.usageMessage().description("Create a new image.");
    s.usageMessage().footer("  vdisk create -f qcow2 -o preallocation=metadata disk.qcow2 20G", "  vdisk create -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2");
    s.usageMessage().footerHeading("%nExamples:%n");
    c.main = parent;
    s.addOption(ModelBinding.field(() -> c.format, v -> c.format = (String) v).bind(OptionSpec.builder("-f")
        .type(String.class).arity("1").paramLabel("FMT")
        .description("Image format (default: raw).")
        .descriptionKey("").prompt("").defaultValue("raw")
        .withToString("field String dev.vdisk.cli.CreateCommand.format").initialValue(c.format)).build());
    s.addOption(ModelBinding.field(() -> c.options, v -> c.options = (java.util.List<String>) v).bind(OptionSpec.builder("-o")
        .type(java.util.List.class).auxiliaryTypes(String.class).arity("1").paramLabel("OPTIONS")
        .description("Format options, key=value[,key=value]... (repeatable); 'help' lists them.")
        .descriptionKey("").prompt("")
        .withToString("field java.util.List<String> dev.vdisk.cli.CreateCommand.options").initialValue(c.options)).build());
    s.addOption(ModelBinding.field(() -> c.backing, v -> c.backing = (String) v).bind(OptionSpec.builder("-b")
        .type(String.class).arity("1").paramLabel("BACKING")
        .description("Backing file (qcow2), recorded as given; relative names are relative to FILE's directory.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.CreateCommand.backing").initialValue(c.backing)).build());
    s.addOption(ModelBinding.field(() -> c.backingFormat, v -> c.backingFormat = (String) v).bind(OptionSpec.builder("-F")
        .type(String.class).arity("1").paramLabel("BACKING_FMT")
        .description("Format of the backing file (required with -b).")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.CreateCommand.backingFormat").initialValue(c.backingFormat)).build());
    s.addOption(ModelBinding.field(() -> c.unsafe, v -> c.unsafe = (boolean) v).bind(OptionSpec.builder("-u")
        .type(boolean.class).arity("0").paramLabel("<unsafe>")
        .description("Unsafe: do not open the backing file (SIZE is then required).")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.CreateCommand.unsafe").initialValue(c.unsafe)).build());
    s.addOption(ModelBinding.field(() -> c.force, v -> c.force = (boolean) v).bind(OptionSpec.builder("--force")
        .type(boolean.class).arity("0").paramLabel("<force>")
        .description("Accepted for scripts written for older vdisk: an existing file is replaced anyway.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.CreateCommand.force").initialValue(c.force)).build());
    s.addOption(ModelBinding.field(() -> c.quiet, v -> c.quiet = (boolean) v).bind(OptionSpec.builder("-q")
        .type(boolean.class).arity("0").paramLabel("<quiet>")
        .description("Quiet: print nothing but errors.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.CreateCommand.quiet").initialValue(c.quiet)).build());
    s.addPositional(ModelBinding.field(() -> c.file, v -> c.file = (String) v).bind(PositionalParamSpec.builder().index("0")
        .type(String.class).arity("0..1").paramLabel("FILE")
        .description("The image file to create.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.CreateCommand.file").initialValue(c.file)).build());
    s.addPositional(ModelBinding.field(() -> c.size, v -> c.size = (String) v).bind(PositionalParamSpec.builder().index("1")
        .type(String.class).arity("0..1").paramLabel("SIZE")
        .description("Virtual size in bytes; suffixes k, M, G, T, P, E (binary), decimals like 1.5G.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.CreateCommand.size").initialValue(c.size)).build());
    s.addMixin("mixinStandardHelpOptions", standardHelp());
    return s;
  }

  /** The model of {@code vdisk info}, bound to {@code c}. */
  @SuppressWarnings("unchecked")
  static CommandSpec info(InfoCommand c, Main parent) {
    CommandSpec s = CommandSpec.wrapWithoutInspection(c);
    s.name("info");
    s.usageMessage().description("Show an image's format and sizes.");
    s.usageMessage().footer("  vdisk info disk.qcow2", "  vdisk info --backing-chain --output=json overlay.qcow2");
    s.usageMessage().footerHeading("%nExamples:%n");
    c.main = parent;
    c.image = new ImageOptions();
    s.addMixin("image", imageOptions(c.image, s));
    c.output = new OutputOption();
    s.addMixin("output", outputOption(c.output, s));
    s.addOption(ModelBinding.field(() -> c.backingChain, v -> c.backingChain = (boolean) v).bind(OptionSpec.builder("--backing-chain")
        .type(boolean.class).arity("0").paramLabel("<backingChain>")
        .description("Show every image of the backing chain, top first.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.InfoCommand.backingChain").initialValue(c.backingChain)).build());
    s.addOption(ModelBinding.field(() -> c.breakdown, v -> c.breakdown = (boolean) v).bind(OptionSpec.builder("--breakdown")
        .type(boolean.class).arity("0").paramLabel("<breakdown>")
        .description("Show where the image's bytes are: metadata, data, zeroes, unused (vdisk only).")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.InfoCommand.breakdown").initialValue(c.breakdown)).build());
    s.addPositional(ModelBinding.field(() -> c.file, v -> c.file = (String) v).bind(PositionalParamSpec.builder().index("0")
        .type(String.class).arity("1").paramLabel("FILE")
        .description("The image.")
        .descriptionKey("").prompt("").required(true)
        .withToString("field String dev.vdisk.cli.InfoCommand.file").initialValue(c.file)).build());
    s.addMixin("mixinStandardHelpOptions", standardHelp());
    return s;
  }

  /** The model of {@code vdisk map}, bound to {@code c}. */
  @SuppressWarnings("unchecked")
  static CommandSpec map(MapCommand c, Main parent) {
    CommandSpec s = CommandSpec.wrapWithoutInspection(c);
    s.name("map");
    s.usageMessage().description("Show an image's allocation map.");
    s.usageMessage().footer("  vdisk map --output=json disk.qcow2");
    s.usageMessage().footerHeading("%nExamples:%n");
    c.main = parent;
    c.image = new ImageOptions();
    s.addMixin("image", imageOptions(c.image, s));
    c.output = new OutputOption();
    s.addMixin("output", outputOption(c.output, s));
    s.addOption(ModelBinding.field(() -> c.startOffset, v -> c.startOffset = (String) v).bind(OptionSpec.builder("--start-offset")
        .type(String.class).arity("1").paramLabel("N")
        .description("First byte to map (default 0).")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.MapCommand.startOffset").initialValue(c.startOffset)).build());
    s.addOption(ModelBinding.field(() -> c.maxLength, v -> c.maxLength = (String) v).bind(OptionSpec.builder("--max-length")
        .type(String.class).arity("1").paramLabel("N")
        .description("Bytes to map at most (default: to the end).")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.MapCommand.maxLength").initialValue(c.maxLength)).build());
    s.addPositional(ModelBinding.field(() -> c.file, v -> c.file = (String) v).bind(PositionalParamSpec.builder().index("0")
        .type(String.class).arity("1").paramLabel("FILE")
        .description("The image.")
        .descriptionKey("").prompt("").required(true)
        .withToString("field String dev.vdisk.cli.MapCommand.file").initialValue(c.file)).build());
    s.addMixin("mixinStandardHelpOptions", standardHelp());
    return s;
  }

  /** The model of {@code vdisk check}, bound to {@code c}. */
  @SuppressWarnings("unchecked")
  static CommandSpec check(CheckCommand c, Main parent) {
    CommandSpec s = CommandSpec.wrapWithoutInspection(c);
    s.name("check");
    s.usageMessage().description("Check an image's metadata for consistency.");
    s.usageMessage().footer("  vdisk check disk.qcow2", "  vdisk check -r leaks --output=json disk.qcow2");
    s.usageMessage().footerHeading("%nExamples:%n");
    c.main = parent;
    c.image = new ImageOptions();
    s.addMixin("image", imageOptions(c.image, s));
    c.output = new OutputOption();
    s.addMixin("output", outputOption(c.output, s));
    s.addOption(ModelBinding.field(() -> c.repair, v -> c.repair = (String) v).bind(OptionSpec.builder("-r")
        .type(String.class).arity("1").paramLabel("leaks|all")
        .description("Repair: 'leaks' frees leaked clusters only; 'all' also fixes refcounts too low, COPIED flags, and rebuilds broken refcount structures.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.CheckCommand.repair").initialValue(c.repair)).build());
    s.addOption(ModelBinding.field(() -> c.quiet, v -> c.quiet = (boolean) v).bind(OptionSpec.builder("-q")
        .type(boolean.class).arity("0").paramLabel("<quiet>")
        .description("Quiet: print no summary, only problems and errors.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.CheckCommand.quiet").initialValue(c.quiet)).build());
    s.addOption(ModelBinding.field(() -> c.cache, v -> c.cache = (String) v).bind(OptionSpec.builder("-T")
        .type(String.class).arity("1").paramLabel("CACHE")
        .description("Cache mode the image is read with (default: writeback).")
        .descriptionKey("").prompt("").defaultValue("writeback")
        .withToString("field String dev.vdisk.cli.CheckCommand.cache").initialValue(c.cache)).build());
    s.addPositional(ModelBinding.field(() -> c.file, v -> c.file = (String) v).bind(PositionalParamSpec.builder().index("0")
        .type(String.class).arity("1").paramLabel("FILE")
        .description("The image.")
        .descriptionKey("").prompt("").required(true)
        .withToString("field String dev.vdisk.cli.CheckCommand.file").initialValue(c.file)).build());
    s.addMixin("mixinStandardHelpOptions", standardHelp());
    return s;
  }

  /** The model of {@code vdisk resize}, bound to {@code c}. */
  @SuppressWarnings("unchecked")
  static CommandSpec resize(ResizeCommand c, Main parent) {
    CommandSpec s = CommandSpec.wrapWithoutInspection(c);
    s.name("resize");
    s.usageMessage().description("Change an image's virtual size.");
    s.usageMessage().footer("  vdisk resize disk.qcow2 +10G", "  vdisk resize --shrink disk.raw 8G");
    s.usageMessage().footerHeading("%nExamples:%n");
    c.main = parent;
    c.image = new ImageOptions();
    s.addMixin("image", imageOptions(c.image, s));
    s.addOption(ModelBinding.field(() -> c.shrink, v -> c.shrink = (boolean) v).bind(OptionSpec.builder("--shrink")
        .type(boolean.class).arity("0").paramLabel("<shrink>")
        .description("Allow the image to shrink (what lies past the new end is lost).")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ResizeCommand.shrink").initialValue(c.shrink)).build());
    s.addOption(ModelBinding.field(() -> c.preallocation, v -> c.preallocation = (String) v).bind(OptionSpec.builder("--preallocation")
        .type(String.class).arity("1").paramLabel("MODE")
        .description("How the grown part is allocated: off (default), metadata (qcow2), falloc or full.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.ResizeCommand.preallocation").initialValue(c.preallocation)).build());
    s.addOption(ModelBinding.field(() -> c.quiet, v -> c.quiet = (boolean) v).bind(OptionSpec.builder("-q")
        .type(boolean.class).arity("0").paramLabel("<quiet>")
        .description("Quiet: print nothing on success.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ResizeCommand.quiet").initialValue(c.quiet)).build());
    s.addPositional(ModelBinding.field(() -> c.file, v -> c.file = (String) v).bind(PositionalParamSpec.builder().index("0")
        .type(String.class).arity("1").paramLabel("FILE")
        .description("The image.")
        .descriptionKey("").prompt("").required(true)
        .withToString("field String dev.vdisk.cli.ResizeCommand.file").initialValue(c.file)).build());
    s.addPositional(ModelBinding.field(() -> c.size, v -> c.size = (String) v).bind(PositionalParamSpec.builder().index("1")
        .type(String.class).arity("1").paramLabel("SIZE")
        .description("The new size, or +N / -N relative to the current one.")
        .descriptionKey("").prompt("").required(true)
        .withToString("field String dev.vdisk.cli.ResizeCommand.size").initialValue(c.size)).build());
    s.addMixin("mixinStandardHelpOptions", standardHelp());
    return s;
  }

  /** The model of {@code vdisk convert}, bound to {@code c}. */
  @SuppressWarnings("unchecked")
  static CommandSpec convert(ConvertCommand c, Main parent) {
    CommandSpec s = CommandSpec.wrapWithoutInspection(c);
    s.name("convert");
    s.usageMessage().description("Copy an image into a new (or existing) one.");
    s.usageMessage().footer("  vdisk convert -p -O qcow2 disk.raw disk.qcow2", "  vdisk convert -c -O qcow2 -o compression_type=zstd disk.qcow2 small.qcow2");
    s.usageMessage().footerHeading("%nExamples:%n");
    c.main = parent;
    c.source = new ImageOptions();
    s.addMixin("source", imageOptions(c.source, s));
    s.addOption(ModelBinding.field(() -> c.outputFormat, v -> c.outputFormat = (String) v).bind(OptionSpec.builder("-O")
        .type(String.class).arity("1").paramLabel("OUTPUT_FMT")
        .description("Target format (default: raw).")
        .descriptionKey("").prompt("").defaultValue("raw")
        .withToString("field String dev.vdisk.cli.ConvertCommand.outputFormat").initialValue(c.outputFormat)).build());
    s.addOption(ModelBinding.field(() -> c.options, v -> c.options = (java.util.List<String>) v).bind(OptionSpec.builder("-o")
        .type(java.util.List.class).auxiliaryTypes(String.class).arity("1").paramLabel("OPTIONS")
        .description("Target creation options, key=value[,key=value]... (repeatable).")
        .descriptionKey("").prompt("")
        .withToString("field java.util.List<String> dev.vdisk.cli.ConvertCommand.options").initialValue(c.options)).build());
    s.addOption(ModelBinding.field(() -> c.sparse, v -> c.sparse = (String) v).bind(OptionSpec.builder("-S")
        .type(String.class).arity("1").paramLabel("SIZE")
        .description("Zero runs in data at least this long stay sparse (default 4k; 0 writes everything as data).")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.ConvertCommand.sparse").initialValue(c.sparse)).build());
    s.addOption(ModelBinding.field(() -> c.offload, v -> c.offload = (boolean) v).bind(OptionSpec.builder("-C")
        .type(boolean.class).arity("0").paramLabel("<offload>")
        .description("Copy offloading: data stored verbatim in a host file goes into a raw target file by the kernel's copy_file_range, whole (zero runs inside it are copied).")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ConvertCommand.offload").initialValue(c.offload)).build());
    s.addOption(ModelBinding.field(() -> c.workers, v -> c.workers = (String) v).bind(OptionSpec.builder("-m")
        .type(String.class).arity("1").paramLabel("N")
        .description("Parallel copy workers, 1 to 16 (default 8).")
        .descriptionKey("").prompt("").defaultValue("8")
        .withToString("field String dev.vdisk.cli.ConvertCommand.workers").initialValue(c.workers)).build());
    s.addOption(ModelBinding.field(() -> c.outOfOrder, v -> c.outOfOrder = (boolean) v).bind(OptionSpec.builder("-W")
        .type(boolean.class).arity("0").paramLabel("<outOfOrder>")
        .description("Write the target out of order.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ConvertCommand.outOfOrder").initialValue(c.outOfOrder)).build());
    s.addOption(ModelBinding.field(() -> c.salvage, v -> c.salvage = (boolean) v).bind(OptionSpec.builder("--salvage")
        .type(boolean.class).arity("0").paramLabel("<salvage>")
        .description("Where the source cannot be read, read it again 512 bytes at a time and write zeroes for each sector that still fails (with a warning), instead of failing.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ConvertCommand.salvage").initialValue(c.salvage)).build());
    s.addOption(ModelBinding.field(() -> c.rate, v -> c.rate = (String) v).bind(OptionSpec.builder("-r")
        .type(String.class).arity("1").paramLabel("RATE")
        .description("Write the target at most RATE bytes per second (k, M, G suffixes), zeroes included.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.ConvertCommand.rate").initialValue(c.rate)).build());
    s.addOption(ModelBinding.field(() -> c.progress, v -> c.progress = (boolean) v).bind(OptionSpec.builder("-p")
        .type(boolean.class).arity("0").paramLabel("<progress>")
        .description("Show a progress bar.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ConvertCommand.progress").initialValue(c.progress)).build());
    s.addOption(ModelBinding.field(() -> c.quiet, v -> c.quiet = (boolean) v).bind(OptionSpec.builder("-q")
        .type(boolean.class).arity("0").paramLabel("<quiet>")
        .description("Quiet: no progress bar.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ConvertCommand.quiet").initialValue(c.quiet)).build());
    s.addOption(ModelBinding.field(() -> c.cache, v -> c.cache = (String) v).bind(OptionSpec.builder("-t")
        .type(String.class).arity("1").paramLabel("CACHE")
        .description("Target cache mode (default: unsafe).")
        .descriptionKey("").prompt("").defaultValue("unsafe")
        .withToString("field String dev.vdisk.cli.ConvertCommand.cache").initialValue(c.cache)).build());
    s.addOption(ModelBinding.field(() -> c.sourceCache, v -> c.sourceCache = (String) v).bind(OptionSpec.builder("-T")
        .type(String.class).arity("1").paramLabel("SRC_CACHE")
        .description("Source cache mode (default: writeback).")
        .descriptionKey("").prompt("").defaultValue("writeback")
        .withToString("field String dev.vdisk.cli.ConvertCommand.sourceCache").initialValue(c.sourceCache)).build());
    s.addOption(ModelBinding.field(() -> c.noCreate, v -> c.noCreate = (boolean) v).bind(OptionSpec.builder("-n")
        .type(boolean.class).arity("0").paramLabel("<noCreate>")
        .description("Do not create the target: write into the existing DST.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ConvertCommand.noCreate").initialValue(c.noCreate)).build());
    s.addOption(ModelBinding.field(() -> c.targetIsZero, v -> c.targetIsZero = (boolean) v).bind(OptionSpec.builder("--target-is-zero")
        .type(boolean.class).arity("0").paramLabel("<targetIsZero>")
        .description("With -n: the target reads as zeroes already; zeroes are not written.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ConvertCommand.targetIsZero").initialValue(c.targetIsZero)).build());
    s.addOption(ModelBinding.field(() -> c.force, v -> c.force = (boolean) v).bind(OptionSpec.builder("--force")
        .type(boolean.class).arity("0").paramLabel("<force>")
        .description("Accepted for scripts written for older vdisk: an existing DST is replaced anyway.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ConvertCommand.force").initialValue(c.force)).build());
    s.addOption(ModelBinding.field(() -> c.compress, v -> c.compress = (boolean) v).bind(OptionSpec.builder("-c")
        .type(boolean.class).arity("0").paramLabel("<compress>")
        .description("Compress the target's data clusters (qcow2 only; -o compression_type=zlib|zstd).")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ConvertCommand.compress").initialValue(c.compress)).build());
    s.addOption(ModelBinding.field(() -> c.bitmaps, v -> c.bitmaps = (boolean) v).bind(OptionSpec.builder("--bitmaps")
        .type(boolean.class).arity("0").paramLabel("<bitmaps>")
        .description("Copy the source's persistent dirty bitmaps (qcow2 to qcow2).")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ConvertCommand.bitmaps").initialValue(c.bitmaps)).build());
    s.addOption(ModelBinding.field(() -> c.skipBrokenBitmaps, v -> c.skipBrokenBitmaps = (boolean) v).bind(OptionSpec.builder("--skip-broken-bitmaps")
        .type(boolean.class).arity("0").paramLabel("<skipBrokenBitmaps>")
        .description("With --bitmaps: skip inconsistent bitmaps instead of failing.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ConvertCommand.skipBrokenBitmaps").initialValue(c.skipBrokenBitmaps)).build());
    s.addOption(ModelBinding.field(() -> c.snapshot, v -> c.snapshot = (String) v).bind(OptionSpec.builder("-l")
        .type(String.class).arity("1").paramLabel("SNAPSHOT")
        .description("Convert internal snapshot SNAPSHOT (an ID or name, or snapshot.id=ID[,snapshot.name=NAME]) of a qcow2 source instead of its active layer, without applying it.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.ConvertCommand.snapshot").initialValue(c.snapshot)).build());
    s.addOption(ModelBinding.field(() -> c.backing, v -> c.backing = (String) v).bind(OptionSpec.builder("-B")
        .type(String.class).arity("1").paramLabel("BACKING_FILE")
        .description("The target's backing file: only what the source's top layer defines is written (needs -F).")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.ConvertCommand.backing").initialValue(c.backing)).build());
    s.addOption(ModelBinding.field(() -> c.backingFormat, v -> c.backingFormat = (String) v).bind(OptionSpec.builder("-F")
        .type(String.class).arity("1").paramLabel("BACKING_FMT")
        .description("The format of the target's backing file (-B).")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.ConvertCommand.backingFormat").initialValue(c.backingFormat)).build());
    s.addOption(ModelBinding.field(() -> c.targetImageOpts, v -> c.targetImageOpts = (boolean) v).bind(OptionSpec.builder("--target-image-opts")
        .type(boolean.class).arity("0").paramLabel("<targetImageOpts>")
        .description("DST is a QEMU option string, as FILE of --image-opts.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ConvertCommand.targetImageOpts").initialValue(c.targetImageOpts)).build());
    s.addPositional(ModelBinding.field(() -> c.src, v -> c.src = (String) v).bind(PositionalParamSpec.builder().index("0")
        .type(String.class).arity("0..1").paramLabel("SRC")
        .description("The source image.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.ConvertCommand.src").initialValue(c.src)).build());
    s.addPositional(ModelBinding.field(() -> c.dst, v -> c.dst = (String) v).bind(PositionalParamSpec.builder().index("1")
        .type(String.class).arity("0..1").paramLabel("DST")
        .description("The target image.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.ConvertCommand.dst").initialValue(c.dst)).build());
    s.addPositional(ModelBinding.field(() -> c.more, v -> c.more = (java.util.List<String>) v).bind(PositionalParamSpec.builder().index("2..*")
        .type(java.util.List.class).auxiliaryTypes(String.class).arity("0..1").paramLabel("<more>")
        .descriptionKey("").prompt("").hidden(true)
        .withToString("field java.util.List<String> dev.vdisk.cli.ConvertCommand.more").initialValue(c.more)).build());
    s.addMixin("mixinStandardHelpOptions", standardHelp());
    return s;
  }

  /** The model of {@code vdisk compare}, bound to {@code c}. */
  @SuppressWarnings("unchecked")
  static CommandSpec compare(CompareCommand c, Main parent) {
    CommandSpec s = CommandSpec.wrapWithoutInspection(c);
    s.name("compare");
    s.usageMessage().description("Check whether two images have the same contents.");
    s.usageMessage().footer("  vdisk compare disk.raw disk.qcow2", "  vdisk compare -f raw -F qcow2 a.img b.qcow2");
    s.usageMessage().footerHeading("%nExamples:%n");
    c.main = parent;
    c.first = new ImageOptions();
    s.addMixin("first", imageOptions(c.first, s));
    s.addOption(ModelBinding.field(() -> c.secondFormat, v -> c.secondFormat = (String) v).bind(OptionSpec.builder("-F")
        .type(String.class).arity("1").paramLabel("FMT")
        .description("Format of the second image; probed when absent.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.CompareCommand.secondFormat").initialValue(c.secondFormat)).build());
    s.addOption(ModelBinding.field(() -> c.strict, v -> c.strict = (boolean) v).bind(OptionSpec.builder("-s")
        .type(boolean.class).arity("0").paramLabel("<strict>")
        .description("Strict: different sizes or allocation are differences.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.CompareCommand.strict").initialValue(c.strict)).build());
    s.addOption(ModelBinding.field(() -> c.progress, v -> c.progress = (boolean) v).bind(OptionSpec.builder("-p")
        .type(boolean.class).arity("0").paramLabel("<progress>")
        .description("Show a progress bar.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.CompareCommand.progress").initialValue(c.progress)).build());
    s.addOption(ModelBinding.field(() -> c.quiet, v -> c.quiet = (boolean) v).bind(OptionSpec.builder("-q")
        .type(boolean.class).arity("0").paramLabel("<quiet>")
        .description("Quiet: print nothing but errors.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.CompareCommand.quiet").initialValue(c.quiet)).build());
    s.addOption(ModelBinding.field(() -> c.cache, v -> c.cache = (String) v).bind(OptionSpec.builder("-T")
        .type(String.class).arity("1").paramLabel("CACHE")
        .description("Cache mode of both images (default: writeback).")
        .descriptionKey("").prompt("").defaultValue("writeback")
        .withToString("field String dev.vdisk.cli.CompareCommand.cache").initialValue(c.cache)).build());
    s.addPositional(ModelBinding.field(() -> c.fileA, v -> c.fileA = (String) v).bind(PositionalParamSpec.builder().index("0")
        .type(String.class).arity("1").paramLabel("A")
        .description("The first image.")
        .descriptionKey("").prompt("").required(true)
        .withToString("field String dev.vdisk.cli.CompareCommand.fileA").initialValue(c.fileA)).build());
    s.addPositional(ModelBinding.field(() -> c.fileB, v -> c.fileB = (String) v).bind(PositionalParamSpec.builder().index("1")
        .type(String.class).arity("1").paramLabel("B")
        .description("The second image.")
        .descriptionKey("").prompt("").required(true)
        .withToString("field String dev.vdisk.cli.CompareCommand.fileB").initialValue(c.fileB)).build());
    s.addMixin("mixinStandardHelpOptions", standardHelp());
    return s;
  }

  /** The model of {@code vdisk measure}, bound to {@code c}. */
  @SuppressWarnings("unchecked")
  static CommandSpec measure(MeasureCommand c, Main parent) {
    CommandSpec s = CommandSpec.wrapWithoutInspection(c);
    s.name("measure");
    s.usageMessage().description("Measure the file size a new image needs.");
    s.usageMessage().footer("  vdisk measure -O qcow2 disk.raw", "  vdisk measure -O qcow2 --size 1T");
    s.usageMessage().footerHeading("%nExamples:%n");
    c.main = parent;
    c.image = new ImageOptions();
    s.addMixin("image", imageOptions(c.image, s));
    c.output = new OutputOption();
    s.addMixin("output", outputOption(c.output, s));
    s.addOption(ModelBinding.field(() -> c.targetFormat, v -> c.targetFormat = (String) v).bind(OptionSpec.builder("-O")
        .type(String.class).arity("1").paramLabel("OUTPUT_FMT")
        .description("Format of the new image (default: raw).")
        .descriptionKey("").prompt("").defaultValue("raw")
        .withToString("field String dev.vdisk.cli.MeasureCommand.targetFormat").initialValue(c.targetFormat)).build());
    s.addOption(ModelBinding.field(() -> c.options, v -> c.options = (java.util.List<String>) v).bind(OptionSpec.builder("-o")
        .type(java.util.List.class).auxiliaryTypes(String.class).arity("1").paramLabel("OPTIONS")
        .description("Options of the new image, key=value[,key=value]... (repeatable); 'help' lists them.")
        .descriptionKey("").prompt("")
        .withToString("field java.util.List<String> dev.vdisk.cli.MeasureCommand.options").initialValue(c.options)).build());
    s.addOption(ModelBinding.field(() -> c.size, v -> c.size = (String) v).bind(OptionSpec.builder("--size")
        .type(String.class).arity("1").paramLabel("N")
        .description("Measure a new empty image of N bytes instead of FILE.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.MeasureCommand.size").initialValue(c.size)).build());
    s.addOption(ModelBinding.field(() -> c.snapshot, v -> c.snapshot = (String) v).bind(OptionSpec.builder("-l")
        .type(String.class).arity("1").paramLabel("SNAPSHOT")
        .description("Measure internal snapshot SNAPSHOT (an ID or name, or snapshot.id=ID[,snapshot.name=NAME]) of a qcow2 FILE instead of its active layer.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.MeasureCommand.snapshot").initialValue(c.snapshot)).build());
    s.addPositional(ModelBinding.field(() -> c.file, v -> c.file = (String) v).bind(PositionalParamSpec.builder().index("0")
        .type(String.class).arity("0..1").paramLabel("FILE")
        .description("The image whose contents the new image will hold.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.MeasureCommand.file").initialValue(c.file)).build());
    s.addMixin("mixinStandardHelpOptions", standardHelp());
    return s;
  }

  /** The model of {@code vdisk rebase}, bound to {@code c}. */
  @SuppressWarnings("unchecked")
  static CommandSpec rebase(RebaseCommand c, Main parent) {
    CommandSpec s = CommandSpec.wrapWithoutInspection(c);
    s.name("rebase");
    s.usageMessage().description("Change the backing file of an image.");
    s.usageMessage().footer("  vdisk rebase -b new-base.qcow2 -F qcow2 overlay.qcow2", "  vdisk rebase -b \"\" overlay.qcow2");
    s.usageMessage().footerHeading("%nExamples:%n");
    c.main = parent;
    s.addOption(ModelBinding.field(() -> c.format, v -> c.format = (String) v).bind(OptionSpec.builder("-f")
        .type(String.class).arity("1").paramLabel("FMT")
        .description("Image format; probed when absent.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.RebaseCommand.format").initialValue(c.format)).build());
    s.addOption(ModelBinding.field(() -> c.imageOpts, v -> c.imageOpts = (boolean) v).bind(OptionSpec.builder("--image-opts")
        .type(boolean.class).arity("0").paramLabel("<imageOpts>")
        .description("IMAGE is a QEMU option string: driver=raw|qcow2,file.filename=PATH.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.RebaseCommand.imageOpts").initialValue(c.imageOpts)).build());
    s.addOption(ModelBinding.field(() -> c.backing, v -> c.backing = (String) v).bind(OptionSpec.builder("-b")
        .type(String.class).arity("1").paramLabel("NEWBASE")
        .description("The new backing file (\"\": none, the image is flattened).")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.RebaseCommand.backing").initialValue(c.backing)).build());
    s.addOption(ModelBinding.field(() -> c.backingFormat, v -> c.backingFormat = (String) v).bind(OptionSpec.builder("-F")
        .type(String.class).arity("1").paramLabel("FMT")
        .description("The new backing file's format (required with a backing file).")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.RebaseCommand.backingFormat").initialValue(c.backingFormat)).build());
    s.addOption(ModelBinding.field(() -> c.unsafe, v -> c.unsafe = (boolean) v).bind(OptionSpec.builder("-u")
        .type(boolean.class).arity("0").paramLabel("<unsafe>")
        .description("Unsafe: rewrite the header only; no data is copied, no backing file opened.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.RebaseCommand.unsafe").initialValue(c.unsafe)).build());
    s.addOption(ModelBinding.field(() -> c.cache, v -> c.cache = (String) v).bind(OptionSpec.builder("-t")
        .type(String.class).arity("1").paramLabel("CACHE")
        .description("The image's cache mode (default: writeback).")
        .descriptionKey("").prompt("").defaultValue("writeback")
        .withToString("field String dev.vdisk.cli.RebaseCommand.cache").initialValue(c.cache)).build());
    s.addOption(ModelBinding.field(() -> c.sourceCache, v -> c.sourceCache = (String) v).bind(OptionSpec.builder("-T")
        .type(String.class).arity("1").paramLabel("SRC_CACHE")
        .description("The backing images' cache mode (default: writeback).")
        .descriptionKey("").prompt("").defaultValue("writeback")
        .withToString("field String dev.vdisk.cli.RebaseCommand.sourceCache").initialValue(c.sourceCache)).build());
    s.addOption(ModelBinding.field(() -> c.forceShare, v -> c.forceShare = (boolean) v).bind(OptionSpec.builder("-U")
        .type(boolean.class).arity("0").paramLabel("<forceShare>")
        .description("Open the new backing file even if another process holds it.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.RebaseCommand.forceShare").initialValue(c.forceShare)).build());
    s.addOption(ModelBinding.field(() -> c.progress, v -> c.progress = (boolean) v).bind(OptionSpec.builder("-p")
        .type(boolean.class).arity("0").paramLabel("<progress>")
        .description("Show a progress bar.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.RebaseCommand.progress").initialValue(c.progress)).build());
    s.addOption(ModelBinding.field(() -> c.quiet, v -> c.quiet = (boolean) v).bind(OptionSpec.builder("-q")
        .type(boolean.class).arity("0").paramLabel("<quiet>")
        .description("Quiet: no progress bar.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.RebaseCommand.quiet").initialValue(c.quiet)).build());
    s.addPositional(ModelBinding.field(() -> c.files, v -> c.files = (java.util.List<String>) v).bind(PositionalParamSpec.builder().index("*")
        .type(java.util.List.class).auxiliaryTypes(String.class).arity("0..*").paramLabel("IMAGE")
        .description("The image.")
        .descriptionKey("").prompt("")
        .withToString("field java.util.List<String> dev.vdisk.cli.RebaseCommand.files").initialValue(c.files)).build());
    s.addMixin("mixinStandardHelpOptions", standardHelp());
    return s;
  }

  /** The model of {@code vdisk commit}, bound to {@code c}. */
  @SuppressWarnings("unchecked")
  static CommandSpec commit(CommitCommand c, Main parent) {
    CommandSpec s = CommandSpec.wrapWithoutInspection(c);
    s.name("commit");
    s.usageMessage().description("Write an image's data into its backing file.");
    s.usageMessage().footer("  vdisk commit overlay.qcow2", "  vdisk commit -d -p overlay.qcow2");
    s.usageMessage().footerHeading("%nExamples:%n");
    c.main = parent;
    s.addOption(ModelBinding.field(() -> c.format, v -> c.format = (String) v).bind(OptionSpec.builder("-f")
        .type(String.class).arity("1").paramLabel("FMT")
        .description("Image format; probed when absent.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.CommitCommand.format").initialValue(c.format)).build());
    s.addOption(ModelBinding.field(() -> c.imageOpts, v -> c.imageOpts = (boolean) v).bind(OptionSpec.builder("--image-opts")
        .type(boolean.class).arity("0").paramLabel("<imageOpts>")
        .description("IMAGE is a QEMU option string: driver=raw|qcow2,file.filename=PATH.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.CommitCommand.imageOpts").initialValue(c.imageOpts)).build());
    s.addOption(ModelBinding.field(() -> c.base, v -> c.base = (String) v).bind(OptionSpec.builder("-b")
        .type(String.class).arity("1").paramLabel("BASE")
        .description("The image of the backing chain to commit into (implies -d).")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.CommitCommand.base").initialValue(c.base)).build());
    s.addOption(ModelBinding.field(() -> c.drop, v -> c.drop = (boolean) v).bind(OptionSpec.builder("-d")
        .type(boolean.class).arity("0").paramLabel("<drop>")
        .description("Leave the image as it is (do not empty it).")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.CommitCommand.drop").initialValue(c.drop)).build());
    s.addOption(ModelBinding.field(() -> c.rate, v -> c.rate = (String) v).bind(OptionSpec.builder("-r")
        .type(String.class).arity("1").paramLabel("RATE")
        .description("Copy at most RATE bytes of data per second (k, M, G suffixes).")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.CommitCommand.rate").initialValue(c.rate)).build());
    s.addOption(ModelBinding.field(() -> c.cache, v -> c.cache = (String) v).bind(OptionSpec.builder("-t")
        .type(String.class).arity("1").paramLabel("CACHE")
        .description("Cache mode (default: writeback).")
        .descriptionKey("").prompt("").defaultValue("writeback")
        .withToString("field String dev.vdisk.cli.CommitCommand.cache").initialValue(c.cache)).build());
    s.addOption(ModelBinding.field(() -> c.progress, v -> c.progress = (boolean) v).bind(OptionSpec.builder("-p")
        .type(boolean.class).arity("0").paramLabel("<progress>")
        .description("Show a progress bar.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.CommitCommand.progress").initialValue(c.progress)).build());
    s.addOption(ModelBinding.field(() -> c.quiet, v -> c.quiet = (boolean) v).bind(OptionSpec.builder("-q")
        .type(boolean.class).arity("0").paramLabel("<quiet>")
        .description("Quiet: no progress bar, no message.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.CommitCommand.quiet").initialValue(c.quiet)).build());
    s.addPositional(ModelBinding.field(() -> c.files, v -> c.files = (java.util.List<String>) v).bind(PositionalParamSpec.builder().index("*")
        .type(java.util.List.class).auxiliaryTypes(String.class).arity("0..*").paramLabel("IMAGE")
        .description("The image.")
        .descriptionKey("").prompt("")
        .withToString("field java.util.List<String> dev.vdisk.cli.CommitCommand.files").initialValue(c.files)).build());
    s.addMixin("mixinStandardHelpOptions", standardHelp());
    return s;
  }

  /** The model of {@code vdisk amend}, bound to {@code c}. */
  @SuppressWarnings("unchecked")
  static CommandSpec amend(AmendCommand c, Main parent) {
    CommandSpec s = CommandSpec.wrapWithoutInspection(c);
    s.name("amend");
    s.usageMessage().description("Change the format options of an image.");
    s.usageMessage().footer("  vdisk amend -o compat=1.1,lazy_refcounts=on disk.qcow2", "  vdisk amend -o refcount_bits=64 disk.qcow2");
    s.usageMessage().footerHeading("%nExamples:%n");
    c.main = parent;
    s.addOption(ModelBinding.field(() -> c.format, v -> c.format = (String) v).bind(OptionSpec.builder("-f")
        .type(String.class).arity("1").paramLabel("FMT")
        .description("Image format; probed when absent.")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.AmendCommand.format").initialValue(c.format)).build());
    s.addOption(ModelBinding.field(() -> c.options, v -> c.options = (java.util.List<String>) v).bind(OptionSpec.builder("-o")
        .type(java.util.List.class).auxiliaryTypes(String.class).arity("1").paramLabel("OPTIONS")
        .description("Options to change, key=value[,key=value]... (repeatable); 'help' lists them.")
        .descriptionKey("").prompt("")
        .withToString("field java.util.List<String> dev.vdisk.cli.AmendCommand.options").initialValue(c.options)).build());
    s.addOption(ModelBinding.field(() -> c.cache, v -> c.cache = (String) v).bind(OptionSpec.builder("-t")
        .type(String.class).arity("1").paramLabel("CACHE")
        .description("Cache mode: writeback (default), writethrough, none, directsync, unsafe.")
        .descriptionKey("").prompt("").defaultValue("writeback")
        .withToString("field String dev.vdisk.cli.AmendCommand.cache").initialValue(c.cache)).build());
    s.addOption(ModelBinding.field(() -> c.progress, v -> c.progress = (boolean) v).bind(OptionSpec.builder("-p")
        .type(boolean.class).arity("0").paramLabel("<progress>")
        .description("Show progress.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.AmendCommand.progress").initialValue(c.progress)).build());
    s.addOption(ModelBinding.field(() -> c.quiet, v -> c.quiet = (boolean) v).bind(OptionSpec.builder("-q")
        .type(boolean.class).arity("0").paramLabel("<quiet>")
        .description("Quiet: no progress.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.AmendCommand.quiet").initialValue(c.quiet)).build());
    s.addOption(ModelBinding.field(() -> c.force, v -> c.force = (boolean) v).bind(OptionSpec.builder("--force")
        .type(boolean.class).arity("0").paramLabel("<force>")
        .description("Accepted as qemu-img accepts it (it only matters for amending encryption, which vdisk does not build).")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.AmendCommand.force").initialValue(c.force)).build());
    s.addOption(ModelBinding.field(() -> c.imageOpts, v -> c.imageOpts = (boolean) v).bind(OptionSpec.builder("--image-opts")
        .type(boolean.class).arity("0").paramLabel("<imageOpts>")
        .description("IMAGE is driver=raw|qcow2,file.filename=PATH.")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.AmendCommand.imageOpts").initialValue(c.imageOpts)).build());
    s.addPositional(ModelBinding.field(() -> c.files, v -> c.files = (java.util.List<String>) v).bind(PositionalParamSpec.builder().index("*")
        .type(java.util.List.class).auxiliaryTypes(String.class).arity("0..*").paramLabel("IMAGE")
        .description("The image.")
        .descriptionKey("").prompt("")
        .withToString("field java.util.List<String> dev.vdisk.cli.AmendCommand.files").initialValue(c.files)).build());
    s.addMixin("mixinStandardHelpOptions", standardHelp());
    return s;
  }

  /** The mixin ImageOptions's options, bound to {@code c}. */
  @SuppressWarnings("unchecked")
  static CommandSpec imageOptions(ImageOptions c, CommandSpec mixee) {
    CommandSpec s = CommandSpec.wrapWithoutInspection(c);
    s.addOption(ModelBinding.field(() -> c.format, v -> c.format = (String) v).bind(OptionSpec.builder("-f")
        .type(String.class).arity("1").paramLabel("FMT")
        .description("Image format; probed when absent (raw unless a signature says otherwise).")
        .descriptionKey("").prompt("")
        .withToString("field String dev.vdisk.cli.ImageOptions.format").initialValue(c.format)).build());
    s.addOption(ModelBinding.field(() -> c.forceShare, v -> c.forceShare = (boolean) v).bind(OptionSpec.builder("-U")
        .type(boolean.class).arity("0").paramLabel("<forceShare>")
        .description("Open even if another process holds the image (read-only opens only).")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ImageOptions.forceShare").initialValue(c.forceShare)).build());
    s.addOption(ModelBinding.field(() -> c.imageOpts, v -> c.imageOpts = (boolean) v).bind(OptionSpec.builder("--image-opts")
        .type(boolean.class).arity("0").paramLabel("<imageOpts>")
        .description("FILE is a QEMU option string: driver=raw|qcow2,file.driver=file|nbd,... or driver=nbd,server.type=inet|unix,server.host=H,server.port=P,server.path=S,export=E[,tls-creds=ID].")
        .descriptionKey("").prompt("")
        .withToString("field boolean dev.vdisk.cli.ImageOptions.imageOpts").initialValue(c.imageOpts)).build());
    c.command = mixee;
    s.addOption(ModelBinding.method(v -> c.object((String) v)).bind(OptionSpec.builder("--object")
        .type(String.class).arity("1").paramLabel("OBJECT")
        .description("tls-creds-x509,id=ID,endpoint=client,dir=DIR: TLS credentials for NBD images (tls-creds=ID, or the only one for nbds:// names); secret,id=ID,data=TEXT|file=PATH[,format=raw|base64]: a secret, e.g. an RBD image's key (key-secret=ID).")
        .descriptionKey("").prompt("")
        .withToString("method void dev.vdisk.cli.ImageOptions.object(String)").hasInitialValue(false)).build());
    return s;
  }

  /** The mixin OutputOption's options, bound to {@code c}. */
  @SuppressWarnings("unchecked")
  static CommandSpec outputOption(OutputOption c, CommandSpec mixee) {
    CommandSpec s = CommandSpec.wrapWithoutInspection(c);
    s.addOption(ModelBinding.field(() -> c.output, v -> c.output = (String) v).bind(OptionSpec.builder("--output")
        .type(String.class).arity("1").paramLabel("human|json")
        .description("Output format: human (default) or json.")
        .descriptionKey("").prompt("").defaultValue("human")
        .withToString("field String dev.vdisk.cli.OutputOption.output").initialValue(c.output)).build());
    return s;
  }

  /** The standard help options ({@code mixinStandardHelpOptions = true}); their bindings hold their values. */
  private static CommandSpec standardHelp() {
    CommandSpec s = CommandSpec.create();
    s.addOption(ModelBinding.value(false).bind(OptionSpec.builder("-h", "--help").type(boolean.class).arity("0").paramLabel("<helpRequested>").usageHelp(true)
        .descriptionKey("mixinStandardHelpOptions.help").prompt("").description("Show this help message and exit.")
        .withToString("field boolean picocli.CommandLine$AutoHelpMixin.helpRequested").initialValue(false)).build());
    s.addOption(ModelBinding.value(false).bind(OptionSpec.builder("-V", "--version").type(boolean.class).arity("0").paramLabel("<versionRequested>").versionHelp(true)
        .descriptionKey("mixinStandardHelpOptions.version").prompt("").description("Print version information and exit.")
        .withToString("field boolean picocli.CommandLine$AutoHelpMixin.versionRequested").initialValue(false)).build());
    return s;
  }
}
