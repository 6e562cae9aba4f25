#!/usr/bin/env bash
# Side-by-side benchmark: `vdisk check` and `qemu-img check` on the same qcow2 images, in the same run.
#
# Usage: bench/check-qemu.sh [-d DIR] [-r REPEATS]
#   -d DIR      where the scratch images go (default: bench/scratch)
#   -r REPEATS  runs per tool and image; the median wall-clock time is reported (default 3)
# Images (made once, sparse): preallocation=metadata, so every guest cluster has an L2 entry and a refcount.
# Prints a Markdown table: wall-clock and CPU (user+sys) seconds of each tool, JVM start included for vdisk, and
# the wall-clock ratio qemu-img/vdisk (above 1: vdisk is faster). CPU time is printed because this machine is
# shared: under load the wall clock measures the neighbours. Both tools must agree on the JSON, or the script stops.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
repeats=3
while getopts "d:r:" opt; do
  case $opt in
    d) dir=$OPTARG ;;
    r) repeats=$OPTARG ;;
    *) sed -n '2,9p' "$0"; exit 2 ;;
  esac
done
command -v qemu-img >/dev/null || { echo "check-qemu: qemu-img not found (expected: Debian package qemu-utils)" >&2; exit 1; }
mkdir -p "$dir"
"$here/vdisk" --version >/dev/null   # builds the jar once, outside any measurement

# name | qemu-img create options | virtual size
images=(
  "64k clusters, 64 GiB|cluster_size=65536,preallocation=metadata|64G"
  "4k clusters, 8 GiB|cluster_size=4096,preallocation=metadata|8G"
  "512 B clusters, 1 GiB|cluster_size=512,preallocation=metadata|1G"
)

# Median by wall clock of "wall cpu" lines.
median() { sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
# "wall cpu" seconds of one run.
seconds() { /usr/bin/time -f "%e %U %S" "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.2f %.2f\n", $1, $2 + $3}'; }

echo "| image | qemu-img check (wall / CPU) | vdisk check (wall / CPU) | wall ratio |"
echo "|---|---|---|---|"
for spec in "${images[@]}"; do
  IFS='|' read -r name opts size <<<"$spec"
  img="$dir/check-$(echo "$name" | tr -cd 'a-zA-Z0-9').qcow2"
  [ -f "$img" ] || qemu-img create -q -f qcow2 -o "$opts" "$img" "$size"
  diff <(qemu-img check --output=json "$img" 2>&1) <("$here/vdisk" check --output=json "$img" 2>&1) >&2 \
    || { echo "check-qemu: vdisk and qemu-img disagree on $img" >&2; exit 1; }
  q=$(for _ in $(seq "$repeats"); do seconds qemu-img check "$img"; done | median)
  v=$(for _ in $(seq "$repeats"); do seconds "$here/vdisk" check "$img"; done | median)
  read -r qw qc <<<"$q"
  read -r vw vc <<<"$v"
  printf '| %s | %.2f s / %.2f s | %.2f s / %.2f s | %.2fx |\n' "$name" "$qw" "$qc" "$vw" "$vc" "$(echo "$qw / $vw" | bc -l)"
done
