package dev.vdisk.advisor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.advisor.facts.BenchReport;
import dev.vdisk.advisor.facts.QemuVersion;
import dev.vdisk.advisor.rules.Finding;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The bench report reader's tolerance, and findings that quote measured ratios instead of the generic ones. */
class BenchReportTest {
  private static final String REPORT = """
      {"machine": {"kernel": "6.1"}, "cells": [
        {"layout": "raw-sparse", "cache": "writeback", "workload": "overwrite-4k-qd16", "iops": 90000},
        {"layout": "raw sparse", "cache": "writethrough", "workload": "overwrite-4k-qd16", "vdisk": {"iops": 3000}},
        {"layout": "qcow2 preallocation=off", "mode": "writeback", "workload": "fresh-4k-qd16", "iops": 20000},
        {"layout": "qcow2-metadata", "cache": "writeback", "workload": "fresh-4k-qd16"},
        {"layout": "raw-falloc", "cache": "none", "workload": "read-4k-qd16", "iops": "n/a"}
      ]}
      """;

  @Test
  void readsCellsInEitherSpellingAndSkipsIncompleteOnes(@TempDir Path dir) throws Exception {
    BenchReport r = BenchReport.read(Files.writeString(dir.resolve("m.json"), REPORT));
    assertThat(r.iops("qcow2-off", "writeback", BenchReport.FRESH)).hasValue(20000);
    assertThat(r.iops("qcow2-metadata", "writeback", BenchReport.FRESH)).isEmpty();
    assertThat(r.ratio("raw-sparse", "writeback", "raw-sparse", "writethrough", BenchReport.OVERWRITE))
        .hasValueSatisfying(x -> assertThat(x.quote()).isEqualTo("30.0x (90,000 vs 3,000 IOPS)"));
  }

  @Test
  void findingsQuoteTheMeasuredRatioWhereTheCellsExist(@TempDir Path dir) throws Exception {
    BenchReport r = BenchReport.read(Files.writeString(dir.resolve("m.json"), REPORT));
    String xml = Fixtures.domain(Fixtures.fileDisk("vda", "virtio", "type='raw' cache='writethrough'", "/i/a.raw", ""));
    Report report = new Advisor(QemuVersion.parse("7.2"), Fixtures.IO_URING_HOST, r, null)
        .advise(Input.domainXml(xml, "x.xml"));
    Finding f = report.findings().stream().filter(x -> x.rule().equals("cache-writethrough")).findFirst().orElseThrow();
    // The fix is cache=none; the report has no none cell, so the generic fact stays.
    assertThat(f.reason()).contains("14-37x");
    String wb = BenchReport.read(Files.writeString(dir.resolve("n.json"), REPORT.replace("\"writeback\", \"workload\": \"overwrite", "\"none\", \"workload\": \"overwrite")))
        .ratio("raw-sparse", "none", "raw-sparse", "writethrough", BenchReport.OVERWRITE).orElseThrow().quote();
    Report measured = new Advisor(QemuVersion.parse("7.2"), Fixtures.IO_URING_HOST,
        BenchReport.read(dir.resolve("n.json")), null).advise(Input.domainXml(xml, "x.xml"));
    assertThat(measured.findings().getFirst().reason()).contains("on this storage none is " + wb).contains("n.json");
  }

  @Test
  void aReportWithoutCellsIsAnError(@TempDir Path dir) throws Exception {
    Path p = Files.writeString(dir.resolve("bad.json"), "{\"rows\": []}");
    assertThatThrownBy(() -> BenchReport.read(p)).isInstanceOf(IOException.class).hasMessageContaining("no \"cells\" array");
    Path q = Files.writeString(dir.resolve("bad2.json"), "{");
    assertThatThrownBy(() -> BenchReport.read(q)).isInstanceOf(IOException.class).hasMessageContaining("not a JSON document");
  }
}
