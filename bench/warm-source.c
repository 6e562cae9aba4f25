// Whether a second thread that reads a convert's source just ahead of the write makes the write's copy cheaper,
// without a JVM (issue 18). One writer thread pwrites a source file that sits in the page cache, a piece at a time
// (2 MiB, as convert's chunks; PIECE_KIB=N: N KiB), into a fresh target file at the same offsets (buffered writes to
// one file are serialized by its inode lock: a local convert's one serial path); a helper thread, where the mode has
// one, prepares the source up to LEAD KiB ahead of the end of the last piece written:
//   mmap       pwrite from a read-only mapping of the source; no helper (the page-table entries are faulted in by
//              the write itself: the copy comes up short, the kernel zeroes the target's new buffers, faults, retries)
//   scan       as mmap, the helper reads 8 bytes of every 4 KiB ahead (what vdisk's zero scan of a data chunk reads)
//   touch      as mmap, the helper reads 8 bytes of every 64-byte line ahead (STRIDE=N: every N bytes)
//   populate   as mmap, the helper calls madvise(MADV_POPULATE_READ) ahead (page tables only, no data read)
//   read       the helper preads pieces into LEAD/piece buffers (at least 2), the writer pwrites them (qemu-img's shape)
// A LEAD of two pieces lets the helper prepare piece k+1 while piece k is written; one piece makes it serial.
// HUGE=1 madvises the mapping MADV_HUGEPAGE; SMAPS=1 prints the process's PmdMapped lines at the end (ext4 maps
// a file's 2 MiB folios by PMD without it).
// Prints "MODE LEAD wall S writer S helper S minflt N": wall, the two threads' CPU, the process's minor faults. Run
// it under `perf record -e cpu-clock` to count the write's copy (copy_folio_from_iter_atomic). Build:
// gcc -O2 -pthread -o warm-source bench/warm-source.c; usage: warm-source MODE LEAD_KIB SOURCE TARGET.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

static long CHUNK = 2L << 20;

static const char *mode;
static int src;
static long size;
static long lead;
/** touch: bytes between two loads (64: every line; STRIDE overrides). */
static long stride = 64;
static unsigned char *map;
static unsigned char **bufs;
static long nbufs;
/** Bytes the writer has written; bytes the helper has prepared. */
static _Atomic long written, prepared;
static double helper_cpu;
static volatile uint64_t sink;

static void die(const char *what) {
  perror(what);
  exit(1);
}

static double clock_of(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/** Waits a little: both sides poll, as neither can block on the other's progress without a futex. */
static void pause_briefly(void) {
  struct timespec t = {0, 20000};
  nanosleep(&t, NULL);
}

static void prepare(long at, long n) {
  if (strcmp(mode, "scan") == 0) {
    uint64_t s = 0;
    for (long i = 0; i < n; i += 4096) s += *(volatile uint64_t *)(map + at + i);
    sink += s;
  } else if (strcmp(mode, "touch") == 0) {
    uint64_t s = 0;
    for (long i = 0; i < n; i += stride) s += *(volatile uint64_t *)(map + at + i);
    sink += s;
  } else if (strcmp(mode, "populate") == 0) {
    if (madvise(map + at, n, MADV_POPULATE_READ) != 0) die("madvise");
  } else if (strcmp(mode, "read") == 0) {
    unsigned char *b = bufs[(at / CHUNK) % nbufs];
    for (long done = 0; done < n;) {
      ssize_t r = pread(src, b + done, n - done, at + done);
      if (r <= 0) die("pread");
      done += r;
    }
  }
}

static void *helper(void *arg) {
  (void)arg;
  for (long at = 0; at < size; at += CHUNK) {
    while (at + CHUNK > atomic_load(&written) + lead) pause_briefly();
    long n = size - at < CHUNK ? size - at : CHUNK;
    prepare(at, n);
    atomic_store(&prepared, at + n);
  }
  helper_cpu = clock_of(CLOCK_THREAD_CPUTIME_ID);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: warm-source MODE LEAD_KIB SOURCE TARGET\n");
    return 2;
  }
  mode = argv[1];
  if (getenv("STRIDE") != NULL) stride = atol(getenv("STRIDE"));
  if (getenv("PIECE_KIB") != NULL) CHUNK = atol(getenv("PIECE_KIB")) << 10;
  lead = atol(argv[2]) << 10;
  src = open(argv[3], O_RDONLY);
  if (src < 0) die(argv[3]);
  int dst = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (dst < 0) die(argv[4]);
  struct stat st;
  if (fstat(src, &st) != 0) die("fstat");
  size = st.st_size;
  int helped = strcmp(mode, "mmap") != 0;
  int buffered = strcmp(mode, "read") == 0;
  if (buffered) {
    nbufs = lead / CHUNK < 2 ? 2 : lead / CHUNK;
    lead = nbufs * CHUNK;
    bufs = calloc(nbufs, sizeof *bufs);
    for (long i = 0; i < nbufs; i++) {
      if (posix_memalign((void **)&bufs[i], 4096, CHUNK) != 0) die("posix_memalign");
      memset(bufs[i], 0, CHUNK);
    }
  } else {
    map = mmap(NULL, size, PROT_READ, MAP_SHARED, src, 0);
    if (map == MAP_FAILED) die("mmap");
    if (getenv("HUGE") != NULL && madvise(map, size, MADV_HUGEPAGE) != 0) die("madvise(MADV_HUGEPAGE)");
  }
  double t0 = clock_of(CLOCK_MONOTONIC);
  pthread_t h;
  if (helped && pthread_create(&h, NULL, helper, NULL) != 0) die("pthread_create");
  for (long at = 0; at < size; at += CHUNK) {
    long n = size - at < CHUNK ? size - at : CHUNK;
    if (helped) {
      while (atomic_load(&prepared) < at + n) pause_briefly();
    }
    const unsigned char *from = buffered ? bufs[(at / CHUNK) % nbufs] : map + at;
    for (long done = 0; done < n;) {
      ssize_t r = pwrite(dst, from + done, n - done, at + done);
      if (r <= 0) die("pwrite");
      done += r;
    }
    atomic_store(&written, at + n);
  }
  double writer_cpu = clock_of(CLOCK_THREAD_CPUTIME_ID);
  if (helped) pthread_join(h, NULL);
  double wall = clock_of(CLOCK_MONOTONIC) - t0;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  if (getenv("SMAPS") != NULL) {
    char line[256];
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
      if (strstr(line, "PmdMapped") != NULL) fputs(line, stderr);
    }
  }
  printf("%s %ld wall %.3f writer %.3f helper %.3f minflt %ld\n", mode, atol(argv[2]), wall, writer_cpu, helper_cpu,
      ru.ru_minflt);
  return 0;
}
