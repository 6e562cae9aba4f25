package dev.vdisk.cli;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Help.Visibility;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;
import picocli.CommandLine.Model.UsageMessageSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * Writes {@code CommandModels.java}: picocli's model of vdisk and of its short commands as code, read from the model
 * picocli builds by reflection over their annotations, so the annotations stay the one source of truth. Run by
 * {@link CommandModelsTest}, which fails when the committed file differs from what this writes (and rewrites it with
 * {@code -Dvdisk.writeModels=true}) and checks that both models agree attribute by attribute.
 *
 * <p>Supports what these commands use: options and positional parameters on fields and setter methods, mixins,
 * {@code @Spec} (self and mixee), {@code @ParentCommand}, the standard help options, and the usage message's
 * attributes; anything else (argument groups, {@code @Unmatched}, converters, ...) stops it with an error naming it.
 */
final class CommandModelGenerator {
  /** The file this writes, relative to vdisk-cli. */
  static final Path TARGET = Path.of("src/main/java/dev/vdisk/cli/CommandModels.java");

  /** The subcommands built in code: the short ones a script calls many times (issue 16), and convert (issue 18). */
  static final List<Class<?>> GENERATED = List.of(CreateCommand.class, InfoCommand.class, MapCommand.class,
      CheckCommand.class, ResizeCommand.class, ConvertCommand.class, CompareCommand.class, MeasureCommand.class,
      RebaseCommand.class, CommitCommand.class, AmendCommand.class);

  /** picocli's key of the standard help options' mixin ({@code mixinStandardHelpOptions = true}). */
  static final String STANDARD_HELP = "mixinStandardHelpOptions";

  private final StringBuilder out = new StringBuilder();
  private final List<Class<?>> mixins = new ArrayList<>();
  private boolean standardHelp;

  private CommandModelGenerator() {}

  public static void main(String[] args) throws IOException {
    Files.writeString(Path.of(args.length > 0 ? args[0] : TARGET.toString()), source());
  }

  /** The text of {@code CommandModels.java}. */
  static String source() {
    return new CommandModelGenerator().generate();
  }

  private String generate() {
    CommandLine full = Main.fullModel();
    line("// Written by CommandModelGenerator (test sources) from the picocli annotations of the classes named below; do");
    line("// not edit. CommandModelsTest fails when this file differs from what the generator writes now; rewrite it with");
    line("// ./mvnw -pl vdisk-cli -am test -Dtest=CommandModelsTest -Dvdisk.writeModels=true -Dsurefire.failIfNoSpecifiedTests=false");
    line("package dev.vdisk.cli;");
    line("");
    line("import java.util.List;");
    line("import java.util.Optional;");
    line("import picocli.CommandLine.Help.Visibility;");
    line("import picocli.CommandLine.Model.CommandSpec;");
    line("import picocli.CommandLine.Model.OptionSpec;");
    line("import picocli.CommandLine.Model.PositionalParamSpec;");
    line("import picocli.CommandLine.ScopeType;");
    line("");
    line("/**");
    line(" * picocli's model of vdisk and of its short commands, built in code: picocli's own model reads the annotations,");
    line(" * and the JVM spins a proxy class for each annotation type it reads, which costs a short command more than the");
    line(" * rest of its start. The same model as the annotations' (CommandModelsTest compares every attribute and the help).");
    line(" */");
    line("final class CommandModels {");
    line("  private CommandModels() {}");
    line("");
    line("  /** The name of each of {@code Main}'s subcommands, in its order. */");
    line("  static final List<String> SUBCOMMAND_NAMES = List.of(" + Main.SUBCOMMANDS.stream()
        .map(c -> quote(full.getSubcommands().entrySet().stream()
            .filter(e -> e.getValue().getCommandSpec().userObject().getClass() == c).findFirst().orElseThrow().getKey()))
        .collect(Collectors.joining(", ")) + ");");
    line("");
    line("  /** The subcommand {@code name}'s model, for a new command object whose parent is {@code parent}; empty for a");
    line("   * command without a model in code. */");
    line("  static Optional<CommandSpec> subcommand(String name, Main parent) {");
    line("    return Optional.ofNullable(switch (name) {");
    for (Class<?> c : GENERATED) {
      String name = nameOf(full, c);
      line("      case " + quote(name) + " -> " + method(c) + "(new " + c.getSimpleName() + "(), parent);");
    }
    line("      default -> null;");
    line("    });");
    line("  }");
    command(full.getCommandSpec(), Main.class, "vdisk", "the model of vdisk itself, without subcommands", null);
    for (Class<?> c : GENERATED) {
      command(full.getSubcommands().get(nameOf(full, c)).getCommandSpec(), c, method(c), "vdisk " + nameOf(full, c),
          "Main parent");
    }
    for (int i = 0; i < mixins.size(); i++) {
      Class<?> m = mixins.get(i);
      CommandSpec spec = mixinSpec(full, m);
      command(spec, m, method(m), "the mixin " + m.getSimpleName() + "'s options", "CommandSpec mixee");
    }
    if (standardHelp) {
      standardHelp(full.getCommandSpec().mixins().get(STANDARD_HELP));
    }
    line("}");
    return out.toString();
  }

