#!/usr/bin/env bash
# Side-by-side timing of `vdisk create -f qcow2` and `qemu-img create -f qcow2` on the same file system, in the
# same run, for each preallocation mode; checks that both images are byte-identical.
#
# Usage: bench/create-qcow2.sh [-d DIR] [-r REPEATS] [-s SIZE]
#   -d DIR      scratch directory (default: bench/scratch)
#   -r REPEATS  runs per tool and cell; the median wall time is reported (default 3)
#   -s SIZE     virtual size (default 4G; full preallocation writes all of it)
# Prints a Markdown table: median seconds of each tool and the ratio qemu-img/vdisk (above 1: vdisk is faster).
# vdisk's time includes JVM start-up (about 0.3 s), which dominates the small cells.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
repeats=3
size=4G
while getopts "d:r:s:" opt; do
  case $opt in
    d) dir=$OPTARG ;;
    r) repeats=$OPTARG ;;
    s) size=$OPTARG ;;
    *) sed -n '2,10p' "$0"; exit 2 ;;
  esac
done
command -v qemu-img >/dev/null || { echo "create-qcow2: qemu-img not found (expected: Debian package qemu-utils)" >&2; exit 1; }
mkdir -p "$dir"
"$here/vdisk" --version >/dev/null
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
echo "| options | size | qemu-img s | vdisk s | qemu-img/vdisk |"
echo "|---|---|---|---|---|"
for opts in preallocation=off preallocation=metadata preallocation=metadata,cluster_size=4k preallocation=falloc preallocation=full; do
  q=() v=()
  for _ in $(seq "$repeats"); do
    rm -f "$dir/q.qcow2" "$dir/v.qcow2"
    q+=("$(timed qemu-img create -q -f qcow2 -o "$opts" "$dir/q.qcow2" "$size")")
    v+=("$(timed "$here/vdisk" create -q -f qcow2 -o "$opts" "$dir/v.qcow2" "$size")")
    cmp -s "$dir/q.qcow2" "$dir/v.qcow2" || { echo "create-qcow2: $opts: images differ" >&2; exit 1; }
  done
  qm=$(printf '%s\n' "${q[@]}" | median)
  vm=$(printf '%s\n' "${v[@]}" | median)
  printf '| %s | %s | %.3f | %.3f | %.2f |\n' "$opts" "$size" "$qm" "$vm" "$(echo "$qm / $vm" | bc -l)"
done
rm -f "$dir/q.qcow2" "$dir/v.qcow2"
