package dev.vdisk.cli;

import java.util.function.Consumer;
import java.util.function.Supplier;
import picocli.CommandLine.Model.IGetter;
import picocli.CommandLine.Model.ISetter;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

/**
 * One option's place in a command object, as picocli's getter and setter, for the models built in code
 * ({@link CommandModels}): the lambdas read and write the field (or call the setter method) directly, where picocli's
 * own bindings would reflect over the annotated member.
 */
final class ModelBinding implements IGetter, ISetter {
  /** Reads the field; null for a setter method or a held value. */
  private final Supplier<Object> get;
  private final Consumer<Object> set;
  /** The last value given to a setter method (picocli's method bindings keep it too). */
  private Object last;

  private ModelBinding(Supplier<Object> get, Consumer<Object> set) {
    this.get = get;
    this.set = set;
  }

  /** A field, read by {@code get} and written by {@code set}. */
  static ModelBinding field(Supplier<Object> get, Consumer<Object> set) {
    return new ModelBinding(get, set);
  }

  /** A value held here, {@code initial} until it is set (picocli's bindings of options without a field). */
  static ModelBinding value(Object initial) {
    ModelBinding b = new ModelBinding(null, value -> {});
    b.last = initial;
    return b;
  }

  /** A setter method: {@code set} calls it; reading gives the last value it was given. */
  static ModelBinding method(Consumer<Object> set) {
    return new ModelBinding(null, set);
  }

  /** {@code option} bound here. */
  OptionSpec.Builder bind(OptionSpec.Builder option) {
    return option.getter(this).setter(this);
  }

  /** {@code parameter} bound here. */
  PositionalParamSpec.Builder bind(PositionalParamSpec.Builder parameter) {
    return parameter.getter(this).setter(this);
  }

  @Override
  @SuppressWarnings("unchecked")
  public <T> T get() {
    return (T) (get == null ? last : get.get());
  }

  @Override
  public <T> T set(T value) {
    T old = get();
    set.accept(value);
    last = value;
    return old;
  }
}
