#!/usr/bin/env bash
# Where a `vdisk convert` between local files spends its time before its first write: the JVM's start, the main
# thread's parse and opens, the system calls' FFM link on the vdisk-link thread (dev.vdisk.io.linux.SharedDowncall),
# and how long the main thread waits for that link, run by run, with their medians (last row, in bold).
#
# Usage: bench/convert-startup.sh [-r RUNS] [-v VDISK] [-d DIR] [-g GIB] [-f raw|qcow2] [-O raw|qcow2]
#   -r RUNS   runs (default 7)
#   -v VDISK  the vdisk to time (default: this checkout's ./vdisk, run as bench/compare-convert.sh runs it: its
#             launcher, convert's start-up cache, no build check)
#   -d DIR    scratch directory (default: bench/scratch); the source and output are removed at the end
#   -g GIB    virtual size of the source (default 4): half data, half unallocated, as bench/compare-convert.sh makes it
#   -f, -O    source and output formats (default: raw to raw)
# Times in ms from the launcher's exec: java's exec (strace), the main class initialized, the link's thread's first and
# last class initialized (-Xlog:class+init, given through JDK_JAVA_OPTIONS), the main thread's first FFM class
# initialized after it opened the source through the JDK, the time since the main thread's class before that (its
# wait for the link is at most that), the first write of 64 KiB or more (strace), the end. strace traces only execve
# and pwrite64 (seccomp-bpf): the copy's own writes pay for it, not the start-up. Wall times move with the machine's
# load: compare within one run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=7
vdisk="$here/vdisk"
dir="$here/bench/scratch"
mib=4096
src_fmt=raw
fmt=raw
while getopts "r:v:d:g:f:O:" opt; do
  case $opt in
    r) runs=$OPTARG ;;
    v) vdisk=$OPTARG ;;
    d) dir=$OPTARG ;;
    g) mib=$((OPTARG * 1024)) ;;
    f) src_fmt=$OPTARG ;;
    O) fmt=$OPTARG ;;
    *) sed -n '2,18p' "$0"; exit 2 ;;
  esac
done
for tool in qemu-img qemu-io strace python3; do
  command -v "$tool" >/dev/null || { echo "convert-startup: $tool not found (expected: Debian packages qemu-utils, strace, python3)" >&2; exit 1; }
done
mkdir -p "$dir"
work=$(mktemp -d "$dir/convert-startup.XXXXXX")
trap 'rm -rf "$work"' EXIT
src="$work/src.$src_fmt"
. "$here/bench/half-data.sh"
half_data_image "$src_fmt" "$src" "$mib"
"$vdisk" convert -f "$src_fmt" -O "$fmt" "$src" "$work/out" >/dev/null   # records convert's cache, outside the runs
export VDISK_NO_BUILD=1

printf '| java exec | main | link starts | link ends | first FFM call | main waited at most | first write | end |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for ((i = 0; i < runs; i++)); do
  rm -f "$work/out" "$work/init.log"
  JDK_JAVA_OPTIONS="-Xlog:class+init=info:file=$work/init.log:timemillis" \
    strace -f --seccomp-bpf -qq -ttt -o "$work/strace.log" -e trace=execve,pwrite64 \
    "$vdisk" convert -f "$src_fmt" -O "$fmt" "$src" "$work/out" >/dev/null 2>"$work/err.log" \
    || { cat "$work/err.log" >&2; exit 1; }
  sync
  python3 - "$work/strace.log" "$work/init.log" "$work/rows" <<'EOF'
import re, sys
trace = open(sys.argv[1]).read().splitlines()
start = float(trace[0].split()[1])
end = float(trace[-1].split()[1])
java = write = None
for line in trace:
    t = float(line.split()[1])
    if java is None and re.search(r'execve\("[^"]*/bin/java"', line):
        java = t
    size = re.search(r'pwrite64\(\d+, ".*"(?:\.\.\.)?, (\d+), \d+', line)
    if write is None and size and int(size.group(1)) >= 65536:
        write = t
inits = []
for line in open(sys.argv[2]):
    m = re.match(r"\[(\d+)ms\] \d+ Initializing '([^']+)'.*by thread \"([^\"]+)\"", line)
    if m:
        inits.append((int(m.group(1)) / 1e3, m.group(2), m.group(3)))
main = next(t for t, c, th in inits if c == "dev/vdisk/cli/Main")
link = [t for t, c, th in inits if th == "vdisk-link"]
# The main thread's first FFM class after it opened a file through the JDK, and the main-thread class before it.
opened = next(t for t, c, th in inits if th == "main" and c == "dev/vdisk/io/FileDevice")
waits = goes = None
for t, c, th in inits:
    if th != "main" or t < opened:
        continue
    if c.startswith(("java/lang/foreign/", "jdk/internal/foreign/")):
        goes = t
        break
    waits = t
row = [(t - start) * 1000 if t else None for t in (java, main, link[0] if link else None, link[-1] if link else None,
                                                   goes)]
row.append((goes - waits) * 1000 if goes and waits else None)
row += [(t - start) * 1000 if t else None for t in (write, end)]
print("| " + " | ".join("%.0f" % v if v is not None else "-" for v in row) + " |")
with open(sys.argv[3], "a") as rows:
    rows.write(" ".join("%.3f" % v if v is not None else "nan" for v in row) + "\n")
EOF
done
python3 - "$work/rows" <<'EOF'
import math, statistics, sys
rows = [[float(v) for v in line.split()] for line in open(sys.argv[1])]
cols = [[v for v in col if not math.isnan(v)] for col in zip(*rows)]
print("| " + " | ".join("**%.0f**" % statistics.median(c) if c else "-" for c in cols) + " |")
EOF
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $src_fmt to $fmt" >&2
