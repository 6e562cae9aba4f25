package dev.vdisk.cli;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import dev.vdisk.advisor.AdviseException;
import dev.vdisk.advisor.Advisor;
import dev.vdisk.advisor.Input;
import dev.vdisk.advisor.Report;
import dev.vdisk.advisor.ReportText;
import dev.vdisk.advisor.facts.BenchReport;
import dev.vdisk.advisor.facts.HostFacts;
import dev.vdisk.advisor.facts.ImageProbe;
import dev.vdisk.advisor.facts.QemuVersion;
import dev.vdisk.advisor.rules.Rule;
import dev.vdisk.advisor.rules.Rules;
import dev.vdisk.advisor.rules.Severity;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * {@code vdisk advise}: audits libvirt domain XML or a QEMU command line for disk settings that are slow, leak
 * space or are unsafe, with the fact behind each finding, and writes the fix with {@code --fix}.
 *
 * <p>Exit status: 0 without a fail finding, 1 with one, 2 when an input cannot be read (malformed XML, a DTD, a
 * missing file, a bad bench report); option errors exit 1 as in every vdisk command. With {@code --fix}, the
 * corrected text goes to {@code --out}, over the input with {@code --in-place} (the original kept as FILE.bak), or
 * to standard output, the report then going to standard error.
 */
@Command(name = "advise", mixinStandardHelpOptions = true,
    footerHeading = "%nExamples:%n", footer = {"  vdisk advise /etc/libvirt/qemu/vm1.xml", "  virsh dumpxml vm1 | vdisk advise --output=json -"},
    description = "Audit libvirt domain XML or a QEMU command line for disk performance, space and safety traps.")
final class AdviseCommand implements Callable<Integer> {
  @ParentCommand Main main;

  @Mixin OutputOption output;

  @Parameters(paramLabel = "DOMAIN.xml", arity = "0..*", description = "Domain XML files (virsh dumpxml); - reads standard input.")
  List<String> files = new ArrayList<>();

  @Option(names = "--qemu-cmdline", paramLabel = "ARGS",
      description = "A QEMU command line (-drive, -blockdev, -device) as one string; - reads standard input.")
  String qemuCmdline;

  @Option(names = "--probe-images", description = "Open local images read-only (force-share) for format, size, allocation, backing chain, file system.")
  boolean probeImages;

  @Option(names = "--bench", paramLabel = "REPORT.json", description = "A vdisk bench --matrix --output=json report whose ratios the findings quote.")
  Path bench;

  @Option(names = "--qemu-version", paramLabel = "X.Y", description = "The QEMU version to judge against (default: the installed one).")
  String qemuVersion;

  @Option(names = "--list-rules", description = "List every rule with its id, severity and reason.")
  boolean listRules;

  @Option(names = "--fix", description = "Write the configuration with the fixable findings fixed.")
  boolean fix;

  @Option(names = "--out", paramLabel = "FILE", description = "With --fix: write the corrected configuration here.")
  Path out;

  @Option(names = "--in-place", description = "With --fix: overwrite the input file, keeping the original as FILE.bak.")
  boolean inPlace;

  /** The {@code --output=json} document. */
  @JsonPropertyOrder({"qemu-version", "qemu-version-source", "probed", "bench", "inputs", "summary"})
  record Document(
      @JsonProperty("qemu-version") String qemuVersion,
      @JsonProperty("qemu-version-source") String qemuVersionSource,
      @JsonProperty("probed") boolean probed,
      @JsonProperty("bench") String bench,
      @JsonProperty("inputs") List<Report> inputs,
      @JsonProperty("summary") Summary summary) {}

  /** Counts over all inputs. */
  @JsonPropertyOrder({"findings", "fail", "warn", "note"})
  record Summary(@JsonProperty("findings") long findings, @JsonProperty("fail") long fail,
      @JsonProperty("warn") long warn, @JsonProperty("note") long note) {}

  /** One rule in {@code --list-rules --output=json}. */
  @JsonPropertyOrder({"id", "severity", "summary"})
  record RuleInfo(@JsonProperty("id") String id, @JsonProperty("severity") Severity severity,
      @JsonProperty("summary") String summary) {}

  @Override
  public Integer call() {
    boolean json = output.json();
    if (listRules) {
      listRules(json);
      return 0;
    }
    try {
      checkArguments();
      QemuVersion qemu = qemuVersion != null ? QemuVersion.parse(qemuVersion) : QemuVersion.detect();
      BenchReport report = bench == null ? null : BenchReport.read(bench);
      List<Input> inputs = readInputs();
      Advisor advisor = new Advisor(qemu, HostFacts.detect(), report, probeImages ? ImageProbe::probe : null);
      List<Report> reports = inputs.stream().map(advisor::advise).toList();
      boolean fixedToStdout = fix && out == null && !inPlace;
      PrintWriter reportTo = fixedToStdout ? main.err() : main.out();
      if (json) {
        reportTo.println(Json.pretty(document(qemu, reports)));
      } else {
        reportTo.print(ReportText.render(reports, qemu));
      }
      reportTo.flush();
      if (fix) {
        writeFixes(reports);
      }
      return reports.stream().anyMatch(r -> r.count(Severity.FAIL) > 0) ? 1 : 0;
    } catch (AdviseException | IOException | IllegalArgumentException e) {
      main.out().flush();
      main.err().println(Main.errorLine("advise", Main.describe(e instanceof AdviseException a ? new CliException(a.getMessage()) : e)));
      main.err().flush();
      return 2;
    }
  }