  private static String nameOf(CommandLine full, Class<?> c) {
    return full.getSubcommands().entrySet().stream()
        .filter(e -> e.getValue().getCommandSpec().userObject().getClass() == c).findFirst().orElseThrow().getKey();
  }

  /** The annotation model of mixin class {@code m}, from the first generated command that has it. */
  private static CommandSpec mixinSpec(CommandLine full, Class<?> m) {
    return full.getSubcommands().values().stream().flatMap(sub -> sub.getCommandSpec().mixins().values().stream())
        .filter(s -> s.userObject() != null && s.userObject().getClass() == m).findFirst().orElseThrow();
  }

  /** A method that builds the model of {@code cls} (a command or a mixin) from its annotation model {@code spec}. */
  private void command(CommandSpec spec, Class<?> cls, String method, String what, String extraParam) {
    String self = cls.getSimpleName();
    line("");
    line("  /** " + (what.startsWith("vdisk ") ? "The model of {@code " + what + "}" : capital(what)) + ", bound to {@code c}. */");
    line("  @SuppressWarnings(\"unchecked\")");
    line("  static CommandSpec " + method + "(" + self + " c" + (extraParam == null ? "" : ", " + extraParam) + ") {");
    line("    CommandSpec s = CommandSpec.wrapWithoutInspection(c);");
    boolean isMixin = extraParam != null && extraParam.startsWith("CommandSpec");
    if (!isMixin) {
      line("    s.name(" + quote(spec.name()) + ");");
    }
    usage(spec.usageMessage());
    if (spec.versionProvider() != null) {
      line("    s.versionProvider(new " + spec.versionProvider().getClass().getCanonicalName().replace("dev.vdisk.cli.", "") + "());");
    }
    if (spec.scopeType() != ScopeType.LOCAL) {
      throw new IllegalStateException(self + ": a command's scope (expected: none)");
    }
    if (!spec.argGroups().isEmpty() || !spec.unmatchedArgsBindings().isEmpty() || spec.defaultValueProvider() != null
        || !spec.aliases().equals(new String[0]) && spec.aliases().length > 0) {
      throw new IllegalStateException(self + ": argument groups, @Unmatched, default providers or aliases (expected: none)");
    }
    for (Field f : cls.getDeclaredFields()) {
      if (f.isAnnotationPresent(Mixin.class)) {
        Class<?> type = f.getType();
        String name = f.getAnnotation(Mixin.class).name().isEmpty() ? f.getName() : f.getAnnotation(Mixin.class).name();
        if (!mixins.contains(type)) {
          mixins.add(type);
        }
        line("    c." + f.getName() + " = new " + type.getSimpleName() + "();");
        line("    s.addMixin(" + quote(name) + ", " + method(type) + "(c." + f.getName() + ", s));");
      } else if (f.isAnnotationPresent(ParentCommand.class)) {
        line("    c." + f.getName() + " = parent;");
      } else if (f.isAnnotationPresent(Spec.class)) {
        line("    c." + f.getName() + " = " + (f.getAnnotation(Spec.class).value() == Spec.Target.MIXEE ? "mixee" : "s") + ";");
      } else if (f.isAnnotationPresent(Option.class) || f.isAnnotationPresent(Parameters.class)) {
        arg(argOf(spec, f), "c." + f.getName(), sourceType(f.getGenericType()), false);
      }
    }
    for (Method m : cls.getDeclaredMethods()) {
      if (m.isAnnotationPresent(Option.class) || m.isAnnotationPresent(Parameters.class)) {
        if (m.getParameterCount() != 1) {
          throw new IllegalStateException(m + ": an option on a getter (expected: a setter method)");
        }
        arg(argOf(spec, m), "c." + m.getName(), sourceType(m.getGenericParameterTypes()[0]), true);
      }
    }
    if (spec.mixins().containsKey(STANDARD_HELP)) {
      standardHelp = true;
      line("    s.addMixin(\"" + STANDARD_HELP + "\", standardHelp());");
    }
    line("    return s;");
    line("  }");
  }

