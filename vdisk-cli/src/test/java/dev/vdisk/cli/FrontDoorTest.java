package dev.vdisk.cli;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.Images;
import dev.vdisk.format.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The CLI is a thin layer over the library: every command opens its images through {@link dev.vdisk.Vdisk#open}
 * (as an {@link dev.vdisk.Image}), never by assembling a stack itself; the module system already keeps it off the
 * drivers' and the FFM bindings' packages. Checked on the compiled main classes.
 */
class FrontDoorTest {
  private static JavaClasses cli;

  @BeforeAll
  static void importCli() {
    cli = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
        .importPackages("dev.vdisk.cli");
  }

  @Test
  void commandsDoNotHoldOpenImageStacks() {
    noClasses().that().resideInAPackage("dev.vdisk.cli..").should().dependOnClassesThat()
        .areAssignableTo(OpenImage.class).check(cli);
  }

  @Test
  void commandsDoNotOpenImagesBesideTheFrontDoor() {
    noClasses().that().resideInAPackage("dev.vdisk.cli..").should()
        .callMethod(Images.class, "open", Path.class, String.class, FileOptions.class)
        .orShould().callMethod(Images.class, "openWithoutBacking", Path.class, String.class, FileOptions.class)
        .orShould().callMethod(Images.class, "open", BlockDevice.class, ImageContext.class, String.class,
            CacheMode.class)
        .check(cli);
  }
}
