#!/usr/bin/env bash
# Side-by-side benchmark: internal snapshot create and delete by `vdisk snapshot` and `qemu-img snapshot` on a fully
# allocated qcow2 image (issue 12's performance item), in one run.
#
# Usage: bench/compare-snapshots.sh [-d DIR] [-r REPEATS] [-s SIZE]
#   -d DIR      scratch directory (default: bench/scratch); the images are removed at the end
#   -r REPEATS  create+delete rounds per tool, alternating the tools; the median is reported (default 5)
#   -s SIZE     virtual size of the image, qemu-img's suffixes (default 4G; use e.g. 64M for a functional run)
# Each tool works on its own copy of one image made with `qemu-img create -o preallocation=full` (every cluster
# allocated and written). A round times `snapshot -c` then `snapshot -d` of the same snapshot; after each round
# `qemu-img check` must report no error and no leak. Prints a Markdown table: median wall-clock seconds of each tool
# (JVM start included for vdisk) and the speed ratio qemu-img time / vdisk time (above 1 = vdisk faster).
# Do not run it while other work loads the machine: the numbers would say nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
repeats=5
size=4G
while getopts "d:r:s:" opt; do
  case $opt in
    d) dir=$OPTARG ;;
    r) repeats=$OPTARG ;;
    s) size=$OPTARG ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
  esac
done
command -v qemu-img >/dev/null || { echo "compare-snapshots: qemu-img not found (expected: Debian package qemu-utils)" >&2; exit 1; }

mkdir -p "$dir"
base="$dir/snapshots-base.qcow2"
trap 'rm -f "$base" "$dir/snapshots-qemu.qcow2" "$dir/snapshots-vdisk.qcow2"' EXIT
echo "preparing $base ($size, fully allocated) ..." >&2
qemu-img create -q -f qcow2 -o preallocation=full "$base" "$size"
cp --reflink=auto "$base" "$dir/snapshots-qemu.qcow2"
cp --reflink=auto "$base" "$dir/snapshots-vdisk.qcow2"
"$here/vdisk" --version >/dev/null   # builds the jar once, outside any measurement

now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A times
for ((i = 1; i <= repeats; i++)); do
  for tool in qemu vdisk; do
    img="$dir/snapshots-$tool.qcow2"
    if [ $tool = qemu ]; then cmd=(qemu-img snapshot); else cmd=("$here/vdisk" snapshot -f qcow2); fi
    t0=$(now); "${cmd[@]}" -c bench "$img"; t1=$(now)
    "${cmd[@]}" -d bench "$img"; t2=$(now)
    times[$tool-create]+="$(echo "$t1 - $t0" | bc) "
    times[$tool-delete]+="$(echo "$t2 - $t1" | bc) "
    qemu-img check -q "$img" || { echo "compare-snapshots: qemu-img check of $img failed after round $i ($tool)" >&2; exit 1; }
  done
done

echo "| operation ($size, fully allocated) | qemu-img s | vdisk s | qemu-img / vdisk |"
echo "|---|---:|---:|---:|"
for op in create delete; do
  q=$(tr ' ' '\n' <<<"${times[qemu-$op]}" | grep . | median)
  v=$(tr ' ' '\n' <<<"${times[vdisk-$op]}" | grep . | median)
  printf '| snapshot %s | %.3f | %.3f | %.2fx |\n' "$op" "$q" "$v" "$(echo "$q / $v" | bc -l)"
done