  private void checkArguments() throws AdviseException {
    int count = files.size() + (qemuCmdline == null ? 0 : 1);
    if (count == 0) {
      throw new AdviseException("no input (expected: DOMAIN.xml files, - for standard input, or --qemu-cmdline ARGS)");
    }
    if ((out != null || inPlace) && !fix) {
      throw new AdviseException((out != null ? "--out" : "--in-place") + " without --fix (expected: --fix with it)");
    }
    if (out != null && inPlace) {
      throw new AdviseException("--out and --in-place together (expected: one of them)");
    }
    if (fix && count > 1 && !inPlace) {
      throw new AdviseException("--fix with " + count + " inputs (expected: one input, or --in-place for several files)");
    }
    if (inPlace && (qemuCmdline != null || files.contains("-"))) {
      throw new AdviseException("--in-place on " + (qemuCmdline != null ? "a command line" : "standard input")
          + " (expected: a file; use --out FILE or standard output)");
    }
    if (files.stream().filter("-"::equals).count() + ("-".equals(qemuCmdline) ? 1 : 0) > 1) {
      throw new AdviseException("standard input named twice (expected: - at most once)");
    }
  }

  private List<Input> readInputs() throws AdviseException, IOException {
    List<Input> inputs = new ArrayList<>();
    for (String f : files) {
      inputs.add(Input.domainXml(read(f), f));
    }
    if (qemuCmdline != null) {
      String text = qemuCmdline.equals("-") ? read("-") : qemuCmdline;
      inputs.add(Input.qemuCmdline(text, qemuCmdline.equals("-") ? "-" : "qemu-cmdline"));
    }
    return inputs;
  }

  /** The UTF-8 text of a file or of standard input; bytes that are not UTF-8 are an error, not replaced. */
  private static String read(String name) throws AdviseException, IOException {
    byte[] bytes;
    if (name.equals("-")) {
      InputStream in = System.in;
      bytes = in.readAllBytes();
    } else {
      Path p = Path.of(name);
      if (Files.isDirectory(p)) {
        throw new AdviseException(name + ": is a directory (expected: a domain XML file)");
      }
      bytes = Files.readAllBytes(p);
    }
    try {
      return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(bytes)).toString();
    } catch (CharacterCodingException e) {
      throw new AdviseException(name + ": not UTF-8 text (expected: a domain XML as virsh dumpxml prints it)", e);
    }
  }

  private void writeFixes(List<Report> reports) throws IOException {
    for (Report r : reports) {
      String fixed = r.input().fixed(r.findings());
      if (inPlace) {
        Path file = Path.of(r.source());
        Files.copy(file, file.resolveSibling(file.getFileName() + ".bak"), StandardCopyOption.REPLACE_EXISTING,
            StandardCopyOption.COPY_ATTRIBUTES);
        AtomicFiles.writeString(file, fixed, StandardCharsets.UTF_8);
      } else if (out != null) {
        Files.writeString(out, fixed, StandardCharsets.UTF_8);
      } else {
        main.out().print(fixed.endsWith("\n") ? fixed : fixed + "\n");
        main.out().flush();
      }
    }
  }

  private Document document(QemuVersion qemu, List<Report> reports) {
    long fail = reports.stream().mapToLong(r -> r.count(Severity.FAIL)).sum();
    long warn = reports.stream().mapToLong(r -> r.count(Severity.WARN)).sum();
    long note = reports.stream().mapToLong(r -> r.count(Severity.NOTE)).sum();
    return new Document(qemu.number(), qemu.source(), probeImages, bench == null ? null : bench.toString(), reports,
        new Summary(fail + warn + note, fail, warn, note));
  }

  private void listRules(boolean json) {
    PrintWriter o = main.out();
    if (json) {
      o.println(Json.pretty(Rules.all().stream().map(r -> new RuleInfo(r.id(), r.severity(), r.summary())).toList()));
      return;
    }
    int width = Rules.all().stream().mapToInt(r -> r.id().length()).max().orElse(0);
    for (Rule r : Rules.all()) {
      o.println(r.id() + " ".repeat(width - r.id().length()) + "  " + r.severity().word() + " ".repeat(6 - r.severity().word().length())
          + r.summary());
    }
  }
}
