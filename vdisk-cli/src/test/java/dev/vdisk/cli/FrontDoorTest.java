package dev.vdisk.cli;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import dev.vdisk.block.BlockDevice;
import dev.vdisk.format.ImageChain;
import dev.vdisk.format.ImageContext;
import dev.vdisk.format.ImageFormat;
import dev.vdisk.format.ImageMap;
import dev.vdisk.format.MeasureSource;
import dev.vdisk.format.internal.Images;
import dev.vdisk.format.internal.OpenImage;
import dev.vdisk.io.CacheMode;
import dev.vdisk.io.FileOptions;
import dev.vdisk.ops.Progress;
import dev.vdisk.ops.internal.Commit;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The CLI (and the bench, NBD and advisor modules below it) is a thin layer over the library: every command opens
 * its images through {@link dev.vdisk.Vdisk#open} (as an {@link dev.vdisk.Image}), never by assembling a stack
 * itself, and creates, measures and maps them through {@link dev.vdisk.Vdisk} and {@link dev.vdisk.Image} with typed
 * options, never through a format driver's option map; the module system already keeps it off the drivers' and the
 * FFM bindings' packages. Checked on the compiled main classes.
 */
class FrontDoorTest {
  private static JavaClasses cli;

  @BeforeAll
  static void importCli() {
    cli = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
        .importPackages("dev.vdisk.cli", "dev.vdisk.bench", "dev.vdisk.nbd", "dev.vdisk.advisor");
  }

  @Test
  void commandsCreateMeasureAndMapThroughTheFrontDoor() {
    noClasses().should().callMethod(Images.class, "create", ImageFormat.class, Path.class, long.class, Map.class,
            boolean.class)
        .orShould().callMethod(ImageFormat.class, "create", Path.class, long.class, Map.class, boolean.class)
        .orShould().callMethod(ImageFormat.class, "createOn", BlockDevice.class, long.class, Map.class)
        .orShould().callMethod(ImageFormat.class, "measure", Map.class, long.class, MeasureSource.class)
        .orShould().callMethod(ImageMap.class, "walk", ImageChain.class, long.class, long.class, ImageMap.Sink.class)
        .check(cli);
  }

  /** {@code vdisk commit} commits through {@link dev.vdisk.Vdisk#commit}, not the operation below it. */
  @Test
  void commandsCommitThroughTheFrontDoor() {
    noClasses().should().callMethod(Commit.class, "run", Commit.Request.class, Progress.class).check(cli);
  }

  @Test
  void commandsDoNotHoldOpenImageStacks() {
    noClasses().should().dependOnClassesThat()
        .areAssignableTo(OpenImage.class).check(cli);
  }

  @Test
  void commandsDoNotOpenImagesBesideTheFrontDoor() {
    noClasses().should()
        .callMethod(Images.class, "open", Path.class, String.class, FileOptions.class)
        .orShould().callMethod(Images.class, "openWithoutBacking", Path.class, String.class, FileOptions.class)
        .orShould().callMethod(Images.class, "open", BlockDevice.class, ImageContext.class, String.class,
            CacheMode.class)
        .check(cli);
  }
}
