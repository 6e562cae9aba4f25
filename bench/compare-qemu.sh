#!/usr/bin/env bash
# Side-by-side benchmark: `vdisk bench` and `qemu-img bench` on the same image, in the same run.
#
# Usage: bench/compare-qemu.sh [-f FORMAT] [-d DIR] [-r REPEATS] [-t SECONDS] [-m MODES] [-i] [-s SIZE]
#   -f FORMAT   raw or qcow2: a fully allocated 1 GiB image of that format (default raw); writes overwrite
#   -d DIR      where the 1 GiB scratch image goes (default: bench/scratch; must not be tmpfs for cache=none)
#   -r REPEATS  runs per tool and cell; the median is reported (default 3)
#   -t SECONDS  target duration of one run; counts are calibrated on qemu-img (with -i on its faster of threads and io_uring; default 2)
#   -m MODES    cache modes, comma-separated (default none,writeback,writethrough)
#   -i          every aio mode: qemu-img bench with -i threads, native (direct cache modes only: QEMU refuses it
#               elsewhere) and io_uring, vdisk against the best of them, and fio (io_uring engine, O_DIRECT, the
#               same file for raw and a raw file of the same size beside it for qcow2, the same offsets, sizes and
#               depth; fdatasync after each write under writethrough/directsync) as the device limit. vdisk runs with its default aio (threads),
#               or with VDISK_AIO=MODE in the environment with -i MODE under the direct cache modes (native: one thread
#               keeps the depth in flight on Linux AIO).
#   -s SIZE     image size in MiB (default 1024; small sizes only for a functional check of the script)
# Prints a Markdown table: IOPS (or MB/s) of each tool and the ratio vdisk/qemu-img (with -i: vdisk/best, vdisk/fio).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
repeats=3
target=2
modes="none,writeback,writethrough"
fmt=raw
all_aio=0
mib=1024
while getopts "f:d:r:t:m:is:" opt; do
  case $opt in
    f) fmt=$OPTARG ;;
    d) dir=$OPTARG ;;
    r) repeats=$OPTARG ;;
    t) target=$OPTARG ;;
    m) modes=$OPTARG ;;
    i) all_aio=1 ;;
    s) mib=$OPTARG ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
  esac
done
case $fmt in raw | qcow2) ;; *) echo "compare-qemu: -f $fmt (expected: raw or qcow2)" >&2; exit 2 ;; esac
command -v qemu-img >/dev/null || { echo "compare-qemu: qemu-img not found (expected: Debian package qemu-utils)" >&2; exit 1; }
if [ "$all_aio" = 1 ]; then
  command -v fio >/dev/null || { echo "compare-qemu: -i: fio not found (expected: Debian package fio)" >&2; exit 1; }
fi

mkdir -p "$dir"
img="$dir/bench-${mib}m.$fmt"
size=$((mib << 20))
if [ ! -f "$img" ] || [ "$(qemu-img info --output=json -f "$fmt" "$img" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')" != "$size" ]; then
  echo "preparing $img ($mib MiB, fully allocated) ..." >&2
  rm -f "$img"
  qemu-img create -q -f "$fmt" -o preallocation=full "$img" "$size"
fi
"$here/vdisk" --version >/dev/null   # builds the jar once, outside any measurement
fio_file=$img
if [ "$all_aio" = 1 ] && [ "$fmt" != raw ]; then
  fio_file="$dir/fio-${mib}m.raw"
  [ -f "$fio_file" ] && [ "$(stat -c %s "$fio_file")" = "$size" ] || qemu-img create -q -f raw -o preallocation=full "$fio_file" "$size"
fi

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

seconds_of() { sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p'; }

run_qemu() { # cache count opts...
  local cache=$1 count=$2; shift 2
  qemu-img bench -f "$fmt" -t "$cache" -c "$count" "$@" "$img" | seconds_of
}
run_qemu_aio() { # aio cache count opts...
  local aio=$1; shift
  run_qemu "$@" -i "$aio"
}
# fio: the same sizes, stride (rw=read:SKIP skips SKIP bytes after each request), depth and count (io_size: count
# requests' bytes, wrapping within the file as qemu-img bench does), O_DIRECT through io_uring, on the image itself
# for raw and on a fully allocated raw file of the same size beside it for qcow2 (fio's writes would overwrite the
# qcow2 metadata). Prints seconds. fio drops the file's page cache before each run (its invalidate=1), so under
# writeback a raw image's cache is cut into folios by the next tool's requests (1 MiB writes: 1 MiB folios), while a
# qcow2 image keeps the 4 KiB folios its first 4 KiB cells left (qemu-img's stride reads, which readahead takes as
# random), and buffered 1 MiB writes into those cost the kernel twice the CPU (issue 18; bench/folios.py shows a
# file's folios). Every tool in a cell meets the same cache; raw and qcow2 cells do not.
run_fio() { # cache count opts...
  local cache=$1 count=$2; shift 2
  local bs=4096 step="" depth=1 rw=read sync=0
  while [ $# -gt 0 ]; do
    case $1 in
      -s) bs=$2; shift ;;
      -S) step=$2; shift ;;
      -d) depth=$2; shift ;;
      -w) rw=write ;;
    esac
    shift
  done
  step=${step:-$bs}
  case $cache in writethrough | directsync) [ "$rw" = write ] && sync=1 ;; esac
  local skip=$((step - bs)) spec=$rw
  [ "$skip" -gt 0 ] && spec="$rw:$skip"
  fio --name=limit --filename="$fio_file" --ioengine=io_uring --direct=1 --rw="$spec" --bs="$bs" --iodepth="$depth" \
    --size="$size" --io_size=$((count * bs)) --fdatasync="$sync" --output-format=terse --terse-version=3 \
    | awk -F';' -v c="$count" -v rw="$rw" '{ i = (rw == "read") ? $8 : $49; if (i > 0) printf "%.6f\n", c / i }'
}
run_vdisk() {
  local cache=$1 count=$2; shift 2
  local aio=()
  case $cache in none | directsync) [ -n "${VDISK_AIO:-}" ] && aio=(-i "$VDISK_AIO") ;; esac
  "$here/vdisk" bench -f "$fmt" -t "$cache" -c "$count" "${aio[@]}" "$@" "$img" | seconds_of
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

