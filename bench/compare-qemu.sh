#!/usr/bin/env bash
# Side-by-side benchmark: `vdisk bench` and `qemu-img bench` on the same image, in the same run.
#
# Usage: bench/compare-qemu.sh [-f FORMAT] [-d DIR] [-r REPEATS] [-t SECONDS] [-m MODES]
#   -f FORMAT   raw or qcow2: a fully allocated 1 GiB image of that format (default raw; qcow2 runs the read
#               workloads only, as vdisk does not write qcow2 yet)
#   -d DIR      where the 1 GiB scratch image goes (default: bench/scratch; must not be tmpfs for cache=none)
#   -r REPEATS  runs per tool and cell; the median is reported (default 3)
#   -t SECONDS  target duration of one run; counts are calibrated on qemu-img (default 2)
#   -m MODES    cache modes, comma-separated (default none,writeback,writethrough)
# Prints a Markdown table: IOPS (or MB/s) of each tool and the ratio vdisk/qemu-img.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
repeats=3
target=2
modes="none,writeback,writethrough"
fmt=raw
while getopts "f:d:r:t:m:" opt; do
  case $opt in
    f) fmt=$OPTARG ;;
    d) dir=$OPTARG ;;
    r) repeats=$OPTARG ;;
    t) target=$OPTARG ;;
    m) modes=$OPTARG ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
  esac
done
case $fmt in raw | qcow2) ;; *) echo "compare-qemu: -f $fmt (expected: raw or qcow2)" >&2; exit 2 ;; esac
command -v qemu-img >/dev/null || { echo "compare-qemu: qemu-img not found (expected: Debian package qemu-utils)" >&2; exit 1; }

mkdir -p "$dir"
img="$dir/bench-1g.$fmt"
size=$((1 << 30))
if [ ! -f "$img" ] || [ "$(qemu-img info --output=json -f "$fmt" "$img" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')" != "$size" ]; then
  echo "preparing $img (1 GiB, fully allocated) ..." >&2
  rm -f "$img"
  qemu-img create -q -f "$fmt" -o preallocation=full "$img" "$size"
fi
"$here/vdisk" --version >/dev/null   # builds the jar once, outside any measurement

# A stride of 1 MiB + 4 KiB scatters 4 KiB requests over the whole image (qemu-img bench has no random mode).
scatter=$((1048576 + 4096))
# name | qemu-img bench options (without -c, -t); the same options go to vdisk bench
workloads=(
  "4k read qd1|-s 4096 -S $scatter -d 1"
  "4k read qd16|-s 4096 -S $scatter -d 16"
  "4k write qd1|-w -s 4096 -S $scatter -d 1"
  "4k write qd16|-w -s 4096 -S $scatter -d 16"
  "1M seq read qd4|-s 1048576 -S 1048576 -d 4"
  "1M seq write qd4|-w -s 1048576 -S 1048576 -d 4"
)
if [ "$fmt" = qcow2 ]; then
  mapfile -t workloads < <(printf '%s\n' "${workloads[@]}" | grep -v -- '|-w ')
fi

seconds_of() { sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p'; }

run_qemu() { # cache count opts...
  local cache=$1 count=$2; shift 2
  qemu-img bench -f "$fmt" -t "$cache" -c "$count" "$@" "$img" | seconds_of
}
run_vdisk() {
  local cache=$1 count=$2; shift 2
  "$here/vdisk" bench -f "$fmt" -t "$cache" -c "$count" "$@" "$img" | seconds_of
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '| workload | cache | qemu-img | vdisk | vdisk/qemu-img |\n|---|---|---|---|---|\n'
IFS=',' read -ra mode_list <<<"$modes"
for cache in "${mode_list[@]}"; do
  for w in "${workloads[@]}"; do
    name=${w%%|*}
    read -ra opts <<<"${w#*|}"
    size_opt=$(printf '%s\n' "${opts[@]}" | awk 'prev=="-s" {print} {prev=$0}')
    # Calibrate the request count on qemu-img so one run takes about $target seconds.
    probe=2000
    t=$(run_qemu "$cache" "$probe" "${opts[@]}")
    count=$(awk -v p="$probe" -v t="$t" -v target="$target" 'BEGIN {c = (t > 0) ? int(p * target / t) : p * 50; if (c < 1000) c = 1000; if (c > 2000000) c = 2000000; print c}')
    q=(); v=()
    for ((i = 0; i < repeats; i++)); do   # alternate the tools so drift hits both
      q+=("$(run_qemu "$cache" "$count" "${opts[@]}")")
      v+=("$(run_vdisk "$cache" "$count" "${opts[@]}")")
    done
    qs=$(printf '%s\n' "${q[@]}" | median)
    vs=$(printf '%s\n' "${v[@]}" | median)
    awk -v n="$name" -v c="$cache" -v count="$count" -v qs="$qs" -v vs="$vs" -v bs="$size_opt" 'BEGIN {
      if (bs >= 1048576) { unit = " MB/s"; qv = count * bs / qs / 1e6; vv = count * bs / vs / 1e6 }
      else { unit = " IOPS"; qv = count / qs; vv = count / vs }
      printf "| %s | %s | %.0f%s | %.0f%s | %.2fx |\n", n, c, qv, unit, vv, unit, qs / vs
    }'
  done
done
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r), $(qemu-img --version | head -1), $fmt image on $(stat -f -c %T "$dir"); median of $repeats runs per cell, counts calibrated to ~${target}s of qemu-img."
