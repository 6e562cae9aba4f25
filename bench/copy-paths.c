// The ways a convert can move a data chunk from a source file in the page cache into a fresh target file, one
// process each, for bench/copy-paths.sh. Every mode walks the source's data extents (SEEK_DATA/SEEK_HOLE, as
// vdisk's block status does), cuts them into 2 MiB chunks, scans each chunk for 4 KiB blocks of zeroes (convert's
// -S 4k: they stay holes) and writes the runs of other blocks at the same offset:
//   mmap-pwrite  scan a read-only mapping of the source, pwrite the runs from it (vdisk convert's default)
//   mmap-cfr     scan the mapping, copy the runs with copy_file_range (what FileChannel.transferTo does on Linux)
//   mmap-splice  scan the mapping, move the runs through a 1 MiB pipe with splice (copy_file_range's fall-back on a
//                file system that neither clones nor copies itself uses an internal pipe of 64 KiB)
//   read-pwrite  pread the chunk into a buffer, scan it, pwrite the runs (qemu-img convert's default)
// Prints "MODE wall S user S sys S calls N minflt N": wall and CPU of the whole process, the copy's system calls.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (2L << 20)
#define BLK 4096L
#define PIPE (1 << 20)

static int zero_block(const unsigned char *p) {
  const uint64_t *q = (const uint64_t *)p;
  for (long i = 0; i < BLK / 8; i++) {
    if (q[i]) {
      return 0;
    }
  }
  return 1;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static double seconds(struct timeval t) { return t.tv_sec + t.tv_usec / 1e6; }

static void die(const char *what) {
  perror(what);
  exit(1);
}

static long calls;

/** Copies [at, at + n) of s to the same offset of d by copy_file_range or by splice through pipe p. */
static void kernel_copy(int s, int d, long at, long n, const int *p) {
  loff_t so = at, dof = at;
  while (n > 0) {
    ssize_t r;
    if (p == NULL) {
      r = copy_file_range(s, &so, d, &dof, n, 0);
      if (r <= 0) die("copy_file_range");
    } else {
      r = splice(s, &so, p[1], NULL, n < PIPE ? n : PIPE, SPLICE_F_MOVE);
      if (r <= 0) die("splice in");
      for (ssize_t w = 0; w < r;) {
        ssize_t k = splice(p[0], NULL, d, &dof, r - w, SPLICE_F_MOVE);
        if (k <= 0) die("splice out");
        w += k;
        calls++;
      }
    }
    calls++;
    n -= r;
  }
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: copy-paths SRC DST mmap-pwrite|mmap-cfr|mmap-splice|read-pwrite\n");
    return 2;
  }
  const char *mode = argv[3];
  int mapped = strncmp(mode, "mmap-", 5) == 0;
  int cfr = strcmp(mode, "mmap-cfr") == 0, spl = strcmp(mode, "mmap-splice") == 0;
  if (!mapped && strcmp(mode, "read-pwrite") != 0) {
    fprintf(stderr, "copy-paths: mode %s\n", mode);
    return 2;
  }
  double start = now();
  int s = open(argv[1], O_RDONLY), d = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (s < 0 || d < 0) die("open");
  struct stat st;
  if (fstat(s, &st)) die("fstat");
  long size = st.st_size;
  unsigned char *map = NULL, *buf = NULL;
  int p[2];
  if (mapped && (map = mmap(NULL, size, PROT_READ, MAP_SHARED, s, 0)) == MAP_FAILED) die("mmap");
  if (!mapped && (buf = aligned_alloc(BLK, CHUNK)) == NULL) die("aligned_alloc");
  if (spl && (pipe(p) || fcntl(p[1], F_SETPIPE_SZ, PIPE) < 0)) die("pipe");
  for (long data = 0; data < size;) {
    if ((data = lseek(s, data, SEEK_DATA)) < 0) {
      if (errno == ENXIO) break;
      die("SEEK_DATA");
    }
    long hole = lseek(s, data, SEEK_HOLE);
    for (long off = data; off < hole; off += CHUNK) {
      long n = hole - off < CHUNK ? hole - off : CHUNK;
      const unsigned char *c = map + off;
      if (!mapped) {
        if (pread(s, buf, n, off) != n) die("pread");
        c = buf;
      }
      for (long pos = 0; pos < n;) {
        int zero = zero_block(c + pos);
        long end = pos + BLK;
        while (end < n && zero_block(c + end) == zero) end += BLK;
        if (!zero && (cfr || spl)) {
          kernel_copy(s, d, off + pos, end - pos, spl ? p : NULL);
        } else if (!zero) {
          if (pwrite(d, c + pos, end - pos, off + pos) != end - pos) die("pwrite");
          calls++;
        }
        pos = end;
      }
    }
    data = hole;
  }
  if (ftruncate(d, size)) die("ftruncate");
  if (map) munmap(map, size);
  close(d);
  close(s);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("%s wall %.3f user %.3f sys %.3f calls %ld minflt %ld\n", mode, now() - start, seconds(ru.ru_utime),
      seconds(ru.ru_stime), calls, ru.ru_minflt);
  return 0;
}
