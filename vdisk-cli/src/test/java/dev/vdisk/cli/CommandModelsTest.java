package dev.vdisk.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.StringWriter;
import java.lang.reflect.Array;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * The models of {@link CommandModels} (built in code) against picocli's models built from the annotations: the
 * generated file is the generator's current output, every attribute of every command, option, parameter and mixin
 * agrees, and the help and error texts are byte for byte the same.
 */
class CommandModelsTest {
  /**
   * Attributes left out of the comparison, and why: the objects that bind the model to the command object (picocli's
   * reflective field bindings against {@link ModelBinding}; their effect is compared by parsing), the annotated
   * members themselves (there are none in code), and back references (compared where they point).
   */
  private static final Set<String> NOT_COMPARED = Set.of("getter", "setter", "scope", "userObject", "annotatedElement",
      "typeInfo", "command", "commandLine", "parent", "root", "group", "mixinAnnotatedElements", "argGroups",
      "specElements", "parentCommandElements", "messages", "resourceBundle", "resourceBundleBaseName",
      "interpolateVariables", "getClass", "hashCode", "toString", "parseResult", "originalDefaultValue",
      "originalMapFallbackValue", "toBuilder", "helpFactory", "sectionMap", "defaultValueProvider", "modelTransformer",
      "negatableOptionTransformer", "replacedBy",
      "subcommands", "mixins", "options", "positionalParameters", "args", "optionsMap", "posixOptionsMap",
      "negatedOptionsMap", "requiredArgs", "unmatchedArgsBindings", "findOption", "qualifiedName", "names");

  @TempDir Path dir;

  @Test
  void generatedFileIsCurrent() throws IOException {
    String expected = CommandModelGenerator.source();
    Path file = CommandModelGenerator.TARGET;
    if (Boolean.getBoolean("vdisk.writeModels")) {
      Files.writeString(file, expected);
    }
    assertThat(Files.readString(file))
        .as("%s is not what CommandModelGenerator writes now (rewrite it: see its first lines)", file)
        .isEqualTo(expected);
  }

  static Stream<String> generated() {
    return CommandModelGenerator.GENERATED.stream().map(c -> c.getAnnotation(CommandLine.Command.class).name());
  }

  @Test
  void vdiskItselfAgrees() {
    assertThat(dump(inCode(null).getCommandSpec()).lines())
        .containsExactlyElementsOf(dump(annotated(null).getCommandSpec()).lines().toList());
  }

  @ParameterizedTest
  @MethodSource("generated")
  void everyAttributeAgrees(String command) {
    CommandSpec code = inCode(command).getSubcommands().get(command).getCommandSpec();
    CommandSpec annotations = annotated(command).getSubcommands().get(command).getCommandSpec();
    assertThat(dump(code).lines()).containsExactlyElementsOf(dump(annotations).lines().toList());
  }

  @ParameterizedTest
  @MethodSource("generated")
  void helpIsTheSame(String command) {
    assertThat(run(true, command, "--help")).isEqualTo(run(false, command, "--help"));
    assertThat(run(true, "help", command)).isEqualTo(run(false, "help", command));
    assertThat(run(true, command, "--help")).startsWith("0\nUsage: vdisk " + command);
  }

  @ParameterizedTest
  @MethodSource("generated")
  void errorsAreTheSame(String command) {
    for (String[] args : List.of(new String[] {command}, new String[] {command, "--no-such-option"},
        new String[] {command, "-f"}, new String[] {command, "a", "b", "c"}, new String[] {command, "--output"},
        new String[] {command, "--debug", dir.resolve("missing").toString()},
        new String[] {command, "-q", "--output=yaml", dir.resolve("missing").toString()})) {
      assertThat(run(true, args)).as(String.join(" ", args)).isEqualTo(run(false, args));
    }
  }