  private static ArgSpec argOf(CommandSpec spec, Object member) {
    return spec.args().stream().filter(a -> member.equals(a.userObject())).findFirst()
        .orElseThrow(() -> new IllegalStateException(member + ": not in the annotation model"));
  }

  /** One option or positional parameter, added to {@code s}, bound to {@code target} (a field or setter method). */
  private void arg(ArgSpec a, String target, String type, boolean setterMethod) {
    StringBuilder b = new StringBuilder();
    String binding = setterMethod ? "ModelBinding.method(v -> " + target + "((" + type + ") v))"
        : "ModelBinding.field(() -> " + target + ", v -> " + target + " = (" + type + ") v)";
    if (a instanceof OptionSpec o) {
      b.append("    s.addOption(").append(binding).append(".bind(OptionSpec.builder(").append(quoteAll(o.names())).append(")");
    } else {
      PositionalParamSpec p = (PositionalParamSpec) a;
      b.append("    s.addPositional(").append(binding).append(".bind(PositionalParamSpec.builder().index(")
          .append(quote(p.index().originalValue())).append(")");
    }
    String indent = "\n        ";
    b.append(indent).append(".type(").append(classLiteral(a.type())).append(")");
    if (a.auxiliaryTypes().length > 0 && !(a.auxiliaryTypes().length == 1 && a.auxiliaryTypes()[0] == a.type())) {
      b.append(".auxiliaryTypes(").append(Stream.of(a.auxiliaryTypes()).map(CommandModelGenerator::classLiteral)
          .collect(Collectors.joining(", "))).append(")");
    }
    b.append(".arity(").append(quote(a.arity().originalValue())).append(")");
    b.append(".paramLabel(").append(quote(a.paramLabel())).append(")");
    if (a.description().length > 0) {
      b.append(indent).append(".description(").append(quoteAll(a.description())).append(")");
    }
    if (a.descriptionKey() != null) {
      b.append(indent).append(".descriptionKey(").append(quote(a.descriptionKey())).append(")");
    }
    if (a.prompt() != null) {
      b.append(".prompt(").append(quote(a.prompt())).append(")");
    }
    if (a.required()) {
      b.append(".required(true)");
    }
    if (a.defaultValue() != null) {
      b.append(".defaultValue(").append(quote(a.defaultValue())).append(")");
    }
    if (!a.splitRegex().isEmpty()) {
      b.append(".splitRegex(").append(quote(a.splitRegex())).append(")");
    }
    if (a.hidden()) {
      b.append(".hidden(true)");
    }
    if (a.hideParamSyntax()) {
      b.append(".hideParamSyntax(true)");
    }
    if (a.showDefaultValue() != Visibility.ON_DEMAND) {
      b.append(".showDefaultValue(Visibility.").append(a.showDefaultValue()).append(")");
    }
    if (a.scopeType() != ScopeType.LOCAL) {
      b.append(".scopeType(ScopeType.").append(a.scopeType()).append(")");
    }
    if (a.interactive() || a.converters().length > 0 || a.parameterConsumer() != null) {
      throw new IllegalStateException(a + ": interactive, a converter or a parameter consumer (expected: none)");
    }
    if (a instanceof OptionSpec o) {
      if (o.usageHelp()) {
        b.append(".usageHelp(true)");
      }
      if (o.versionHelp()) {
        b.append(".versionHelp(true)");
      }
      if (o.negatable() || o.order() != -1 || !o.fallbackValue().isEmpty()) {
        throw new IllegalStateException(a + ": negatable, order or fallback value (expected: none)");
      }
    }
    b.append(indent).append(".withToString(").append(quote(a.toString())).append(")");
    b.append(setterMethod ? ".hasInitialValue(false)" : ".initialValue(" + target + ")");
    b.append(").build());");
    line(b.toString());
  }

