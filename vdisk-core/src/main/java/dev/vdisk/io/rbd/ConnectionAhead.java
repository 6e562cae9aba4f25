package dev.vdisk.io.rbd;

import dev.vdisk.block.BlockDeviceException;
import dev.vdisk.block.BlockError;
import java.io.IOException;
import java.util.Map;
import java.util.Objects;

/**
 * The process's one connection to a cluster made before an open asks for it: {@linkplain #start started} on a daemon
 * thread while the command line is still being parsed (connecting takes tens of milliseconds of librados' threads
 * and the monitor's round trips, which then overlap the JVM's own start), or {@linkplain #keep kept} by a create for
 * the open that follows it. {@link RadosCluster#connect} {@linkplain #take takes} it when its name is the one opened,
 * so a command connects once where it connected once per step.
 *
 * <p>At most one is held: a new one replaces (and closes) one for another name. One nobody takes is shut down when
 * the JVM exits, if its connect has returned by then (a connect still waiting for the monitors is left to die with
 * the process: shutting it down would wait for the timeout). Thread-safe.
 */
final class ConnectionAhead implements Runnable {
  private static ConnectionAhead held; // guarded by ConnectionAhead.class
  private static boolean hooked; // guarded by ConnectionAhead.class

  private final RbdName name;
  /** What the command will do with the image: what the thread prepares once it has connected. */
  private final RbdDevice.Use use;
  private RadosCluster cluster; // guarded by this
  private Throwable error; // guarded by this
  private boolean done; // guarded by this
  private boolean dropped; // guarded by this: replaced or shut down, its connection to be closed when made

  private ConnectionAhead(RbdName name, RbdDevice.Use use) {
    this.name = name;
    this.use = use;
  }

  /**
   * Starts connecting to {@code name}'s cluster on a daemon thread, unless one for that name is held already. A name
   * with {@code key-secret} is skipped: its secret is defined later on the command line. For a {@code use} with
   * requests, the thread then makes and calls librbd's callbacks ({@link RbdNative#linkCallbacks}) while the command
   * opens the image.
   */
  static void start(RbdName name, RbdDevice.Use use) {
    ConnectionAhead a = name.options().containsKey(RbdName.KEY_SECRET) ? null : hold(name, null, use);
    if (a == null) {
      return;
    }
    Thread t = new Thread(a, "rbd-connect-ahead");
    t.setDaemon(true);
    t.start();
  }

  /** Holds {@code cluster}, made for {@code name}, for the next open of that name (create's connection). */
  static void keep(RbdName name, RadosCluster cluster) {
    hold(name, cluster, RbdDevice.Use.OPEN);
  }

  /**
   * Takes the connection held for {@code name}, waiting for its connect to return; null if none is held for it.
   *
   * @throws IOException the connect's own failure, as {@link RadosCluster#connect} would have thrown it
   */
  static RadosCluster take(RbdName name) throws IOException {
    ConnectionAhead a;
    synchronized (ConnectionAhead.class) {
      a = held;
      if (a == null || !same(a.name, name)) {
        return null;
      }
      held = null;
    }
    return a.await();
  }

  /** Holds a new entry for {@code name} (made with {@code cluster} if not null); null if one for it is held already. */
  private static ConnectionAhead hold(RbdName name, RadosCluster cluster, RbdDevice.Use use) {
    ConnectionAhead a = new ConnectionAhead(name, use);
    if (cluster != null) {
      a.finish(cluster, null);
    }
    ConnectionAhead old;
    synchronized (ConnectionAhead.class) {
      old = held;
      if (cluster == null && old != null && same(old.name, name)) {
        return null;
      }
      held = a;
      if (!hooked) {
        hooked = true;
        Runtime.getRuntime().addShutdownHook(new AtExit());
      }
    }
    if (old != null) {
      old.drop();
    }
    return a;
  }

  /**
   * Whether two names reach the same image the same way. Field by field: a record's own equals is bootstrapped at its
   * first call (ObjectMethods spins method handles: thousands of interpreted bytecodes and a dozen classes).
   */
  private static boolean same(RbdName a, RbdName b) {
    return a.pool().equals(b.pool()) && a.namespace().equals(b.namespace()) && a.image().equals(b.image())
        && Objects.equals(a.snapshot(), b.snapshot()) && Objects.equals(a.conf(), b.conf()) && Objects.equals(a.id(), b.id())
        && a.options().equals(b.options());
  }

  /** Shuts down the connection nobody took, as the JVM exits. */
  private static final class AtExit extends Thread {
    AtExit() {
      super("rbd-connect-ahead-exit");
    }

    @Override
    public void run() {
      ConnectionAhead a;
      synchronized (ConnectionAhead.class) {
        a = held;
        held = null;
      }
      if (a != null) {
        a.drop();
      }
    }
  }

  /**
   * The daemon thread's work: connects, with no cache options yet (the open sets them); then, for a command that will
   * make requests, makes librbd's callbacks and calls them ({@link RbdNative#linkCallbacks}: the JDK's work at their
   * first calls off the requests' path). After the connect rather than before: until it returns, the command's
   * thread waits for it, and the library's load and the connect's own work take the cores; after it, the command
   * opens the image (round trips to the OSD) and its other files while the callbacks are made, where the first
   * request and the first extent walk made them one after the other (a convert from RBD: 30-45 ms).
   */
  @Override
  public void run() {
    try {
      finish(RadosCluster.connectNow(name, Map.of()), null);
    } catch (Throwable e) {
      finish(null, e);
      return;
    }
    // Not a switch on the enum: javac would add a class (its switch map) for the JVM to load.
    if (use != RbdDevice.Use.OPEN) {
      RbdNative.linkCallbacks(use == RbdDevice.Use.MANY_REQUESTS ? RbdNative.CUSTOMIZED_AFTER : 1);
    }
  }

  private void finish(RadosCluster c, Throwable e) {
    boolean close;
    synchronized (this) {
      cluster = c;
      error = e;
      done = true;
      close = dropped && c != null;
      notifyAll();
    }
    if (close) {
      c.close();
    }
  }

  /** Closes the connection now if it is made, else when its connect returns. */
  private void drop() {
    RadosCluster c;
    synchronized (this) {
      dropped = true;
      c = done ? cluster : null;
    }
    if (c != null) {
      c.close();
    }
  }

  private RadosCluster await() throws IOException {
    boolean interrupted = false;
    try {
      synchronized (this) {
        while (!done) {
          try {
            wait();
          } catch (InterruptedException e) {
            interrupted = true;
          }
        }
        if (error instanceof IOException e) {
          throw e;
        }
        if (error instanceof RuntimeException e) {
          throw e;
        }
        if (error instanceof Error e) {
          throw e;
        }
        if (error != null) {
          throw new BlockDeviceException(BlockError.EIO, name + ": " + error, error);
        }
        return cluster;
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