  @Test
  void parsedValuesAreTheSame() throws IOException {
    Path image = dir.resolve("a.qcow2");
    for (String[] args : List.of(new String[] {"create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "-o",
        "lazy_refcounts=on", image.toString(), "1M"}, new String[] {"info", "--output=json", image.toString()},
        new String[] {"check", "--output", "json", image.toString()}, new String[] {"map", "--start-offset", "4096",
        "--max-length=65536", "--output=json", image.toString()}, new String[] {"measure", "-O", "qcow2", "--size",
        "1G", "--output=json"}, new String[] {"info", "-U", "-f", "qcow2", image.toString()})) {
      String code = run(true, args);
      if (args[0].equals("create")) {
        Files.delete(image);
      }
      assertThat(code).as(String.join(" ", args)).isEqualTo(run(false, args)).startsWith("0\n");
    }
  }

  /** Exit status, standard output and standard error of one in-process run. */
  private static String run(boolean inCode, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int exit = Main.run(inCode, out, err, args);
    return exit + "\n" + out + "\n--- stderr ---\n" + err;
  }

  /** The tree {@link Main#run} builds for {@code vdisk command --help} (all commands without one), models in code. */
  private static CommandLine inCode(String command) {
    return tree(true, command);
  }

  private static CommandLine annotated(String command) {
    return tree(false, command);
  }

  private static CommandLine tree(boolean inCode, String command) {
    return command == null ? Main.tree(inCode, "--help") : Main.tree(inCode, command, "--help");
  }

  /** Every attribute of {@code spec}, its usage message, parser, options, parameters and mixins, one per line. */
  static String dump(CommandSpec spec) {
    StringBuilder b = new StringBuilder();
    attributes(b, "command", spec);
    attributes(b, "usage", spec.usageMessage());
    attributes(b, "parser", spec.parser());
    b.append("subcommands=").append(spec.subcommands().keySet()).append('\n');
    for (ArgSpec a : spec.args()) {
      attributes(b, a.isOption() ? "option " + String.join("|", ((CommandLine.Model.OptionSpec) a).names())
          : "parameter " + ((CommandLine.Model.PositionalParamSpec) a).index(), a);
      b.append("  initialValue=").append(render(a.initialValue())).append('\n');
    }
    for (Map.Entry<String, CommandSpec> m : spec.mixins().entrySet()) {
      b.append("mixin ").append(m.getKey()).append(" options=").append(m.getValue().options().stream()
          .map(o -> String.join("|", o.names())).toList()).append(" parameters=")
          .append(m.getValue().positionalParameters().size()).append('\n');
    }
    return b.toString();
  }

  private static void attributes(StringBuilder b, String what, Object o) {
    b.append(what).append('\n');
    List<Method> getters = new ArrayList<>();
    for (Method m : o.getClass().getMethods()) {
      if (m.getParameterCount() == 0 && m.getReturnType() != void.class && !Modifier.isStatic(m.getModifiers())
          && !NOT_COMPARED.contains(m.getName())) {
        getters.add(m);
      }
    }
    getters.sort(Comparator.comparing(Method::getName));
    for (Method m : getters) {
      Object value;
      try {
        value = m.invoke(o);
      } catch (ReflectiveOperationException e) {
        value = "threw " + e.getCause();
      }
      b.append("  ").append(m.getName()).append('=').append(render(value)).append('\n');
    }
  }

  private static String render(Object v) {
    if (v == null) {
      return "null";
    }
    if (v.getClass().isArray()) {
      List<String> items = new ArrayList<>();
      for (int i = 0; i < Array.getLength(v); i++) {
        items.add(render(Array.get(v, i)));
      }
      return items.toString();
    }
    if (v instanceof Map<?, ?> m) {
      return m.entrySet().stream().map(e -> render(e.getKey()) + ":" + render(e.getValue()))
          .collect(Collectors.joining(", ", "{", "}"));
    }
    if (v instanceof Iterable<?> it) {
      List<String> items = new ArrayList<>();
      it.forEach(x -> items.add(render(x)));
      return items.toString();
    }
    if (v instanceof Class<?> c) {
      return c.getName();
    }
    if (v instanceof CommandSpec c) {
      return "spec " + c.qualifiedName();
    }
    if (v instanceof ArgSpec a) {
      return "arg " + a.paramLabel();
    }
    if (v instanceof String || v instanceof Number || v instanceof Boolean || v instanceof Character
        || v instanceof Enum<?> || v instanceof CommandLine.Range) {
      return v.toString();
    }
    return v.getClass().getName().replaceAll("\\$\\$Lambda.*", "$$Lambda");
  }
}
