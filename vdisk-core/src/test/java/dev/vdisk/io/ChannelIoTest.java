package dev.vdisk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vdisk.io.linux.NativeFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A JDK channel closes itself for every thread when a thread in it is interrupted; {@link ChannelIo} must not let one
 * caller's interrupt close an image under its other users. An interrupted thread that enters a JDK channel closes it
 * at once, which makes the interrupt's effect deterministic here.
 */
class ChannelIoTest {
  private static final Set<OpenOption> READ_WRITE = Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE);
  private static final int SIZE = 1 << 16;

  @TempDir Path dir;
  private Path path;
  private byte[] content;
  private NativeFile file;
  private ChannelIo io;

  @BeforeEach
  void open() throws IOException {
    path = dir.resolve("data.raw");
    content = new byte[SIZE];
    new Random(7).nextBytes(content);
    Files.write(path, content);
    file = NativeFile.open(path, true);
    io = new ChannelIo(FileChannel.open(path, READ_WRITE), READ_WRITE, file);
  }

  @AfterEach
  void close() throws IOException {
    Thread.interrupted();
    io.close();
    file.close();
  }

  @Test
  void aReadByAnInterruptedThreadIsServedIntoTheRightPlaceAndTheFlagKept() throws IOException {
    FileChannel first = io.channel();
    ByteBuffer dst = ByteBuffer.allocate(8192).position(100).limit(100 + 4096);

    Thread.currentThread().interrupt();
    int n = io.read(dst, 4096);

    assertThat(Thread.interrupted()).as("interrupt flag kept").isTrue();
    assertThat(first.isOpen()).as("the JDK closed the first channel").isFalse();
    assertThat(io.channel().isOpen()).isTrue();
    assertThat(n).isEqualTo(4096);
    assertThat(dst.position()).isEqualTo(100 + 4096);
    assertThat(Arrays.copyOfRange(dst.array(), 100, 100 + 4096)).isEqualTo(Arrays.copyOfRange(content, 4096, 8192));
    assertThat(readBack(0, SIZE)).as("later reads").isEqualTo(content);
  }

  @Test
  void aWriteByAnInterruptedThreadLandsOnce() throws IOException {
    byte[] bytes = new byte[4096];
    Arrays.fill(bytes, (byte) 0x5a);
    ByteBuffer src = ByteBuffer.allocateDirect(4096).put(bytes).flip();

    Thread.currentThread().interrupt();
    int n = io.write(src, 8192);

    assertThat(Thread.interrupted()).isTrue();
    assertThat(n).isEqualTo(4096);
    assertThat(src.hasRemaining()).isFalse();
    byte[] expected = content.clone();
    System.arraycopy(bytes, 0, expected, 8192, 4096);
    assertThat(readBack(0, SIZE)).isEqualTo(expected);
    assertThat(Files.readAllBytes(path)).isEqualTo(expected);
  }

  @Test
  void aChannelClosedByAnotherThreadsInterruptIsReplaced() throws IOException {
    io.channel().close(); // what an interrupt of another thread inside the channel does

    assertThat(readBack(0, SIZE)).isEqualTo(content);
    assertThat(Thread.currentThread().isInterrupted()).isFalse();
  }

  @Test
  void aClosedDeviceStaysClosed() throws IOException {
    io.close();

    assertThatThrownBy(() -> io.read(ByteBuffer.allocate(16), 0)).isInstanceOf(ClosedChannelException.class);
    assertThat(io.channel().isOpen()).isFalse();
  }

  @Test
  void aFlushByAnInterruptedThreadNeitherFailsNorClosesAnything() throws IOException {
    FileChannel channel = io.channel();

    Thread.currentThread().interrupt();
    io.fdatasync();

    assertThat(Thread.interrupted()).isTrue();
    assertThat(io.channel()).isSameAs(channel);
    assertThat(channel.isOpen()).isTrue();
  }

  @Test
  void aSyncDescriptorSurvivesAnInterruptedFlush() throws IOException {
    try (SyncDescriptor sync = new LinuxHostFile(file).openSyncDescriptor()) {
      Thread.currentThread().interrupt();
      sync.fdatasync();
      assertThat(Thread.interrupted()).isTrue();
      sync.fdatasync(); // a closed descriptor would fail here
    }
  }

  private byte[] readBack(long position, int length) throws IOException {
    ByteBuffer dst = ByteBuffer.allocate(length);
    while (dst.hasRemaining()) {
      if (io.read(dst, position + dst.position()) < 0) {
        break;
      }
    }
    return dst.array();
  }
}