  /** The standard help options' mixin, as picocli's {@code AutoHelpMixin} declares them. */
  private void standardHelp(CommandSpec spec) {
    line("");
    line("  /** The standard help options ({@code mixinStandardHelpOptions = true}); their bindings hold their values. */");
    line("  private static CommandSpec standardHelp() {");
    line("    CommandSpec s = CommandSpec.create();");
    for (OptionSpec o : spec.options()) {
      line("    s.addOption(ModelBinding.value(false).bind(OptionSpec.builder(" + quoteAll(o.names()) + ").type(boolean.class).arity("
          + quote(o.arity().originalValue()) + ").paramLabel(" + quote(o.paramLabel()) + ")"
          + (o.usageHelp() ? ".usageHelp(true)" : "") + (o.versionHelp() ? ".versionHelp(true)" : "")
          + "\n        .descriptionKey(" + quote(o.descriptionKey()) + ").prompt(" + quote(o.prompt()) + ").description("
          + quoteAll(o.description()) + ")\n        .withToString(" + quote(o.toString()) + ").initialValue(false)).build());");
    }
    line("    return s;");
    line("  }");
  }

  /** The usage message attributes that differ from a new {@code CommandSpec}'s. */
  private void usage(UsageMessageSpec u) {
    UsageMessageSpec plain = CommandSpec.create().usageMessage();
    // By name: the order getMethods returns is unspecified and changed between two runs of the same build, and so did
    // the generated file's (CommandModelsTest failed in a clean-clone CI run); these setters do not depend on order.
    Method[] getters = UsageMessageSpec.class.getMethods();
    java.util.Arrays.sort(getters, java.util.Comparator.comparing(Method::getName));
    for (Method getter : getters) {
      Class<?> t = getter.getReturnType();
      if (getter.getParameterCount() != 0 || Modifier.isStatic(getter.getModifiers())
          || getter.getDeclaringClass() != UsageMessageSpec.class
          || !(t == String.class || t == String[].class || t == boolean.class || t == char.class)) {
        continue;
      }
      Object mine = invoke(getter, u);
      Object theirs = invoke(getter, plain);
      boolean same = mine instanceof String[] x ? java.util.Arrays.equals(x, (String[]) theirs) : java.util.Objects.equals(mine, theirs);
      if (!same) {
        String value = mine instanceof String[] x ? quoteAll(x) : mine instanceof String x ? quote(x)
            : mine instanceof Character c ? "'" + c + "'" : mine.toString();
        line("    s.usageMessage()." + getter.getName() + "(" + value + ");");
      }
    }
  }

  private static Object invoke(Method m, Object target) {
    try {
      return m.invoke(target);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(m + ": " + e, e);
    }
  }

  private static String method(Class<?> c) {
    if (c == Main.class) {
      return "vdisk";
    }
    String n = c.getSimpleName().replaceFirst("Command$", "");
    return Character.toLowerCase(n.charAt(0)) + n.substring(1);
  }

  private static String capital(String s) {
    return Character.toUpperCase(s.charAt(0)) + s.substring(1);
  }

  private static String classLiteral(Class<?> c) {
    return (c.isPrimitive() || c.getPackageName().equals("java.lang") ? c.getSimpleName()
        : c.getName().replace('$', '.')) + ".class";
  }

  /** {@code t} as it is spelled in a cast. */
  private static String sourceType(Type t) {
    if (t instanceof Class<?> c) {
      return c.isPrimitive() || c.getPackageName().equals("java.lang") ? c.getSimpleName() : c.getName().replace('$', '.');
    }
    if (t instanceof ParameterizedType p) {
      return sourceType(p.getRawType()) + "<" + Stream.of(p.getActualTypeArguments()).map(CommandModelGenerator::sourceType)
          .collect(Collectors.joining(", ")) + ">";
    }
    throw new IllegalStateException(t + ": a type this generator cannot spell");
  }

  private static String quoteAll(String[] values) {
    return Stream.of(values).map(CommandModelGenerator::quote).collect(Collectors.joining(", "));
  }

  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char ch : s.toCharArray()) {
      switch (ch) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\t' -> b.append("\\t");
        default -> {
          if (ch < 0x20 || ch > 0x7e) {
            b.append(String.format("\\u%04x", (int) ch));
          } else {
            b.append(ch);
          }
        }
      }
    }
    return b.append('"').toString();
  }

  private void line(String s) {
    out.append(s).append('\n');
  }
}
