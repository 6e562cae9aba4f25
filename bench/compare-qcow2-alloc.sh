#!/usr/bin/env bash
# Side-by-side benchmark of first writes into fresh qcow2 images: `vdisk bench -w` and `qemu-img bench -w`, each on
# its own freshly created 1 GiB image (made by qemu-img, the same way for both), in the same run.
#
# Usage: bench/compare-qcow2-alloc.sh [-d DIR] [-r REPEATS] [-c COUNT]
#   -d DIR      scratch directory (default: bench/scratch; must not be tmpfs for cache=none)
#   -r REPEATS  runs per tool and cell; the median is reported (default 3)
#   -c COUNT    4 KiB requests per run (default 16384: every one allocates a cluster)
# Prints a Markdown table: IOPS (or MB/s) of each tool, the ratio vdisk/qemu-img, and the file's allocated size.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
repeats=3
count=16384
while getopts "d:r:c:" opt; do
  case $opt in
    d) dir=$OPTARG ;;
    r) repeats=$OPTARG ;;
    c) count=$OPTARG ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
  esac
done
command -v qemu-img >/dev/null || { echo "compare-qcow2-alloc: qemu-img not found (expected: Debian package qemu-utils)" >&2; exit 1; }
mkdir -p "$dir"
img="$dir/alloc.qcow2"
"$here/vdisk" --version >/dev/null   # builds the jar once, outside any measurement

seconds_of() { sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run() { # tool prealloc cache opts...
  local tool=$1 prealloc=$2 cache=$3; shift 3
  rm -f "$img"
  qemu-img create -q -f qcow2 -o preallocation="$prealloc" "$img" 1G
  if [ "$tool" = qemu ]; then
    qemu-img bench -w -f qcow2 -t "$cache" "$@" "$img" | seconds_of
  else
    "$here/vdisk" bench -w -f qcow2 -t "$cache" "$@" "$img" | seconds_of
  fi
  du -k "$img" | cut -f1 >"$dir/alloc.du"
}

# 4 KiB writes 64 KiB + 4 KiB apart: each lands in a cluster no earlier write touched.
workloads=(
  "4k fresh qd16|$count|-s 4096 -S 69632 -d 16 -c $count"
  "1M seq qd4|1024|-s 1048576 -S 1048576 -d 4 -c 1024"
)
printf '| workload | preallocation | cache | qemu-img | vdisk | vdisk/qemu-img | qemu-img file | vdisk file |\n|---|---|---|---|---|---|---|---|\n'
for prealloc in off metadata; do
  for cache in writeback none; do
    for w in "${workloads[@]}"; do
      IFS='|' read -r name n opts <<<"$w"
      read -ra args <<<"$opts"
      q=(); v=()
      for ((i = 0; i < repeats; i++)); do
        q+=("$(run qemu "$prealloc" "$cache" "${args[@]}")"); qdu=$(cat "$dir/alloc.du")
        v+=("$(run vdisk "$prealloc" "$cache" "${args[@]}")"); vdu=$(cat "$dir/alloc.du")
      done
      qs=$(printf '%s\n' "${q[@]}" | median)
      vs=$(printf '%s\n' "${v[@]}" | median)
      awk -v n="$name" -v p="$prealloc" -v c="$cache" -v count="$n" -v qs="$qs" -v vs="$vs" -v qdu="$qdu" -v vdu="$vdu" 'BEGIN {
        if (n ~ /^1M/) { unit = " MB/s"; qv = count * 1048576 / qs / 1e6; vv = count * 1048576 / vs / 1e6 }
        else { unit = " IOPS"; qv = count / qs; vv = count / vs }
        printf "| %s | %s | %s | %.0f%s | %.0f%s | %.2fx | %.0f MiB | %.0f MiB |\n", n, p, c, qv, unit, vv, unit, qs / vs, qdu / 1024, vdu / 1024
      }'
    done
  done
done
rm -f "$img" "$dir/alloc.du"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r), $(qemu-img --version | head -1), on $(stat -f -c %T "$dir"); median of $repeats runs per cell, a fresh image per run."
