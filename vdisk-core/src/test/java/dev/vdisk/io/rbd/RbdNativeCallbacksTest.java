package dev.vdisk.io.rbd;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.management.ClassLoadingMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import org.junit.jupiter.api.Test;

/**
 * librbd's callbacks are made once per process, also when a connection made ahead and the first requests ask for
 * them at the same time: the late callers wait for the stub being made and get it; and made ahead, they are called
 * ahead, so their first calls from librbd generate no class. Needs librbd and librados (Debian's librbd1 and
 * librados2), not a cluster.
 */
class RbdNativeCallbacksTest {
  @Test
  void concurrentCallersGetTheOneStubOfEachCallback() throws Exception {
    RbdNative rbd = RbdNative.get();
    int threads = 8;
    CyclicBarrier start = new CyclicBarrier(threads);
    Set<Long> completions = ConcurrentHashMap.newKeySet();
    Set<Long> diffs = ConcurrentHashMap.newKeySet();
    List<Throwable> failures = new ArrayList<>();
    List<Thread> all = new ArrayList<>();
    for (int i = 0; i < threads; i++) {
      boolean aheadFirst = i == 0;
      all.add(Thread.ofPlatform().start(() -> {
        try {
          start.await();
          if (aheadFirst) {
            RbdNative.linkCallbacks(1); // as the thread of a connection made ahead does
          }
          completions.add(rbd.completionUpcall().address());
          diffs.add(rbd.diffUpcall().address());
        } catch (Throwable e) {
          synchronized (failures) {
            failures.add(e);
          }
        }
      }));
    }
    for (Thread t : all) {
      t.join();
    }
    assertThat(failures).isEmpty();
    assertThat(completions).hasSize(1);
    assertThat(diffs).hasSize(1);
    assertThat(completions).doesNotContain(0L).doesNotContainAnyElementsOf(diffs);
    assertThat(RbdNative.STUBS.get()).as("stubs made in this process").isEqualTo(2);
  }

  /**
   * After {@link RbdNative#linkCallbacks} for many requests, calls through the completion callback load no class: the JDK linked the
   * stub's call into Java and customized the handles of both directions during those calls, not during a command's
   * requests (on librbd's callback thread). The calls are for nobody, as the ahead ones are, and each answers so.
   */
  @Test
  void callbacksMadeAheadGenerateNoClassAtTheirFirstRequests() throws Throwable {
    assertThat(RbdNative.linkCallbacks(RbdNative.CUSTOMIZED_AFTER)).as("each callback answered as for nobody").isTrue();
    RbdNative.Downcall completion = new RbdNative.Downcall(RbdNative.get().completionUpcall());
    ClassLoadingMXBean classes = ManagementFactory.getClassLoadingMXBean();
    long answers = 0;
    long before = classes.getTotalLoadedClassCount();
    for (int i = 0; i < 2 * RbdNative.CUSTOMIZED_AFTER; i++) {
      answers |= completion.call(0, RbdCallbacks.NOBODY, 0, 0);
    }
    long after = classes.getTotalLoadedClassCount();
    assertThat(answers).isZero();
    assertThat(after).as("classes loaded by the calls").isEqualTo(before);
  }
}
