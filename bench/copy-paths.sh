#!/usr/bin/env bash
# The host-side cost of the ways a convert can copy data chunks into a raw target (bench/copy-paths.c): from a
# mapping of the source with pwrite (vdisk's default), with copy_file_range (FileChannel.transferTo), through a pipe
# with splice, and by pread + pwrite (qemu-img's default), without a JVM, on the file system of DIR.
#
# Usage: bench/copy-paths.sh [-d DIR] [-r ROUNDS] [-g GIB] [MODE...]
#   -d DIR     scratch directory (default: bench/scratch): its file system is the one measured; files removed at the end
#   -r ROUNDS  rounds (default 5); each runs every mode once, the order rotated by one each round
#   -g GIB     size of the source (default 4): half data (pattern-filled 64 MiB runs), half holes, as compare-convert.sh
#   MODE       the modes to run (default: mmap-pwrite mmap-cfr mmap-splice read-pwrite)
# Every run writes a fresh target; the source stays in the page cache; the previous target is removed and written back
# (sync) outside the timing. Prints each run (wall, user and system seconds, the copy's system calls, minor faults and
# the load average), then the medians per mode. On a file system that clones (XFS with reflink, btrfs) copy_file_range
# shares the source's extents instead of copying; on ext4 it copies through splice's internal pipe.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
rounds=5
gib=4
while getopts "d:r:g:" opt; do
  case $opt in
    d) dir=$OPTARG ;;
    r) rounds=$OPTARG ;;
    g) gib=$OPTARG ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(mmap-pwrite mmap-cfr mmap-splice read-pwrite)
for tool in cc qemu-img qemu-io cmp; do
  command -v "$tool" >/dev/null || { echo "copy-paths: $tool not found" >&2; exit 1; }
done
mkdir -p "$dir"
bin="$dir/copy-paths"
src="$dir/copy-paths-src.raw"
out="$dir/copy-paths-out.raw"
trap 'rm -f "$bin" "$src" "$out"' EXIT
cc -O2 -o "$bin" "$here/bench/copy-paths.c"
qemu-img create -q -f raw "$src" "${gib}G"
run=$((64 << 20))
cmds=()
for ((off = 0; off < gib << 30; off += 2 * run)); do
  cmds+=(-c "write -q -P $(( (off / (2 * run)) % 255 + 1 )) $off $run")
done
qemu-io -f raw "${cmds[@]}" "$src"
cat "$src" >/dev/null
results=()
n=${#modes[@]}
for ((i = 0; i < rounds; i++)); do
  for ((j = 0; j < n; j++)); do
    m=${modes[$(( (i + j) % n ))]}
    rm -f "$out"
    sync
    r="$("$bin" "$src" "$out" "$m") load $(cut -d' ' -f1 /proc/loadavg)"
    cmp -s "$src" "$out" || { echo "copy-paths: $m wrote other bytes than the source's" >&2; exit 1; }
    echo "$r"
    results+=("$r")
  done
done
echo "median of $rounds: mode wall user sys"
for m in "${modes[@]}"; do
  printf '%s\n' "${results[@]}" | awk -v m="$m" '$1 == m {w[++k] = $3; u[k] = $5; s[k] = $7}
    function med(a, n,   i, j, t) {for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) {t = a[i]; a[i] = a[j]; a[j] = t}; return a[int((n + 1) / 2)]}
    END {printf "%s %.3f %.3f %.3f\n", m, med(w, k), med(u, k), med(s, k)}'
done
