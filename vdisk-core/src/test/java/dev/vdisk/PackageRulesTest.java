package dev.vdisk;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import dev.vdisk.format.FormatImage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The package structure of vdisk-core (docs/architecture.md): dependencies point down only and no package cycle
 * comes back. Checked on the compiled main classes.
 */
class PackageRulesTest {
  private static JavaClasses core;

  @BeforeAll
  static void importCore() {
    core = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
        .importPackages("dev.vdisk");
  }

  /** block and block.filter, format and its drivers, io and io.linux: no two packages depend on each other. */
  @Test
  void noPackageCycles() {
    slices().matching("dev.vdisk.(**)").should().beFreeOfCycles().check(core);
  }

  /** Host I/O sits below the formats: a file knows nothing of images. */
  @Test
  void ioDoesNotKnowFormats() {
    noClasses().that().resideInAPackage("dev.vdisk.io..").should().dependOnClassesThat()
        .resideInAnyPackage("dev.vdisk.format..", "dev.vdisk.ops..").check(core);
  }

  /** The block layer is the bottom: it knows no host files, formats or operations. */
  @Test
  void blockLayerIsTheBottom() {
    noClasses().that().resideInAPackage("dev.vdisk.block..").should().dependOnClassesThat()
        .resideInAnyPackage("dev.vdisk.io..", "dev.vdisk.format..", "dev.vdisk.ops..").check(core);
  }

  /** Operations and the format SPI use formats through FormatImage and FormatFacts, never a driver's classes. */
  @Test
  void onlyTheFrontDoorAndDriversKnowDrivers() {
    noClasses().that().resideInAnyPackage("dev.vdisk.ops..", "dev.vdisk.format", "dev.vdisk.format.raw")
        .should().dependOnClassesThat().resideInAPackage("dev.vdisk.format.qcow2..").check(core);
    noClasses().that().resideInAnyPackage("dev.vdisk.ops..", "dev.vdisk.format", "dev.vdisk.format.qcow2")
        .should().dependOnClassesThat().resideInAPackage("dev.vdisk.format.raw..").check(core);
  }

  /**
   * One backing-chain walker: only the format package (ImageChain for the layers, ChainWalker for the allocation)
   * asks an image for its backing image, so a second walker in an operation, the CLI or the server cannot come back.
   */
  @Test
  void onlyTheFormatPackageWalksBackingChains() {
    noClasses().that().resideOutsideOfPackage("dev.vdisk.format").should()
        .callMethod(FormatImage.class, "backing").check(core);
  }

  /** Only the front door depends on the front door. */
  @Test
  void nothingBelowDependsOnTheFrontDoor() {
    noClasses().that().resideOutsideOfPackage("dev.vdisk").should().dependOnClassesThat().resideInAPackage("dev.vdisk")
        .check(core);
  }
}
