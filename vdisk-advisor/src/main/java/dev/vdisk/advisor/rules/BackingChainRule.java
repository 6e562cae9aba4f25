package dev.vdisk.advisor.rules;

import dev.vdisk.advisor.model.Disk;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** A long backing chain. */
final class BackingChainRule implements Rule {
  /** More backing images than this is flagged; a threshold of this tool, not a QEMU limit. */
  static final int MAX_BACKING = 3;

  @Override
  public String id() {
    return "backing-chain-long";
  }

  @Override
  public Severity severity() {
    return Severity.NOTE;
  }

  @Override
  public String summary() {
    return "more than " + MAX_BACKING + " backing images (declared or probed): a read of data the top image does not"
        + " hold looks it up image by image down the chain, each with its own L2 cache and open file";
  }

  @Override
  public Optional<Finding> check(Disk d, RuleContext c) {
    List<String> chain = c.readableImage().map(i -> i.backingChain())
        .orElse(d.backing() == null ? List.of() : d.backing().stream().map(b -> b.path()).toList());
    if (chain.size() <= MAX_BACKING) {
      return Optional.empty();
    }
    return Optional.of(new Finding(id(), severity(), d.name(),
        chain.size() + " backing images below " + (d.path() == null ? d.name() : d.path()) + ": "
            + String.join(" <- ", chain),
        "every read of a cluster the top image has not written walks down the chain (one L2 lookup per image until"
            + " one holds it), and each image keeps its own L2 cache and file descriptor",
        "merge the chain: live with virsh blockcommit --active --pivot or virsh blockpull; offline with qemu-img"
            + " commit or qemu-img rebase", Map.of(), d));
  }
}
