package dev.vdisk;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.StringWriter;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Java example in README.md's "Use as a library" section compiles and runs exactly as it stands there. */
class ReadmeExampleTest {
  private static final Pattern JAVA_BLOCK = Pattern.compile("## Use as a library\\n.*?```java\\n(.*?)```", Pattern.DOTALL);

  @TempDir Path dir;

  @Test
  void theReadmeExampleCompilesRunsAndPrintsTheMap() throws Exception {
    String readme = Files.readString(readme());
    Matcher m = JAVA_BLOCK.matcher(readme);
    assertThat(m.find()).as("a ```java block in README.md's \"Use as a library\" section").isTrue();
    Path source = dir.resolve("Example.java");
    Files.writeString(source, m.group(1));

    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    StringWriter diagnostics = new StringWriter();
    boolean ok = javac.getTask(diagnostics, null, null,
        List.of("-d", dir.toString(), "-classpath", classPath(), "-Xlint:all,-path,-processing", "-Werror"), null,
        javac.getStandardFileManager(null, null, StandardCharsets.UTF_8).getJavaFileObjects(source.toFile())).call();
    assertThat(ok).as("javac: %s", diagnostics).isTrue();

    Path image = dir.resolve("example.qcow2");
    String out = run(image.toString());
    assertThat(out.lines()).containsExactly(
        "qcow2, cluster size 65536",
        "0 +1048576 data=false zero=true",
        "1048576 +4096 data=true zero=false",
        "1052672 +61440 data=true zero=true",
        "1114112 +65994752 data=false zero=true");
  }

  /** Runs {@code Example.main(args)} from the compiled example and returns what it printed. */
  private String run(String... args) throws Exception {
    PrintStream saved = System.out;
    ByteArrayOutputStream printed = new ByteArrayOutputStream();
    try (URLClassLoader loader = new URLClassLoader(new URL[] {dir.toUri().toURL()}, getClass().getClassLoader())) {
      Method main = loader.loadClass("Example").getMethod("main", String[].class);
      System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
      main.invoke(null, (Object) args);
    } finally {
      System.setOut(saved);
    }
    return printed.toString(StandardCharsets.UTF_8);
  }

  /** The README at the root of the repository (tests run in the module's directory). */
  private static Path readme() throws IOException {
    for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
      if (Files.exists(d.resolve("README.md")) && Files.exists(d.resolve("vdisk-core"))) {
        return d.resolve("README.md");
      }
    }
    throw new IOException("README.md: not found above " + Path.of("").toAbsolutePath() + " (expected: the repository root)");
  }

  /** The test's class path as surefire gives it (its own system property when the JVM sees a manifest-only jar). */
  private static String classPath() {
    String surefire = System.getProperty("surefire.test.class.path");
    return surefire != null && !surefire.isBlank() ? surefire : System.getProperty("java.class.path");
  }
}
