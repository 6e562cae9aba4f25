package dev.vdisk.advisor.rules;

import java.util.List;

/** Every rule, in the order findings are listed for a disk: what breaks first, then what is slow, then notes. */
public final class Rules {
  private static final List<Rule> ALL = List.of(
      new ImageUnreadableRule(),
      new FormatMismatchRule(),
      new BackingMismatchRule(),
      new SizeMismatchRule(),
      new DirectIoRefusedRule(),
      new IoNativeWithoutDirectRule(),
      new CacheWritethroughRule(),
      new CacheUnsafeRule(),
      new CacheDefaultRule(),
      new DiscardIgnoredRule(),
      new DetectZeroesUnmapRule(),
      new VirtioBlkDiscardRule(),
      new EmulatedBusRule(),
      new FormatUnsetRule(),
      new RawSparseDirectRule(),
      new RawFullyAllocatedRule(),
      new IoThreadsRule(),
      new Qcow2L2CacheRule(),
      new Qcow2PreallocationRule(),
      new Qcow2ClusterSizeRule(),
      new LazyRefcountsRule(),
      new BackingChainRule(),
      new SourceNotProbedRule());

  private Rules() {}

  /** All rules. */
  public static List<Rule> all() {
    return ALL;
  }
}
