package dev.vdisk.cli;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.format.internal.RbdImages;
import dev.vdisk.io.internal.NativeLinks;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import picocli.AutoComplete.GenerateCompletion;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.UnmatchedArgumentException;
import picocli.CommandLine.Spec;

/**
 * The {@code vdisk} command: qemu-img's habits over vdisk's engine.
 *
 * <p>Exit status 0 on success and 1 on any error (qemu-img's). An error is exactly one line on stderr,
 * {@code vdisk <cmd>: <what is wrong> (expected: ...)}, followed by the stack trace only with
 * {@code --debug}. Commands validate every argument before they create, open for writing or truncate
 * anything.
 */
@Command(
    name = "vdisk",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Virtual-disk images for KVM/QEMU, with qemu-img's command line.")
public final class Main implements Runnable {
  /** qemu-img's commands, to tell a command vdisk lacks from a typing error. */
  static final List<Class<?>> SUBCOMMANDS = List.of(CreateCommand.class, InfoCommand.class, MapCommand.class,
      CheckCommand.class, SnapshotCommand.class, ResizeCommand.class, ConvertCommand.class, CompareCommand.class,
      MeasureCommand.class, IoCommand.class, BenchCommand.class, ServeCommand.class, AdviseCommand.class,
      BitmapCommand.class, RebaseCommand.class, CommitCommand.class, AmendCommand.class, DdCommand.class,
      HelpCommand.class, GenerateCompletion.class);

  @Option(names = "--debug", scope = ScopeType.INHERIT, description = "Print the stack trace of an error.")
  boolean debug;

  @Spec CommandSpec spec;

  private final PrintWriter out;
  private final PrintWriter err;

  private Main(PrintWriter out, PrintWriter err) {
    this.out = out;
    this.err = err;
  }

  /** Standard output, for the subcommands. */
  PrintWriter out() {
    return out;
  }

  /** Standard error, for the subcommands' warnings. */
  PrintWriter err() {
    return err;
  }

  public static void main(String[] args) {
    // On other cores while this thread parses the command line, started before anything else: the cluster's connect
    // for the first rbd: name (librbd's load, then the connect, which also needs the link), then the system calls'
    // link (tens of milliseconds). Started from run, the connect's thread ran a median 9 ms after main (4-17), behind
    // the link's start and this thread's set-up; from here 1 ms, and librbd is loaded as much earlier. The link, which
    // ends later still, then decides when the connect starts: it waits for librbd's load (glibc's loader lock, see
    // RbdNative.Downcall) and ends 15-20 ms after it.
    if (opensFiles(args)) {
      RbdImages.connectAhead(args);
      NativeLinks.startAhead();
    }
    // The library's notices (System.Logger, to java.util.logging's console) as one line each, not JUL's two.
    if (System.getProperty("java.util.logging.SimpleFormatter.format") == null) {
      System.setProperty("java.util.logging.SimpleFormatter.format", "%4$s: %5$s%6$s%n");
    }
    // picocli's factory otherwise looks up Groovy's Closure class (for closures in annotations, which vdisk has none
    // of); the look-up of an absent class opens and indexes the whole jar.
    if (System.getProperty("picocli.disable.closures") == null) {
      System.setProperty("picocli.disable.closures", "true");
    }
    excludeUnusedConverters();
    PrintWriter out = new PrintWriter(System.out, false, System.out.charset());
    PrintWriter err = new PrintWriter(System.err, true, System.err.charset());
    int status = run(out, err, args);
    if (status != 0 || othersRunning()) {
      System.exit(status);
    }
    // Success with no other thread left: main returns and the JVM ends. System.exit would first look up a
    // System.Logger to log the exit (Runtime.exit's debug log), a ServiceLoader scan that opens and indexes the jar.
  }

  /**
   * Keeps picocli from registering its converters for java.time and java.sql types, which no vdisk option has: each
   * CommandLine would otherwise load and initialize 18 such classes by name (Class.forName, and MonthDay's and
   * others' date-time parsers built) and look up their factory methods by reflection (info: 30 fewer class
   * initializations, 40 fewer classes in the short cache). Sets {@code picocli.converters.excludes} unless the user
   * did.
   */
  static void excludeUnusedConverters() {
    if (System.getProperty("picocli.converters.excludes") == null) {
      System.setProperty("picocli.converters.excludes", "java\\.(sql|time)\\..*");
    }
  }

  /**
   * False for the command lines that surely open no file, for which linking the system calls would be wasted work:
   * options only ({@code --version}, {@code --help}) and {@code measure --size}. Errs towards linking.
   */
  private static boolean opensFiles(String[] args) {
    boolean anyCommand = false;
    for (String a : args) {
      if (a.equals("--size") || a.startsWith("--size=")) {
        return false; // measure --size measures no file (bench --size is a long command: its link need not be early)
      }
      anyCommand |= !a.startsWith("-");
    }
    return anyCommand;
  }

  /** True if a thread other than this one would keep the JVM alive after main returns. */
  private static boolean othersRunning() {
    Thread[] threads = new Thread[Thread.activeCount() + 8];
    int n = Thread.currentThread().getThreadGroup().enumerate(threads, true);
    for (int i = 0; i < n; i++) {
      if (threads[i] != Thread.currentThread() && !threads[i].isDaemon() && threads[i].isAlive()) {
        return true;
      }
    }
    return n == threads.length; // more threads than the array held: assume one of them is not a daemon
  }

  /**
   * Runs one command line with the given streams; the in-process entry point of tests.
   *
   * @return the exit status
   */
  public static int run(Writer outWriter, Writer errWriter, String... args) {
    return run(true, outWriter, errWriter, args);
  }

  /**
   * Runs one command line with picocli's model built in code where {@link CommandModels} has it ({@code inCode}) or
   * from the annotations everywhere (what tests compare it with).
   *
   * @return the exit status
   */
  static int run(boolean inCode, Writer outWriter, Writer errWriter, String... args) {
    PrintWriter out = outWriter instanceof PrintWriter p ? p : new PrintWriter(outWriter);
    PrintWriter err = errWriter instanceof PrintWriter p ? p : new PrintWriter(errWriter);
    if (args.length > 0 && Stream.of(args).allMatch(a -> a.equals("-V") || a.equals("--version"))) {
      return version(out); // what picocli prints for it, without building picocli's model of vdisk
    }
    RbdImages.connectAhead(args); // for in-process callers (main started it: then a no-op, the same name)
    Main main = new Main(out, err);
    CommandLine cl = tree(inCode, main, args);
    cl.setOut(out);
    cl.setErr(err);
    cl.setParameterExceptionHandler((e, a) -> {
      String text = e.getCommandLine() == cl ? unknownCommand(e).orElse(e.getMessage()) : e.getMessage();
      String where = e.getCommandLine().getCommandName();
      String help = where.equals("vdisk") ? "vdisk --help" : "vdisk " + where + " --help";
      if (!text.contains("(expected:")) {
        text += " (expected: see '" + help + "')";
      }
      return main.fail(e.getCommandLine(), text, e);
    });
    cl.setExecutionExceptionHandler((e, c, parsed) -> main.fail(c, describe(e), e));
    try {
      return cl.execute(args);
    } finally {
      out.flush();
      err.flush();
    }
  }

  /**
   * The command tree {@link #run} parses {@code args} with: vdisk and the subcommand {@code args} names (or all of them),
   * picocli's models built in code where {@link CommandModels} has them ({@code inCode}) or from the annotations.
   */
  static CommandLine tree(boolean inCode, Main main, String... args) {
    CommandLine cl = new CommandLine(inCode ? CommandModels.vdisk(main) : main);
    for (Class<?> sub : subcommandsFor(args)) {
      String name = CommandModels.SUBCOMMAND_NAMES.get(SUBCOMMANDS.indexOf(sub));
      Optional<CommandSpec> spec = inCode ? CommandModels.subcommand(name, main) : Optional.empty();
      if (spec.isPresent()) {
        cl.addSubcommand(name, new CommandLine(spec.get()));
      } else {
        cl.addSubcommand(sub);
      }
    }
    // -V and --version work on every command, as on vdisk itself.
    cl.getSubcommands().values().forEach(sub -> sub.getCommandSpec().versionProvider(new Version()));
    // qemu-img takes the last of a repeated option; -o is a list and accumulates like qemu-img's.
    cl.setOverwrittenOptionsAllowed(true);
    // resize -1G: a negative size is a size, not an option (qemu-img takes it out of argv for the same reason).
    if (cl.getSubcommands().get("resize") instanceof CommandLine resize) {
      resize.setUnmatchedOptionsArePositionalParams(true);
    }
    return cl;
  }

  /** {@link #tree} for a vdisk whose output goes nowhere (tests compare the trees). */
  static CommandLine tree(boolean inCode, String... args) {
    PrintWriter sink = new PrintWriter(Writer.nullWriter());
    return tree(inCode, new Main(sink, sink), args);
  }

  /** The whole command tree, every subcommand built (for the man pages generated at build time: {@link ManPages}). */
  static CommandLine fullModel() {
    PrintWriter sink = new PrintWriter(Writer.nullWriter());
    CommandLine cl = new CommandLine(new Main(sink, sink));
    SUBCOMMANDS.forEach(cl::addSubcommand);
    return cl;
  }

  /** {@code vdisk --version}: the version line on {@code out}, exit status 0. */
  private static int version(PrintWriter out) {
    for (String line : new Version().getVersion()) {
      out.println(line);
    }
    out.flush();
    return 0;
  }

  /**
   * The subcommands to build for {@code args}: the one named by the first argument that is not an option, or all of
   * them (for help, errors and the list of commands). Building picocli's model of one command instead of twelve
   * halves the start-up time of a short command.
   */
  private static List<Class<?>> subcommandsFor(String[] args) {
    for (String a : args) {
      if (!a.startsWith("-")) {
        int i = CommandModels.SUBCOMMAND_NAMES.indexOf(a);
        if (i >= 0) {
          Class<?> sub = SUBCOMMANDS.get(i);
          // help and the completion script describe the other commands, so they need them all
          return sub == HelpCommand.class || sub == GenerateCompletion.class ? SUBCOMMANDS : List.of(sub);
        }
        break;
      }
    }
    return SUBCOMMANDS;
  }

  /**
   * The error for a first argument that names no command, in qemu-img's words ({@code Command not found: X}); empty
   * for other errors.
   */
  private static Optional<String> unknownCommand(ParameterException e) {
    if (!(e instanceof UnmatchedArgumentException u) || u.getUnmatched().isEmpty()
        || u.getUnmatched().getFirst().startsWith("-")) {
      return Optional.empty();
    }
    String name = u.getUnmatched().getFirst();
    String ours = String.join(", ", e.getCommandLine().getSubcommands().keySet());
    List<String> similar = u.getSuggestions();
    return Optional.of("Command not found: " + name + " (expected: one of " + ours
        + (similar.isEmpty() ? "" : "; did you mean " + String.join(" or ", similar) + "?") + ")");
  }

  /** {@code vdisk} without a command. */
  @Override
  public void run() {
    throw new ParameterException(spec.commandLine(), "no command given (expected: one of "
        + String.join(", ", spec.subcommands().keySet()) + ")");
  }

  private int fail(CommandLine where, String text, Exception e) {
    out.flush();
    err.println(errorLine(where.getCommandName(), text));
    if (debug) {
      e.printStackTrace(err);
    }
    err.flush();
    return 1;
  }

  /** {@code vdisk <cmd>: <text>} on one line, whatever line breaks {@code text} has. */
  static String errorLine(String command, String text) {
    return (command.equals("vdisk") ? "vdisk" : "vdisk " + command) + ": " + text.replaceAll("\\s*\\R\\s*", " ");
  }

  /** The error line's text for a failure: what went wrong, in the {@code what (expected: ...)} form where known. */
  static String describe(Throwable e) {
    if (e instanceof UncheckedIOException u) {
      return describe(u.getCause());
    }
    if (e instanceof CliException || e instanceof IllegalArgumentException || e instanceof BlockDeviceException) {
      return e.getMessage();
    }
    if (e instanceof NoSuchFileException f) {
      return f.getFile() + ": no such file or directory (expected: the path to exist)";
    }
    if (e instanceof FileAlreadyExistsException f) {
      return f.getFile() + ": already exists (expected: a new file, or --force to overwrite)";
    }
    if (e instanceof AccessDeniedException f) {
      return f.getFile() + ": permission denied (expected: a file this user may access)";
    }
    if (e instanceof FileSystemException f) {
      return f.getFile() + ": " + f.getReason();
    }
    if (e instanceof IOException) {
      return e.getMessage() == null ? e.toString() : e.getMessage();
    }
    return "internal error: " + e + " (expected: no internal errors; please report this with --debug output)";
  }

  /** {@code --version}: the project version (a constant: a short command never opens the jar for it). */
  static final class Version implements IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {"vdisk version " + BuildVersion.VERSION};
    }
  }
}