if [ "$all_aio" = 1 ]; then
  printf '| workload | cache | qemu-img threads | qemu-img native | qemu-img io_uring | vdisk | vdisk/best | fio | vdisk/fio |\n'
  printf '|---|---|---|---|---|---|---|---|---|\n'
else
  printf '| workload | cache | qemu-img | vdisk | vdisk/qemu-img |\n|---|---|---|---|---|\n'
fi
IFS=',' read -ra mode_list <<<"$modes"
for cache in "${mode_list[@]}"; do
  for w in "${workloads[@]}"; do
    name=${w%%|*}
    read -ra opts <<<"${w#*|}"
    size_opt=$(printf '%s\n' "${opts[@]}" | awk 'prev=="-s" {print} {prev=$0}')
    # Calibrate the request count on qemu-img so one run takes about $target seconds.
    probe=2000
    t=$(run_qemu "$cache" "$probe" "${opts[@]}")
    if [ "$all_aio" = 1 ]; then
      # Against QEMU's best mode: calibrate on io_uring too and take the faster, so that the best run, not only the
      # threads run, lasts about $target seconds (page-cache reads at depth 1: threads ~8,000 IOPS, io_uring
      # ~220,000, whose runs were otherwise 40 ms long and measured little but vdisk's JIT warm-up).
      t=$(awk -v a="$t" -v b="$(run_qemu_aio io_uring "$cache" "$probe" "${opts[@]}")" \
        'BEGIN {print (b > 0 && b < a) ? b : a}')
    fi
    count=$(awk -v p="$probe" -v t="$t" -v target="$target" 'BEGIN {c = (t > 0) ? int(p * target / t) : p * 50; if (c < 1000) c = 1000; if (c > 2000000) c = 2000000; print c}')
    if [ "$all_aio" = 1 ]; then
      aios=(threads io_uring)
      case $cache in none | off | directsync) aios=(threads native io_uring) ;; esac
      declare -A runs=()
      for ((i = 0; i < repeats; i++)); do   # alternate the tools so drift hits all
        for a in "${aios[@]}"; do runs[$a]+="$(run_qemu_aio "$a" "$cache" "$count" "${opts[@]}") "; done
        runs[vdisk]+="$(run_vdisk "$cache" "$count" "${opts[@]}") "
        runs[fio]+="$(run_fio "$cache" "$count" "${opts[@]}") "
      done
      declare -A med=()
      for k in "${!runs[@]}"; do med[$k]=$(printf '%s\n' ${runs[$k]} | median); done
      awk -v n="$name" -v c="$cache" -v count="$count" -v bs="$size_opt" -v th="${med[threads]}" \
          -v na="${med[native]:-}" -v ur="${med[io_uring]}" -v vd="${med[vdisk]}" -v fi="${med[fio]:-}" 'BEGIN {
        big = bs >= 1048576; unit = big ? " MB/s" : " IOPS"
        split("th na ur", ks, " "); t["th"] = th; t["na"] = na; t["ur"] = ur
        best = 0
        for (j = 1; j <= 3; j++) {
          s = t[ks[j]]
          if (s == "") { r[ks[j]] = "n/a"; continue }
          rate = big ? count * bs / s / 1e6 : count / s
          r[ks[j]] = sprintf("%.0f%s", rate, unit)
          if (best == 0 || s < best) best = s
        }
        v = big ? count * bs / vd / 1e6 : count / vd
        f = (fi == "") ? "n/a" : sprintf("%.0f%s", big ? count * bs / fi / 1e6 : count / fi, unit)
        vf = (fi == "") ? "n/a" : sprintf("%.2fx", fi / vd)
        printf "| %s | %s | %s | %s | %s | %.0f%s | %.2fx | %s | %s |\n", n, c, r["th"], r["na"], r["ur"], v, unit, best / vd, f, vf
      }'
      unset runs med
      continue
    fi
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
echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r), $(qemu-img --version | head -1), $fmt image on $(stat -f -c %T "$dir"); median of $repeats runs per cell, counts calibrated to ~${target}s of qemu-img$([ "$all_aio" = 1 ] && echo " (the faster of aio=threads and io_uring)")$([ "$all_aio" = 1 ] && echo "; $(fio --version) io_uring O_DIRECT as the device limit")."
