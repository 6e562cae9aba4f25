#!/usr/bin/env bash
# Real write-back errors under cache=writethrough: are lost writes ever acknowledged? Needs root (a loop device and a
# mount); not a benchmark, a check of WritebackErrors against the kernel (dev.vdisk.io.WritebackErrors' Javadoc).
#
# Usage: sudo bench/writeback-errors.sh [-r ROUNDS]
#   -r ROUNDS  rounds of 16 concurrent 4 KiB writes to a file whose every write-back fails (default 300)
# Makes a 16 MiB ext4 file system on a loop device, writes a 1 MiB raw image near its end, then cuts the device short
# under it (the journal and metadata stay inside), so that every write-back of the image's pages fails with EIO.
# First shows the kernel's rule with python3 (each open file description reports an error once), then runs the rounds
# through vdisk's public API and prints how many writes were acknowledged: every one is lost, so the answer must be 0.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=300
while getopts "r:" opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "writeback-errors: needs root (a loop device and a mount)" >&2; exit 1; }
"$here/vdisk" --version >/dev/null   # builds the jar once
. "$here/.mvn/jdk25.sh"
vdisk_use_jdk25

work=$(mktemp -d)
loop=
cleanup() {
  mountpoint -q "$work/mnt" && umount "$work/mnt"
  [ -z "$loop" ] || losetup -d "$loop"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/mnt"
truncate -s 16M "$work/fs.img"
mkfs.ext4 -q -F -b 1024 -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$work/fs.img"
loop=$(losetup -f --show "$work/fs.img")
mount "$loop" "$work/mnt"
img="$work/mnt/disk.raw"
dd if=/dev/urandom of="$img" bs=64k count=16 conv=fsync status=none
first=$(debugfs -R "stat /disk.raw" "$loop" 2>/dev/null | sed -n 's/^(0-1023):\([0-9]*\)-.*/\1/p')
[ -n "$first" ] || { echo "writeback-errors: cannot find the image's blocks" >&2; exit 1; }
# Cut the device at the image's first block: its write-backs go past the end and fail.
truncate -s $((first * 1024)) "$work/fs.img"
losetup -c "$loop"

python3 - "$img" <<'EOF'
import errno, os, sys
f = sys.argv[1]
def sync(name, fd):
    try:
        os.fdatasync(fd); return f"{name}: 0"
    except OSError as e:
        return f"{name}: {errno.errorcode[e.errno]}"
w = os.open(f, os.O_RDWR); a = os.open(f, os.O_RDONLY); b = os.open(f, os.O_RDONLY)
os.pwrite(w, os.urandom(65536), 0)
print("kernel: after a write whose write-back fails, fdatasync on", ", ".join(
    [sync("a", a), sync("a again", a), sync("b", b), sync("b again", b), sync("the writer's", w)]))
c = os.open(f, os.O_RDONLY)
print("kernel: on a descriptor opened after the error was reported:", sync("c", c))
EOF

cat >"$work/Lost.java" <<'EOF'
import dev.vdisk.Image;
import dev.vdisk.OpenOptions;
import dev.vdisk.Vdisk;
import dev.vdisk.io.CacheMode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

public class Lost {
  public static void main(String[] args) throws Exception {
    int rounds = Integer.parseInt(args[1]);
    // Aligned writes go O_DIRECT under writethrough and report their own failure; unaligned ones (odd writers) go
    // through the page cache, whose write-back fails later: those test WritebackErrors.
    AtomicInteger acknowledged = new AtomicInteger(), failed = new AtomicInteger();
    AtomicInteger unalignedAcknowledged = new AtomicInteger(), unaligned = new AtomicInteger();
    OpenOptions options = OpenOptions.builder().format("raw").cache(CacheMode.WRITETHROUGH).build();
    for (int r = 0; r < rounds; r++) {
      try (Image image = Vdisk.open(Path.of(args[0]), options); ExecutorService pool = Executors.newFixedThreadPool(16)) {
        CountDownLatch go = new CountDownLatch(1);
        for (int t = 0; t < 16; t++) {
          boolean odd = t % 2 == 1;
          long offset = t * 4096L + (odd ? 512 : 0);
          pool.submit(() -> {
            go.await();
            try {
              image.write(offset, ByteBuffer.allocate(odd ? 3000 : 4096), Set.of());
              acknowledged.incrementAndGet();
              if (odd) {
                unalignedAcknowledged.incrementAndGet();
              }
            } catch (IOException e) {
              failed.incrementAndGet();
            }
            if (odd) {
              unaligned.incrementAndGet();
            }
            return null;
          });
        }
        go.countDown();
      }
    }
    System.out.println("vdisk: " + acknowledged + " of " + (acknowledged.get() + failed.get())
        + " writethrough writes acknowledged although their write-back failed (expected: 0); of the "
        + unaligned + " unaligned ones, through the page cache: " + unalignedAcknowledged);
  }
}
EOF
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$here/vdisk-cli/target/vdisk.jar" "$work/Lost.java" \
  "$img" "$rounds" 2>/dev/null
